"""How closely one detector's boxes follow another's on the same images: a quantized model against its original."""
from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from vigia.inference.types import Detections, Detector, DetectorInput

MATCH_IOU = 0.5


@dataclass(frozen=True, slots=True)
class Agreement:
    """Boxes of a candidate matched one to one to the reference's (same class, IoU >= 0.5, greedy by score)."""

    images: int
    reference_boxes: int
    candidate_boxes: int
    matched: int
    recall: float  # share of the reference's boxes the candidate found
    precision: float  # share of the candidate's boxes the reference has
    mean_iou: float  # over matched pairs
    mean_score_delta: float  # mean |candidate score - reference score| over matched pairs
    max_score_delta: float


def iou_matrix(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """IoU of each box of `a` (N, 4) with each of `b` (M, 4), x1 y1 x2 y2."""
    lt = np.maximum(a[:, None, :2], b[None, :, :2])
    rb = np.minimum(a[:, None, 2:], b[None, :, 2:])
    inter = np.prod(np.clip(rb - lt, 0, None), axis=2)
    area_a = np.prod(a[:, 2:] - a[:, :2], axis=1)
    area_b = np.prod(b[:, 2:] - b[:, :2], axis=1)
    union = area_a[:, None] + area_b[None, :] - inter
    return np.divide(inter, union, out=np.zeros_like(inter, dtype=np.float64), where=union > 0)


def match(reference: Detections, candidate: Detections) -> list[tuple[int, int, float]]:
    """(reference index, candidate index, IoU) pairs: each reference box, best score first, takes the
    unmatched candidate box of its class that overlaps it most, if that is at IoU >= 0.5."""
    if not len(reference) or not len(candidate):
        return []
    ious = iou_matrix(reference.boxes.astype(np.float64), candidate.boxes.astype(np.float64))
    ious[reference.class_ids[:, None] != candidate.class_ids[None, :]] = 0.0
    pairs, taken = [], np.zeros(len(candidate), bool)
    for r in np.argsort(-reference.scores, kind="stable"):
        row = np.where(taken, 0.0, ious[r])
        c = int(np.argmax(row))
        if row[c] >= MATCH_IOU:
            taken[c] = True
            pairs.append((int(r), c, float(row[c])))
    return pairs


def agreement(reference: Sequence[Detections], candidate: Sequence[Detections]) -> Agreement:
    """Agreement of `candidate`'s detections with `reference`'s, image by image."""
    if len(reference) != len(candidate):
        raise ValueError(f"{len(reference)} reference results for {len(candidate)} candidate results")
    ious, deltas = [], []
    for ref, cand in zip(reference, candidate):
        for r, c, iou in match(ref, cand):
            ious.append(iou)
            deltas.append(abs(float(cand.scores[c]) - float(ref.scores[r])))
    ref_boxes, cand_boxes = sum(map(len, reference)), sum(map(len, candidate))
    return Agreement(
        images=len(reference),
        reference_boxes=ref_boxes,
        candidate_boxes=cand_boxes,
        matched=len(ious),
        recall=len(ious) / ref_boxes if ref_boxes else 1.0,
        precision=len(ious) / cand_boxes if cand_boxes else 1.0,
        mean_iou=float(np.mean(ious)) if ious else 0.0,
        mean_score_delta=float(np.mean(deltas)) if deltas else 0.0,
        max_score_delta=float(np.max(deltas)) if deltas else 0.0,
    )


def compare(reference: Detector, candidate: Detector, inputs: Sequence[DetectorInput]) -> Agreement:
    """Both detectors on the same images, one at a time (as the appliance's CPU path runs them)."""
    return agreement(
        [reference.detect([item])[0] for item in inputs],
        [candidate.detect([item])[0] for item in inputs],
    )
