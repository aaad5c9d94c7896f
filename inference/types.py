"""Data that crosses the boundary between the pipeline and the detectors."""
from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol

import numpy as np


@dataclass(slots=True)
class DetectorInput:
    """One image ready for a detector: BGR uint8, exactly the model's input size, letterboxed.

    `scale` is model pixels per source pixel and `offset` the source-pixel position of the
    image's top-left corner (non-zero when the image is a crop), so a model-space box maps
    back to the source frame as `box / scale + offset`.
    """

    image: np.ndarray
    scale: float
    offset: tuple[float, float] = (0.0, 0.0)


@dataclass(slots=True)
class Detections:
    """Detections of one image, as arrays (struct of arrays keeps the hot path in numpy).

    boxes: (N, 4) float32 x1, y1, x2, y2 in source-frame pixels; scores: (N,) float32;
    class_ids: (N,) int32 (COCO ids for the default model).
    """

    boxes: np.ndarray
    scores: np.ndarray
    class_ids: np.ndarray

    @classmethod
    def empty(cls) -> Detections:
        return cls(np.zeros((0, 4), np.float32), np.zeros(0, np.float32), np.zeros(0, np.int32))

    def __len__(self) -> int:
        return len(self.scores)

    def select(self, keep: np.ndarray) -> Detections:
        """A subset by boolean mask or index array."""
        return Detections(self.boxes[keep], self.scores[keep], self.class_ids[keep])


class Detector(Protocol):
    """What every back end offers. `detect` is batched: several images in, one result each."""

    name: str                      # back end, e.g. "onnxruntime" or "tensorrt"
    input_size: tuple[int, int]    # (width, height) the images must have
    class_names: list[str]

    def detect(self, inputs: Sequence[DetectorInput]) -> list[Detections]: ...

    def close(self) -> None: ...
