"""A candidate model measured, and gated, before it may reach a device.

Two measures, both with pycocotools (the COCO evaluation's own code): on the dataset's held-out split, COCO
mAP@0.5 and per-class recall against its labels (reviewed where an operator reviewed them, central's elsewhere);
on a fixed regression set - frames of other footage labelled by central's own look (whole frame and tiles, each
mirrored, fused; `vigia.central.reanalysis.views`) - the same at the edge's operating score, so forgetting shows.
The gate passes a candidate only when it gains on the held-out split and loses no more than a margin on the
regression set; it says why, with the numbers.
"""
from __future__ import annotations

import contextlib
import io
from dataclasses import asdict, dataclass, field
from pathlib import Path

import av
import numpy as np
from pycocotools.coco import COCO
from pycocotools.cocoeval import COCOeval

from vigia.central.reanalysis.views import ViewSettings, fuse
from vigia.central.training.data import Sample
from vigia.inference.factory import create_detector
from vigia.inference.preprocess import letterbox
from vigia.inference.tiles import View, in_frame, inputs, regions
from vigia.inference.types import Detections, Detector, DetectorInput

MAP_SCORE = 0.05          # detections kept for mAP (the precision/recall curve needs the low ones too)
OPERATING_SCORE = 0.3     # the appliance's default score threshold: recall as the edge reports objects
KEPT = ("person", "bicycle", "car", "motorcycle", "bus", "truck")


@dataclass(frozen=True)
class Metrics:
    map50: float                          # COCO AP at IoU 0.5, over the classes with labels
    recall: float                         # objects found at the operating score, IoU >= 0.5, same class
    recall_per_class: dict[str, float]
    images: int
    objects: int


@dataclass(frozen=True)
class GateSettings:
    min_map_gain: float = 0.005           # held-out mAP@0.5 must rise by at least this
    regression_margin: float = 0.02       # regression recall and mAP@0.5 may fall by at most this


@dataclass(frozen=True)
class GateResult:
    passed: bool
    reasons: list[str]
    base: dict[str, Metrics]              # "heldout", "regression"
    candidate: dict[str, Metrics]
    settings: GateSettings = field(default_factory=GateSettings)

    def to_dict(self) -> dict:
        return asdict(self)


def detect(model: Path, images: list[DetectorInput], score_threshold: float) -> list:
    """The model's detections (source pixels) on `images`, with the appliance's own ONNX Runtime back end."""
    detector = create_detector("onnxruntime", model, score_threshold=score_threshold, threads=2)
    try:
        return [found for i in range(0, len(images), 8) for found in detector.detect(images[i:i + 8])]
    finally:
        detector.close()


def measure(model: Path, samples: list[Sample], class_names: tuple[str, ...] | list[str]) -> Metrics:
    """mAP@0.5 and recall of `model` on letterboxed samples whose boxes are in model pixels."""
    images = [DetectorInput(s.image, 1.0) for s in samples]
    low = detect(model, images, MAP_SCORE)
    gt = COCO()
    gt.dataset = {
        "images": [{"id": i + 1, "width": s.image.shape[1], "height": s.image.shape[0]} for i, s in enumerate(samples)],
        "annotations": [{"id": n + 1, "image_id": i + 1, "category_id": int(c) + 1, "iscrowd": 0,
                         "bbox": [float(b[0]), float(b[1]), float(b[2] - b[0]), float(b[3] - b[1])],
                         "area": float((b[2] - b[0]) * (b[3] - b[1]))}
                        for n, (i, b, c) in enumerate((i, b, c) for i, s in enumerate(samples)
                                                      for b, c in zip(s.boxes, s.class_ids))],
        "categories": [{"id": i + 1, "name": n} for i, n in enumerate(class_names)],
    }
    with contextlib.redirect_stdout(io.StringIO()):
        gt.createIndex()
    labelled = sorted({a["category_id"] for a in gt.dataset["annotations"]})
    objects = len(gt.dataset["annotations"])
    if not labelled:
        return Metrics(0.0, 0.0, {}, len(samples), 0)
    map50, _ = _evaluate(gt, low, labelled, 0.0)
    _, recalls = _evaluate(gt, low, labelled, OPERATING_SCORE)
    counts = {c: sum(a["category_id"] == c for a in gt.dataset["annotations"]) for c in labelled}
    recall = sum(recalls[c] * counts[c] for c in labelled) / objects
    return Metrics(round(map50, 4), round(recall, 4), {class_names[c - 1]: round(recalls[c], 4) for c in labelled},
                   len(samples), objects)


