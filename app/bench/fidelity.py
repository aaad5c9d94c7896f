"""`vigia bench fidelity --json`: what motion gating at 5 fps misses against detecting everything.

Baseline: every frame, whole frame, through the same detector and tracker. Pipeline: the
appliance's gated path at 5 fps, decoding as the appliance does (only reference frames while they
suffice). A baseline track counts when it lives at least 1 s. It is
recalled when, at half or more of the pipeline's own analysis times within its life, some
pipeline track of the same kind overlaps it with IoU >= 0.5 (same frame, same pts). The same
kind is the same label, or two labels the tracker follows as one object because the detector
swaps them (car / bus / truck, vigia.inference.class_priors): a track's label is then its
best-scored class, which on a van both runs may call differently. `track_recall_same_label`
asks for the very same label.
"""
from __future__ import annotations

import json

import numpy as np

from vigia.app.bench.common import default_media, default_model, open_default_detector
from vigia.appliance.analyze import TrackRecord, analyze
from vigia.appliance.config import Camera, Detect
from vigia.inference.class_priors import CONFUSED

MIN_TRACK_S = 1.0
MATCH_IOU = 0.5
MIN_COVERED = 0.5
KEPT = ["person", "bicycle", "car", "motorcycle", "bus", "truck"]


def _iou(a, b) -> float:
    ix = max(0.0, min(a[2], b[2]) - max(a[0], b[0]))
    iy = max(0.0, min(a[3], b[3]) - max(a[1], b[1]))
    inter = ix * iy
    union = (a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - inter
    return inter / union if union > 0 else 0.0


def _kind(label: str) -> str:
    return next((group[0] for group in CONFUSED if label in group), label)


def track_recall(baseline: list[TrackRecord], pipeline: list[TrackRecord], *, same_label: bool = False
                 ) -> tuple[int, float]:
    kind = (lambda label: label) if same_label else _kind
    long_enough = [t for t in baseline if t.last_seen - t.first_seen >= MIN_TRACK_S]
    # pipeline boxes by analysis time: t -> [(label, box)]
    by_time: dict[float, list[tuple[str, tuple]]] = {}
    for track in pipeline:
        for t, box in track.boxes:
            by_time.setdefault(round(t, 4), []).append((kind(track.label), box))
    times = np.array(sorted(by_time))
    recalled = 0
    for track in long_enough:
        boxes = {round(t, 4): box for t, box in track.boxes}
        window = [t for t in times if track.first_seen <= t <= track.last_seen and t in boxes]
        if not window:
            continue
        covered = sum(
            any(label == kind(track.label) and _iou(boxes[t], box) >= MATCH_IOU for label, box in by_time[t]) for t in window
        )
        recalled += covered / len(window) >= MIN_COVERED
    return len(long_enough), recalled / len(long_enough) if long_enough else 1.0


def run(args) -> int:
    media = (args.media or default_media()).resolve()
    detector = open_default_detector((args.model or default_model()).resolve())
    try:
        camera = Camera(name="fidelity", url=str(media), realtime=False)
        gated = analyze(media, camera, detector, KEPT, keep_boxes=True, skip_nonreference=True)
        every_frame = camera.model_copy(update={"detect": Detect(fps=60)})
        baseline = analyze(media, every_frame, detector, KEPT, gate=False, keep_boxes=True)
    finally:
        detector.close()
    count, recall = track_recall(baseline.tracks, gated.tracks)
    _, recall_same_label = track_recall(baseline.tracks, gated.tracks, same_label=True)
    print(json.dumps({
        "baseline_tracks": count,
        "track_recall": round(recall, 4),
        "track_recall_same_label": round(recall_same_label, 4),
        "detector_calls_ratio": round(gated.detector_calls / max(1, baseline.detector_calls), 4),
        "pipeline_detector_calls": gated.detector_calls,
        "baseline_detector_calls": baseline.detector_calls,
        "pipeline_tracks": len(gated.tracks),
        "frames": baseline.frames,
        "pipeline_decoded_frames": gated.frames,
        "method": f"baseline tracks living >= {MIN_TRACK_S}s; recalled when a pipeline track of the same kind "
                  f"overlaps (IoU >= {MATCH_IOU}) at >= {MIN_COVERED:.0%} of the pipeline's analysis times in its life",
    }, indent=2))
    return 0
