"""How central looks at one frame: the whole frame plus tiles at the model's own input size over it
(vigia.inference.tiles), each also mirrored (horizontal-flip test-time augmentation), and the boxes of all those
views fused into one set.

Boxes are fused by weighted box fusion (Solovyev, Wang, Gabruseva, "Weighted boxes fusion: Ensembling boxes from
different object detection models", Image and Vision Computing 107, 2021), with the authors' implementation
(`ensemble-boxes`): each view is one "model", a fused box is the score-weighted average of its cluster, and keeps
the cluster's best score.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from ensemble_boxes import weighted_boxes_fusion

from vigia.inference.types import Detections


@dataclass(frozen=True)
class ViewSettings:
    tiles: bool = True
    flip: bool = True
    tile_overlap: float = 0.2     # share of a tile shared with its neighbour
    fusion_iou: float = 0.55      # boxes of one class closer than this are one object (the paper's default)
    score_threshold: float = 0.3


def fuse(per_view: list[Detections], frame_size: tuple[int, int], settings: ViewSettings) -> Detections:
    """One set of boxes from every view's (weighted box fusion, each view a model, best score kept)."""
    width, height = frame_size
    scale = np.array([width, height, width, height], np.float32)
    boxes, scores, labels = [], [], []
    for found in per_view:
        if len(found):
            boxes.append(np.clip(found.boxes / scale, 0.0, 1.0))
            scores.append(found.scores)
            labels.append(found.class_ids)
    if not boxes:
        return Detections.empty()
    fused, fused_scores, fused_labels = weighted_boxes_fusion(
        boxes, scores, labels, iou_thr=settings.fusion_iou, skip_box_thr=settings.score_threshold, conf_type="max")
    return Detections((fused * scale).astype(np.float32), fused_scores.astype(np.float32),
                      fused_labels.astype(np.int32))
