"""Choosing and creating a detector back end."""
from __future__ import annotations

from pathlib import Path
from typing import Literal

from vigia.inference.onnx_backend import OnnxDetector
from vigia.inference.tensorrt_backend import TensorRTDetector, tensorrt_available
from vigia.inference.types import Detector

Backend = Literal["auto", "onnxruntime", "tensorrt"]


def create_detector(
    backend: Backend,
    model_path: str | Path,
    *,
    score_threshold: float = 0.3,
    classes: set[int] | None = None,
    threads: int = 1,
) -> Detector:
    """A detector for `model_path`. `auto` takes TensorRT where it imports and a GPU is
    present, else ONNX Runtime; `threads` is ONNX Runtime's intra-op thread count.
    An explicit "tensorrt" raises BackendUnavailable (saying what is missing) if it cannot run."""
    if backend not in ("auto", "onnxruntime", "tensorrt"):
        raise ValueError(f"unknown detector back end {backend!r} (auto, onnxruntime, tensorrt)")
    if backend == "tensorrt" or (backend == "auto" and tensorrt_available()):
        return TensorRTDetector(model_path, score_threshold=score_threshold, classes=classes)
    return OnnxDetector(model_path, score_threshold=score_threshold, classes=classes, threads=threads)
