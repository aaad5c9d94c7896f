"""Creating a detector with the back end a config names (vigia.inference.backends)."""
from __future__ import annotations

from pathlib import Path

from vigia.inference.backends import DetectorOptions, choose_backend
from vigia.inference.types import Detector


def create_detector(
    backend: str,
    model_path: str | Path,
    *,
    score_threshold: float = 0.3,
    classes: set[int] | None = None,
    threads: int = 1,
    batching: bool | None = None,
    max_batch: int = 4,
) -> Detector:
    """A detector for `model_path`. `auto` takes TensorRT where it imports and a GPU is
    present, else ONNX Runtime; `threads` is ONNX Runtime's intra-op thread count; `batching` (None: on a GPU
    only) and `max_batch`, how many images one run may take.
    An explicit "tensorrt" raises BackendUnavailable (saying what is missing) if it cannot run;
    an unknown name, ValueError."""
    options = DetectorOptions(score_threshold=score_threshold, classes=classes, threads=threads, batching=batching,
                              max_batch=max_batch)
    return choose_backend(backend).open(Path(model_path), options)
