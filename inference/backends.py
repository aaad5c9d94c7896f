"""The detector back ends by name: the config reads which names are valid, the factory how to open one.

A back end is one module with a class that has the `Detector` protocol, and one entry in `BACKENDS`.
Entries import their module only when used, so reading the config loads no inference library.
"""
from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:  # numpy: not for reading a config
    from vigia.inference.types import Detector

AUTO = "auto"  # the first back end in BACKENDS that is available here


@dataclass(frozen=True)
class DetectorOptions:
    score_threshold: float = 0.3
    classes: set[int] | None = None  # class ids kept; None: all
    threads: int = 1  # intra-op threads, for back ends that have them (ONNX Runtime)
    batching: bool | None = None  # ONNX Runtime: a dynamic batch (None: only on a GPU execution provider)
    max_batch: int = 4  # the most images one run takes when batching


@dataclass(frozen=True)
class Backend:
    name: str
    available: Callable[[], bool]  # its libraries and hardware are present on this machine
    open: Callable[[Path, DetectorOptions], Detector]  # BackendUnavailable, saying what is missing, if it cannot run


def _tensorrt_available() -> bool:
    from vigia.inference.tensorrt_backend import tensorrt_available  # JetPack's libraries are imported inside

    return tensorrt_available()


def _open_tensorrt(model_path: Path, options: DetectorOptions) -> Detector:
    from vigia.inference.tensorrt_backend import TensorRTDetector

    return TensorRTDetector(model_path, score_threshold=options.score_threshold, classes=options.classes,
                            max_batch=options.max_batch)


def _open_onnxruntime(model_path: Path, options: DetectorOptions) -> Detector:
    from vigia.inference.onnx_backend import OnnxDetector

    return OnnxDetector(model_path, score_threshold=options.score_threshold, classes=options.classes,
                        threads=options.threads, batching=options.batching, max_batch=options.max_batch)


# In the order "auto" tries them: the fastest first, ONNX Runtime (a dependency, always there) last.
BACKENDS = (
    Backend("tensorrt", _tensorrt_available, _open_tensorrt),
    Backend("onnxruntime", lambda: True, _open_onnxruntime),
)


def backend_names() -> tuple[str, ...]:
    """What a config's `detector.backend` may say."""
    return (AUTO, *(backend.name for backend in BACKENDS))


def choose_backend(name: str) -> Backend:
    """The back end `name` names, or for "auto" the first available; ValueError for an unknown name."""
    if name == AUTO:
        return next(backend for backend in BACKENDS if backend.available())
    for backend in BACKENDS:
        if backend.name == name:
            return backend
    raise ValueError(f"unknown detector back end {name!r} ({', '.join(backend_names())})")
