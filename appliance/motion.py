"""Motion gating: a cheap background model on a small grey (luma) picture.

The decoder already gives the luma plane, so motion never needs a colour conversion: the Y
plane is shrunk to about 160 pixels wide, compared with a running-average background, and
the moving blobs become regions (in source pixels) that tell the detector where to look.
"""
from __future__ import annotations

from dataclasses import dataclass, field

import av
import cv2
import numpy as np

Box = tuple[int, int, int, int]  # x1, y1, x2, y2 in source pixels

MOTION_WIDTH = 160


def luma(frame: av.VideoFrame) -> np.ndarray:
    """The frame's Y plane as a (height, width) uint8 view, without copying."""
    plane = frame.planes[0]
    rows = np.frombuffer(plane, np.uint8).reshape(-1, plane.line_size)
    return rows[: frame.height, : frame.width]


@dataclass
class MotionResult:
    regions: list[Box]       # moving blobs, source pixels
    moving_fraction: float   # share of the (unmasked) picture that changed
    warming_up: bool         # the background is not learnt yet: treat the whole frame as moving


@dataclass
class MotionDetector:
    """Running-average background subtraction on the shrunk luma plane.

    `masks` are polygons in normalised coordinates where motion is ignored.
    """

    frame_size: tuple[int, int]           # source (width, height)
    threshold: int = 18
    min_area: float = 0.0005              # share of the frame
    learning_rate: float = 0.05           # per analysed frame (~5/s): the background follows in a few seconds
    masks: list[list[tuple[float, float]]] = field(default_factory=list)
    warmup_frames: int = 3

    def __post_init__(self) -> None:
        width, height = self.frame_size
        self._small_size = (MOTION_WIDTH, max(1, round(MOTION_WIDTH * height / width)))
        self._scale = (width / self._small_size[0], height / self._small_size[1])
        self._background: np.ndarray | None = None
        self._seen = 0
        self._kernel = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (5, 5))
        self._keep = self._mask_image()

    def _mask_image(self) -> np.ndarray | None:
        if not self.masks:
            return None
        w, h = self._small_size
        keep = np.full((h, w), 255, np.uint8)
        for polygon in self.masks:
            points = np.round(np.array(polygon) * (w, h)).astype(np.int32)
            cv2.fillPoly(keep, [points], 0)
        return keep

    def update(self, frame: av.VideoFrame) -> MotionResult:
        small = cv2.resize(luma(frame), self._small_size, interpolation=cv2.INTER_AREA)
        small = cv2.GaussianBlur(small, (3, 3), 0)
        self._seen += 1
        if self._background is None:
            self._background = small.astype(np.float32)
            return MotionResult([], 1.0, warming_up=True)

        diff = cv2.absdiff(small, cv2.convertScaleAbs(self._background))
        _, moving = cv2.threshold(diff, self.threshold, 255, cv2.THRESH_BINARY)
        if self._keep is not None:
            moving = cv2.bitwise_and(moving, self._keep)
        moving = cv2.dilate(moving, self._kernel, iterations=2)
        fraction = float(cv2.countNonZero(moving)) / moving.size

        # A sudden global change (lights, camera gain) is learnt quickly instead of gating on it for seconds.
        rate = 0.5 if fraction > 0.6 else self.learning_rate
        cv2.accumulateWeighted(small, self._background, rate)

        count, _, stats, _ = cv2.connectedComponentsWithStats(moving, connectivity=8)
        min_pixels = self.min_area * moving.size
        sx, sy = self._scale
        regions = [
            (int(x * sx), int(y * sy), int((x + w) * sx), int((y + h) * sy))
            for x, y, w, h, area in stats[1:count]
            if area >= min_pixels
        ]
        return MotionResult(regions, fraction, warming_up=self._seen <= self.warmup_frames)
