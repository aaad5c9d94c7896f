"""Central's container images (deploy/docker): read structurally, since building them needs a Docker daemon
and registries. Multi-stage, base images pinned (a version tag or a digest, never `latest`), the runtime stage
running as a non-root user with `vigia` as its entrypoint, every package folder of the distribution copied
into the build, and each stage a COPY --from names defined (or a build context passed with --build-context).
"""
from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
DOCKER = ROOT / "deploy" / "docker"
FILES = sorted(p.name for p in DOCKER.glob("*Dockerfile"))
BUILD_CONTEXTS = {"models"}   # `--build-context models=../shared/models`: the ONNX files for the model store
PINNED = re.compile(r"^[\w.-]+(/[\w.-]+)*(:(?!latest$)[\w][\w.-]*)?(@sha256:[0-9a-f]{64})?$")


@dataclass
class Stage:
    image: str
    name: str | None
    instructions: list[tuple[str, str]] = field(default_factory=list)


def stages(path: Path) -> list[Stage]:
    """The file's stages, with ARG defaults given before the first FROM substituted into the images."""
    text = re.sub(r"\\\n", " ", path.read_text())
    args: dict[str, str] = {}
    found: list[Stage] = []
    for line in text.splitlines():
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        word, _, rest = line.partition(" ")
        word = word.upper()
        if word == "FROM":
            parts = rest.split()
            image = re.sub(r"\$\{(\w+)\}|\$(\w+)", lambda m: args[m.group(1) or m.group(2)], parts[0])
            found.append(Stage(image, parts[2] if len(parts) == 3 and parts[1].upper() == "AS" else None))
        elif word == "ARG" and not found and "=" in rest:
            key, value = rest.split("=", 1)
            args[key.strip()] = value.strip()
        elif found:
            found[-1].instructions.append((word, rest.strip()))
    return found


def test_there_are_images():
    assert "Dockerfile" in FILES and "worker-gpu.Dockerfile" in FILES


@pytest.mark.parametrize("name", FILES)
def test_multi_stage_and_pinned(name):
    found = stages(DOCKER / name)
    assert len(found) >= 2, f"{name}: one stage"
    defined = {s.name for s in found if s.name}
    for stage in found:
        assert stage.image in defined or PINNED.match(stage.image) and ":" in stage.image, \
            f"{name}: {stage.image} is not pinned to a version"
        for word, rest in stage.instructions:
            source = re.match(r"--from=(\S+)", rest) if word == "COPY" else None
            if source:
                assert source.group(1) in defined | BUILD_CONTEXTS, f"{name}: COPY from unknown {source.group(1)}"
            assert not (word == "ADD" and re.search(r"https?://", rest)), f"{name}: ADD from the network"


@pytest.mark.parametrize("name", FILES)
def test_runtime_is_unprivileged_vigia(name):
    runtime = stages(DOCKER / name)[-1]
    users = [rest for word, rest in runtime.instructions if word == "USER"]
    assert users, f"{name}: the runtime stage runs as root"
    user = users[-1].split(":")[0]
    assert user not in ("root", "0") and (not user.isdigit() or int(user) >= 1000), f"{name}: USER {users[-1]}"
    entrypoints = [rest for word, rest in runtime.instructions if word == "ENTRYPOINT"]
    assert entrypoints and entrypoints[-1] == '["vigia"]'
    # the Kubernetes pods set runAsUser to this uid: keep them in step
    assert user == "10001"


@pytest.mark.parametrize("name", FILES)
def test_every_package_folder_is_copied(name):
    package_dir = re.search(r"^package-dir = \{(.*)\}$", (ROOT / "pyproject.toml").read_text(), re.MULTILINE)
    folders = set(re.findall(r'"vigia\.\w+" = "(\w+)"', package_dir.group(1)))
    assert folders
    copied = {source.rstrip("/") for stage in stages(DOCKER / name) for word, rest in stage.instructions
              if word == "COPY" and not rest.startswith("--") for source in rest.split()[:-1]}
    assert folders <= copied, f"{name}: not copied: {sorted(folders - copied)}"
    assert {"pyproject.toml", "README.md"} <= copied


def test_build_context_leaves_out_local_state():
    ignored = set((ROOT / ".dockerignore").read_text().split())
    assert {".git", ".venv", "node_modules", "var"} <= ignored
