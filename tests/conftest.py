"""Shared fixtures. Material from ../shared is read in place (VIGIA_SHARED overrides the path)."""
from __future__ import annotations

import os
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]


def shared_dir() -> Path:
    return Path(os.environ.get("VIGIA_SHARED", REPO.parent / "shared")).resolve()


@pytest.fixture(scope="session")
def demo_clip() -> Path:
    path = Path(os.environ.get("VIGIA_DEMO_CLIP", shared_dir() / "media" / "crowd-720p.avi"))
    assert path.is_file(), f"demo clip missing: {path} (set VIGIA_SHARED or VIGIA_DEMO_CLIP)"
    return path


@pytest.fixture(scope="session")
def default_model() -> Path:
    path = Path(os.environ.get("VIGIA_DEFAULT_MODEL", shared_dir() / "models" / "yolox_nano.onnx"))
    assert path.is_file(), f"default model missing: {path} (set VIGIA_SHARED or VIGIA_DEFAULT_MODEL)"
    return path


@pytest.fixture()
def artifacts_dir() -> Path:
    """Where tests leave files worth looking at after a run (screenshots, snapshots)."""
    path = REPO / "test-artifacts"
    path.mkdir(exist_ok=True)
    return path