def _evaluate(gt: COCO, found: list, categories: list[int], min_score: float) -> tuple[float, dict[int, float]]:
    """AP@0.5 over `categories` and recall@0.5 of each (100 detections per image), from detections >= min_score."""
    results = [{"image_id": i + 1, "category_id": int(c) + 1, "score": float(s),
                "bbox": [float(b[0]), float(b[1]), float(b[2] - b[0]), float(b[3] - b[1])]}
               for i, dets in enumerate(found) for b, s, c in zip(dets.boxes, dets.scores, dets.class_ids) if s >= min_score]
    if not results:
        return 0.0, {c: 0.0 for c in categories}
    with contextlib.redirect_stdout(io.StringIO()):
        dt = gt.loadRes(results)
        evaluation = COCOeval(gt, dt, "bbox")
        evaluation.params.catIds = categories
        evaluation.params.iouThrs = np.array([0.5])
        evaluation.evaluate()
        evaluation.accumulate()
    precision = evaluation.eval["precision"][0, :, :, 0, -1]     # (recall points, categories) area all, 100 dets
    per_class_ap = [p[p > -1].mean() if (p > -1).any() else 0.0 for p in precision.T]
    recall = evaluation.eval["recall"][0, :, 0, -1]
    return float(np.mean(per_class_ap)), {c: max(float(r), 0.0) for c, r in zip(categories, recall)}


def frames_of(video: str | Path, count: int, window: tuple[float, float]) -> list[tuple[float, np.ndarray]]:
    """`count` full frames (BGR) evenly over the `window` share of the video's time, with their time (the first
    frame at or after each target); decoded in one pass, only the picked frames kept."""
    with av.open(str(video)) as container:
        stream = container.streams.video[0]
        if stream.duration and stream.time_base:
            duration = float(stream.duration * stream.time_base)
        elif container.duration:
            duration = container.duration / av.time_base
        else:
            raise ValueError(f"{video}: the video's duration is unknown")
        wanted = [(window[0] + (k + 0.5) * (window[1] - window[0]) / count) * duration for k in range(count)]
        picked, first = [], None
        for frame in container.decode(stream):
            if frame.time is None:
                continue
            first = frame.time if first is None else first
            while wanted and frame.time - first >= wanted[0] - 1e-6:
                wanted.pop(0)
                picked.append((frame.time - first, frame.to_ndarray(format="bgr24")))
            if not wanted:
                break
    if not picked:
        raise ValueError(f"{video}: no video frames")
    return picked


def central_labels(bgr: np.ndarray, detector: Detector, kept: tuple[str, ...] = KEPT,
                   settings: ViewSettings = ViewSettings()) -> Detections:
    """Central's boxes on one frame (source pixels): whole frame and tiles, each mirrored, fused; kept classes."""
    kept_ids = [i for i, n in enumerate(detector.class_names) if n in kept]
    frame_size = (bgr.shape[1], bgr.shape[0])
    tiled = regions(frame_size, detector.input_size, settings.tiles, settings.tile_overlap)
    views = [View(r, flipped) for r in tiled for flipped in ((False, True) if settings.flip else (False,))]
    found = detector.detect(inputs(bgr, views, detector.input_size))
    fused = fuse([in_frame(v, f, frame_size) for v, f in zip(views, found)], frame_size, settings)
    return fused.select(np.isin(fused.class_ids, kept_ids))


def central_samples(frames: list[tuple[float, np.ndarray]], detector: Detector, kept: tuple[str, ...] = KEPT,
                    source: str = "") -> list[Sample]:
    """Frames labelled by central's look, letterboxed as the edge sees them, boxes in model pixels."""
    samples = []
    for t, bgr in frames:
        fused = central_labels(bgr, detector, kept)
        edge = letterbox(bgr, detector.input_size)
        samples.append(Sample(edge.image, (fused.boxes * edge.scale).astype(np.float32),
                              fused.class_ids.astype(np.int64), f"{source}@{t:.2f}"))
    return samples


def gate(base: dict[str, Metrics], candidate: dict[str, Metrics], settings: GateSettings = GateSettings()) -> GateResult:
    """Pass or reject, with every rule's numbers."""
    reasons, passed = [], True
    gain = candidate["heldout"].map50 - base["heldout"].map50
    ok = gain >= settings.min_map_gain
    passed &= ok
    reasons.append(f"held-out mAP@0.5 {base['heldout'].map50:.4f} -> {candidate['heldout'].map50:.4f} "
                   f"({gain:+.4f}, needs >= {settings.min_map_gain:+.4f}): {'ok' if ok else 'REJECT'}")
    for name in ("recall", "map50"):
        before, after = getattr(base["regression"], name), getattr(candidate["regression"], name)
        ok = after >= before - settings.regression_margin
        passed &= ok
        reasons.append(f"regression {name} {before:.4f} -> {after:.4f} ({after - before:+.4f}, may fall by "
                       f"<= {settings.regression_margin:.4f}): {'ok' if ok else 'REJECT'}")
    return GateResult(bool(passed), reasons, base, candidate, settings)
