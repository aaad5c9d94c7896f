"""Looking at one frame through several views: the whole frame plus tiles at the model's own input size over it,
each optionally mirrored. Tiles see small, far objects at full resolution (the whole-frame view shrinks a 1280x720
frame to a third for a 416x416 model); the whole frame sees objects larger than a tile. A tile's box that touches
one of its inner edges (not an edge of the frame) is an object cut by the tile and is dropped: the overlap or the
whole-frame view sees it whole.

Central's re-analysis fuses the views' boxes (vigia.central.reanalysis.views); the appliance's redacted export
blurs them all (vigia.appliance.privacy.redact).
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from vigia.inference.preprocess import letterbox
from vigia.inference.types import Detections, DetectorInput

EDGE_PX = 2.0  # a box this close to a tile's inner edge is cut by it


Region = tuple[int, int, int, int]  # x1, y1, x2, y2 source pixels


def regions(frame_size: tuple[int, int], input_size: tuple[int, int], tiles: bool = True,
            overlap: float = 0.2) -> list[Region]:
    """The whole frame first, then (with `tiles`) the tiles: the model's input size, each sharing `overlap` of
    itself with its neighbour, covering the frame."""
    width, height = frame_size
    found = [(0, 0, width, height)]
    if not tiles:
        return found
    tile_w, tile_h = min(input_size[0], width), min(input_size[1], height)
    if (tile_w, tile_h) == (width, height):
        return found  # a frame no larger than the model's input: the whole frame is the only tile
    xs = _starts(width, tile_w, overlap)
    ys = _starts(height, tile_h, overlap)
    return found + [(x, y, x + tile_w, y + tile_h) for y in ys for x in xs]


def _starts(length: int, tile: int, overlap: float) -> list[int]:
    if tile >= length:
        return [0]
    count = math.ceil((length - tile) / (tile * (1 - overlap))) + 1
    return [round(i * (length - tile) / (count - 1)) for i in range(count)]


@dataclass(frozen=True)
class View:
    region: Region
    flipped: bool


def inputs(bgr: np.ndarray, views: list[View], input_size: tuple[int, int]) -> list[DetectorInput]:
    """The detector's inputs for `views` of one BGR frame. A flipped view is letterboxed at offset 0: its boxes
    come back in the mirrored crop's pixels, and `unflip` maps them to the frame."""
    out = []
    for view in views:
        x1, y1, x2, y2 = view.region
        crop = bgr[y1:y2, x1:x2]
        if view.flipped:
            out.append(letterbox(np.ascontiguousarray(crop[:, ::-1]), input_size))
        else:
            out.append(letterbox(crop, input_size, offset=(x1, y1)))
    return out


def in_frame(view: View, found: Detections, frame_size: tuple[int, int]) -> Detections:
    """A view's detections in frame pixels, without the boxes its tile cut."""
    x1, y1, x2, y2 = view.region
    boxes = found.boxes.copy()
    if view.flipped:
        boxes[:, [0, 2]] = (x2 - x1) - found.boxes[:, [2, 0]] + x1
        boxes[:, [1, 3]] += y1
    width, height = frame_size
    cut = np.zeros(len(boxes), bool)
    for edge, axis, inner in ((x1, 0, x1 > 0), (y1, 1, y1 > 0), (x2, 2, x2 < width), (y2, 3, y2 < height)):
        if inner:
            cut |= np.abs(boxes[:, axis] - edge) <= EDGE_PX
    return Detections(boxes, found.scores, found.class_ids).select(~cut)
