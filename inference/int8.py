"""An INT8 model for a site: calibrated on its cameras' footage, checked against the FP32 model on held-out
frames of the same footage, and installed into the model store (with its lineage) only when it agrees."""
from __future__ import annotations

import hashlib
import math
import os
import tempfile
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from pathlib import Path

import onnxruntime

from vigia.inference.agreement import Agreement, compare
from vigia.inference.errors import ModelError
from vigia.inference.footage import Sample, sample
from vigia.inference.model_store import Lineage, ModelInfo, import_model, list_models
from vigia.inference.onnx_backend import OnnxDetector
from vigia.inference.onnx_model import load_model
from vigia.inference.quantize import QuantizeOptions, quantize
from vigia.inference.types import DetectorInput


class QuantizationRefused(ModelError):
    """The INT8 model disagreed with the FP32 one beyond the thresholds; nothing was installed."""


@dataclass(frozen=True, slots=True)
class Thresholds:
    """What the INT8 model must reach against the FP32 model's boxes on the held-out frames."""

    min_recall: float = 0.90  # FP32 boxes it finds (same class, IoU >= 0.5)
    min_precision: float = 0.90  # its boxes that FP32 has too
    max_score_delta: float = 0.05  # mean |INT8 - FP32| score of matched boxes

    def failures(self, agreement: Agreement) -> list[str]:
        checks = [
            ("recall", agreement.recall, ">=", self.min_recall, agreement.recall >= self.min_recall),
            ("precision", agreement.precision, ">=", self.min_precision, agreement.precision >= self.min_precision),
            ("mean score delta", agreement.mean_score_delta, "<=", self.max_score_delta,
             agreement.mean_score_delta <= self.max_score_delta),
        ]
        return [f"{name} {value:.3f} (needs {op} {limit:g})" for name, value, op, limit, ok in checks if not ok]


@dataclass(frozen=True, slots=True)
class Footage:
    """Where calibration and check frames come from."""

    sources: Sequence[str]  # files, rtsp:// URLs, /dev/videoN
    calibration_frames: int = 64
    checked_frames: int = 32
    spacing: float = 2.0  # seconds between frames taken from a live source


@dataclass(frozen=True, slots=True)
class Detection:
    """How the appliance's detector is set: the comparison uses the same settings."""

    score_threshold: float = 0.3
    classes: frozenset[int] | None = None


def sample_footage(footage: Footage, size: tuple[int, int]) -> tuple[list[Sample], list[Sample]]:
    """(calibration, checked) frames: the total shared between the sources, spread over each, every other
    frame (by share) held out for the check so that both sets cover the same stretches of footage."""
    if not footage.sources:
        raise ValueError("no footage to calibrate on")
    total = footage.calibration_frames + footage.checked_frames
    per_source = math.ceil(total / len(footage.sources))
    samples = [s for source in footage.sources for s in sample(source, per_source, size, footage.spacing)]
    step = len(samples) / footage.checked_frames
    checked_at = {min(len(samples) - 1, int((i + 0.5) * step)) for i in range(footage.checked_frames)}
    checked = [s for i, s in enumerate(samples) if i in checked_at]
    calibration = [s for i, s in enumerate(samples) if i not in checked_at][: footage.calibration_frames]
    return calibration, checked


def _sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _base_name(store: Path, base: Path, sha256: str) -> str:
    stored = [m for m in list_models(store) if m.sha256 == sha256]
    return stored[-1].name if stored else base.stem


def _compare(base: Path, candidate: Path, inputs: Sequence[DetectorInput], detection: Detection) -> Agreement:
    detectors = [OnnxDetector(path, score_threshold=detection.score_threshold, classes=detection.classes)
                 for path in (base, candidate)]
    try:
        return compare(*detectors, inputs)
    finally:
        for detector in detectors:
            detector.close()


def install_int8(
    store: str | Path,
    base: str | Path,
    footage: Footage,
    *,
    name: str | None = None,
    options: QuantizeOptions = QuantizeOptions(),
    thresholds: Thresholds = Thresholds(),
    detection: Detection = Detection(),
) -> tuple[ModelInfo, Agreement]:
    """Quantize the model file `base` on `footage`, compare it with `base` on held-out frames, and import it into
    `store` as `name` (default: the base's name + "-int8"). QuantizationRefused, with the numbers, when it falls
    short of `thresholds`; FootageError when the footage cannot be read."""
    store, base = Path(store), Path(base)
    _, spec = load_model(base)
    calibration, checked = sample_footage(footage, spec.input_size)
    base_sha = _sha256(base)
    base_name = _base_name(store, base, base_sha)
    store.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=store, prefix=".int8-", suffix=".onnx")
    os.close(fd)
    try:
        quantize(base, [s.input for s in calibration], tmp, options)
        agreement = _compare(base, Path(tmp), [s.input for s in checked], detection)
        failures = thresholds.failures(agreement)
        if failures:
            raise QuantizationRefused(
                f"INT8 model of {base_name} not installed: on {agreement.images} held-out frames it found "
                f"{agreement.matched} of the FP32 model's {agreement.reference_boxes} boxes; "
                + "; ".join(failures)
            )
        lineage = Lineage(
            base_name=base_name,
            base_sha256=base_sha,
            method=f"{options.describe()}; onnxruntime {onnxruntime.__version__}",
            calibration_sources=sorted({s.source for s in calibration}),
            calibration_frames=len(calibration),
            checked_frames=len(checked),
            metrics={k: round(v, 4) for k, v in asdict(agreement).items()},
        )
        info = import_model(store, tmp, name=name or f"{base_name}-int8", lineage=lineage)
    finally:
        os.unlink(tmp)
    return info, agreement
