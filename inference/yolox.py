"""Decoding of the YOLOX head output: grid offsets, scores, per-class NMS, mapping to the source frame."""
from __future__ import annotations

from dataclasses import dataclass, field

import cv2
import numpy as np

from vigia.inference.types import Detections, DetectorInput

STRIDES = (8, 16, 32)


def cell_count(input_size: tuple[int, int], strides: tuple[int, ...] = STRIDES) -> int:
    """Number of output cells for an input of (width, height): one per grid point of every stride."""
    width, height = input_size
    return sum((width // s) * (height // s) for s in strides)


@dataclass
class YoloxDecoder:
    """Turns raw (cells, 5 + classes) head output into boxes; the grid is built once per input size.

    With `classes` set, the best class of a cell is chosen among those classes only.
    """

    input_size: tuple[int, int]  # (width, height) of the model input
    num_classes: int = 80
    score_threshold: float = 0.3
    iou_threshold: float = 0.45
    classes: frozenset[int] | None = None
    _grid: np.ndarray = field(init=False, repr=False)  # (cells, 2) cell column, row
    _stride: np.ndarray = field(init=False, repr=False)  # (cells, 1) stride of each cell
    _class_index: np.ndarray | None = field(init=False, repr=False)

    def __post_init__(self) -> None:
        width, height = self.input_size
        grids, strides = [], []
        for s in STRIDES:
            rows, cols = np.meshgrid(np.arange(height // s), np.arange(width // s), indexing="ij")
            grids.append(np.stack([cols.ravel(), rows.ravel()], axis=1))
            strides.append(np.full(cols.size, s))
        self._grid = np.concatenate(grids).astype(np.float32)
        self._stride = np.concatenate(strides).astype(np.float32)[:, None]
        self._class_index = None
        if self.classes is not None:
            if not self.classes or not all(0 <= c < self.num_classes for c in self.classes):
                raise ValueError(f"classes must be a non-empty set of ids in 0..{self.num_classes - 1}")
            self._class_index = np.array(sorted(self.classes), dtype=np.int64)

    def decode(self, raw: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Model-space boxes (N, 4) x1 y1 x2 y2, scores (N,) and class ids (N,) after NMS, best first."""
        raw = raw.reshape(-1, raw.shape[-1])
        if raw.shape != (len(self._grid), 5 + self.num_classes):
            raise ValueError(
                f"raw output has shape {raw.shape}, expected ({len(self._grid)}, {5 + self.num_classes})"
            )
        # Class scores are probabilities (<= 1), so a cell below the threshold on objectness
        # alone can never pass: filtering on it first keeps the rest of the work tiny.
        cells = np.flatnonzero(raw[:, 4] >= self.score_threshold)
        rows = raw[cells]
        if len(cells) == 0:
            return np.zeros((0, 4), np.float32), np.zeros(0, np.float32), np.zeros(0, np.int32)
        class_scores = rows[:, 5:] if self._class_index is None else rows[:, 5 + self._class_index]
        best = class_scores.argmax(axis=1)
        scores = rows[:, 4] * class_scores[np.arange(len(cells)), best]
        passing = scores >= self.score_threshold
        cells, rows, best, scores = cells[passing], rows[passing], best[passing], scores[passing]
        class_ids = best if self._class_index is None else self._class_index[best]

        stride = self._stride[cells]
        centre = (rows[:, 0:2] + self._grid[cells]) * stride
        size = np.exp(rows[:, 2:4]) * stride
        xywh = np.concatenate([centre - size / 2, size], axis=1)
        keep = np.asarray(
            cv2.dnn.NMSBoxesBatched(
                xywh, scores, class_ids.astype(np.int32), self.score_threshold, self.iou_threshold
            ),
            dtype=np.int64,
        ).reshape(-1)
        boxes = xywh[keep]
        boxes[:, 2:] += boxes[:, :2]
        return boxes.astype(np.float32), scores[keep].astype(np.float32), class_ids[keep].astype(np.int32)

    def detections(
        self,
        raw: np.ndarray,
        image: DetectorInput,
        frame_size: tuple[int, int] | None = None,
    ) -> Detections:
        """Decode and map to source-frame pixels; boxes are clipped to the model canvas and,
        when `frame_size` (width, height) is given, to the frame."""
        boxes, scores, class_ids = self.decode(raw)
        width, height = self.input_size
        np.clip(boxes, 0, [width, height, width, height], out=boxes)
        boxes /= image.scale
        ox, oy = image.offset
        boxes += np.array([ox, oy, ox, oy], dtype=np.float32)
        if frame_size is not None:
            fw, fh = frame_size
            np.clip(boxes, 0, [fw, fh, fw, fh], out=boxes)
        return Detections(boxes, scores, class_ids)
