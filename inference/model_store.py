"""A directory of imported models, stored by content: `<sha256>.onnx` plus a `<sha256>.json` sidecar."""
from __future__ import annotations

import hashlib
import json
import logging
import os
import tempfile
from dataclasses import asdict, dataclass, field
from datetime import datetime, timezone
from pathlib import Path

from vigia.inference.errors import ModelError
from vigia.inference.onnx_model import Dim, parse_model

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class Lineage:
    """Where a derived model (an INT8 quantization) comes from, and how it compared with its base."""

    base_name: str
    base_sha256: str
    method: str  # how it was made, e.g. "onnxruntime static int8 QDQ, ..., calibration minmax"
    calibration_sources: list[str]  # footage the frames came from (URLs without credentials)
    calibration_frames: int
    checked_frames: int  # held-out frames of the same footage it was compared on
    metrics: dict[str, float]  # agreement with the base model on those frames (recall, precision, score delta...)


@dataclass(frozen=True, slots=True)
class ModelInfo:
    name: str  # file name it was imported from, without suffix
    sha256: str
    size: int  # bytes
    input_shape: list[Dim]
    output_shape: list[Dim]
    num_classes: int
    class_names_source: str
    imported_at: str  # ISO 8601, UTC
    path: Path = field(compare=False)  # the stored file (not written to the sidecar)
    lineage: Lineage | None = None  # derived models only

    def to_json(self) -> str:
        data = asdict(self)
        del data["path"]
        return json.dumps(data, indent=2)


def _write_atomically(path: Path, data: bytes) -> None:
    """Write via a temporary file in the same directory, so readers never see half a file."""
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".tmp-")
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        os.unlink(tmp)
        raise


def _read_info(sidecar: Path) -> ModelInfo:
    data = json.loads(sidecar.read_text())
    lineage = data.pop("lineage", None)
    return ModelInfo(**data, path=sidecar.with_suffix(".onnx"), lineage=Lineage(**lineage) if lineage else None)


def import_model(store_dir: str | Path, path: str | Path, *, name: str | None = None,
                 lineage: Lineage | None = None) -> ModelInfo:
    """Check `path` is a usable model and copy it into the store, named `name` (default: the file's name
    without suffix); importing the same content again returns the existing entry. Raises ModelError,
    storing nothing, if not."""
    source = Path(path)
    try:
        data = source.read_bytes()
    except OSError as exc:
        raise ModelError(f"cannot read model {source}: {exc}") from exc
    _, spec = parse_model(data, source)
    store = Path(store_dir)
    store.mkdir(parents=True, exist_ok=True)
    sha256 = hashlib.sha256(data).hexdigest()
    model_path, sidecar = store / f"{sha256}.onnx", store / f"{sha256}.json"
    if sidecar.is_file() and model_path.is_file():
        return _read_info(sidecar)
    info = ModelInfo(
        name=name or source.stem,
        sha256=sha256,
        size=len(data),
        input_shape=list(spec.input_shape),
        output_shape=list(spec.output_shape),
        num_classes=spec.num_classes,
        class_names_source=spec.class_names_source,
        imported_at=datetime.now(timezone.utc).isoformat(timespec="seconds"),
        path=model_path,
        lineage=lineage,
    )
    _write_atomically(model_path, data)
    _write_atomically(sidecar, info.to_json().encode())
    return info


def list_models(store_dir: str | Path) -> list[ModelInfo]:
    """Models in the store, oldest import first; unreadable sidecars are skipped with a warning."""
    store = Path(store_dir)
    if not store.is_dir():
        return []
    models = []
    for sidecar in sorted(store.glob("*.json")):
        try:
            info = _read_info(sidecar)
        except (OSError, ValueError, TypeError, AttributeError) as exc:
            log.warning("skipping unreadable model entry %s: %s", sidecar, exc)
            continue
        if info.path.is_file():
            models.append(info)
    return sorted(models, key=lambda m: (m.imported_at, m.name))


def resolve(store_dir: str | Path, ref: str | Path) -> Path:
    """The model file for `ref`: an existing file path, a stored model's name (the newest
    import of that name), or a unique prefix (4+ hex digits) of a stored model's sha256."""
    if Path(ref).is_file():
        return Path(ref)
    ref = str(ref)
    models = list_models(store_dir)
    named = [m for m in models if m.name == ref]
    if named:
        return named[-1].path
    if len(ref) >= 4 and all(c in "0123456789abcdef" for c in ref.lower()):
        matches = [m for m in models if m.sha256.startswith(ref.lower())]
        if len(matches) == 1:
            return matches[0].path
        if len(matches) > 1:
            raise ModelError(f"sha256 prefix {ref!r} matches {len(matches)} models; give more digits")
    known = ", ".join(f"{m.name} ({m.sha256[:12]})" for m in models) or "none"
    raise ModelError(
        f"no model {ref!r}: not a file, a stored name or a sha256 prefix (stored in {store_dir}: {known}); "
        "add one with `vigia models import PATH`"
    )
