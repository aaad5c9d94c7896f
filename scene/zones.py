"""Zone and line geometry in source pixels, vectorised over many objects at once."""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np


def anchors(boxes: np.ndarray) -> np.ndarray:
    """Where an object stands: the bottom centre of each x1, y1, x2, y2 box, shape (N, 2)."""
    return np.stack([(boxes[:, 0] + boxes[:, 2]) * 0.5, boxes[:, 3]], axis=1)


@dataclass(frozen=True)
class PolygonZone:
    name: str
    points: np.ndarray  # (M, 2) source pixels

    @classmethod
    def from_normalised(cls, name: str, polygon, frame_size: tuple[int, int]) -> PolygonZone:
        return cls(name, np.asarray(polygon, np.float64) * frame_size)

    def contains(self, points: np.ndarray) -> np.ndarray:
        """Even-odd ray casting for (N, 2) points; returns (N,) bools."""
        if len(points) == 0:
            return np.zeros(0, bool)
        x = points[:, 0:1]
        y = points[:, 1:2]
        x1, y1 = self.points[:, 0], self.points[:, 1]
        x2, y2 = np.roll(x1, -1), np.roll(y1, -1)
        straddles = (y1 > y) != (y2 > y)
        with np.errstate(divide="ignore", invalid="ignore"):
            x_cross = x1 + (y - y1) * (x2 - x1) / (y2 - y1)
        return np.logical_and(straddles, x < x_cross).sum(axis=1) % 2 == 1


@dataclass(frozen=True)
class Tripwire:
    """A segment from `a` to `b`. Left and right are as seen walking from `a` to `b` on the picture."""

    name: str
    a: np.ndarray
    b: np.ndarray

    @classmethod
    def from_normalised(cls, name: str, points, frame_size: tuple[int, int]) -> Tripwire:
        a, b = (np.asarray(p, np.float64) * frame_size for p in points)
        return cls(name, a, b)

    def _side(self, p: np.ndarray) -> float:
        d = self.b - self.a
        return float(d[0] * (p[1] - self.a[1]) - d[1] * (p[0] - self.a[0]))

    def crossing(self, start: np.ndarray, end: np.ndarray) -> str | None:
        """'left_to_right', 'right_to_left' or None for a move from `start` to `end`.

        In picture coordinates (y down) a point on the walker's left has a negative side value.
        """
        s0, s1 = self._side(start), self._side(end)
        if s0 == 0 or s1 == 0 or (s0 < 0) == (s1 < 0):
            return None
        # The move crosses the infinite line; it must also pass between a and b.
        m = end - start
        t0 = (m[0] * (self.a[1] - start[1]) - m[1] * (self.a[0] - start[0]))
        t1 = (m[0] * (self.b[1] - start[1]) - m[1] * (self.b[0] - start[0]))
        if (t0 < 0) == (t1 < 0) and t0 != 0 and t1 != 0:
            return None
        return "left_to_right" if s0 < 0 else "right_to_left"
