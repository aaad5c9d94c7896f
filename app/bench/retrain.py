"""`vigia bench retrain --json`: the edge model fine-tuned on hard examples central mined from the first 70% of the
demo clip's time, measured on its last 30% and on other footage (`--heldout`, default the traffic clip).

Mining uses central's own look at a frame (whole frame and tiles, each mirrored, weighted box fusion: the
re-analysis worker's views) on frames sampled through the first 70%; a frame is a hard example, as in
re-analysis, when the edge's single whole-frame pass misses an object central finds ("missed") or central is
unsure of one ("low_confidence", fused score 0.3-0.5). The frames are written as the dataset export writes them
(COCO), and read back from there. Central's labels on frames of the last 30% are the test split (map50);
on the `--heldout` footage, the replay set comes from the first half of its time and the recall is measured on
the second half (objects central finds there that the edge reports at its operating score).
"""
from __future__ import annotations

import json
import tempfile
from dataclasses import asdict
from datetime import datetime, timezone
from pathlib import Path

import cv2
import numpy as np

from vigia.app.bench.common import default_media, default_model, shared_path
from vigia.central.reanalysis.analysis import LOW_CONFIDENCE
from vigia.central.reanalysis.hard_examples import JPEG_QUALITY, Example
from vigia.central.training.data import CocoSet, coco_samples, load_coco, replay_samples, write_coco
from vigia.central.training.evaluate import OPERATING_SCORE, central_labels, central_samples, frames_of, gate, measure
from vigia.central.training.pipeline import REGRESSION_WINDOW, REPLAY_WINDOW
from vigia.central.training.train import TrainConfig, fine_tune
from vigia.inference.errors import ModelError
from vigia.inference.factory import create_detector
from vigia.inference.model_store import import_model
from vigia.inference.onnx_model import load_model
from vigia.inference.preprocess import letterbox
from vigia.inference.types import Detections

TRAIN_SHARE = 0.7
MATCH_IOU = 0.5


def _iou(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    tl, br = np.maximum(a[:, None, :2], b[None, :, :2]), np.minimum(a[:, None, 2:], b[None, :, 2:])
    inter = np.clip(br - tl, 0, None).prod(2)
    area_a, area_b = (a[:, 2:] - a[:, :2]).prod(1), (b[:, 2:] - b[:, :2]).prod(1)
    return inter / (area_a[:, None] + area_b[None, :] - inter + 1e-9)


def reason(central: Detections, edge: Detections) -> str | None:
    """Why central would keep this frame: an object the edge missed, or one central is unsure of."""
    for box, cls in zip(central.boxes, central.class_ids):
        same = edge.boxes[edge.class_ids == cls]
        if len(same) == 0 or _iou(box[None], same).max() < MATCH_IOU:
            return "missed"
    if ((central.scores >= LOW_CONFIDENCE[0]) & (central.scores < LOW_CONFIDENCE[1])).any():
        return "low_confidence"
    return None


def mine(media: Path, model: Path, count: int) -> list[Example]:
    """The hard examples among `count` frames spread over the first TRAIN_SHARE of the media's time."""
    detector = create_detector("onnxruntime", model, score_threshold=0.3, threads=2)
    try:
        examples = []
        for t, bgr in frames_of(media, count, (0.0, TRAIN_SHARE)):
            central = central_labels(bgr, detector)
            edge = detector.detect([letterbox(bgr, detector.input_size)])[0]
            why = reason(central, edge)
            if why is None:
                continue
            height, width = bgr.shape[:2]
            scale = np.array([width, height, width, height], np.float32)
            labels = [{"label": detector.class_names[c], "box": [round(float(v), 4) for v in b / scale]}
                      for b, c in zip(central.boxes, central.class_ids)]
            jpeg = cv2.imencode(".jpg", bgr, [cv2.IMWRITE_JPEG_QUALITY, JPEG_QUALITY])[1].tobytes()
            examples.append(Example(t, why, jpeg, width, height, labels))
        return examples
    finally:
        detector.close()


def contract_ok(base: Path, candidate: Path, store: Path) -> bool:
    """The candidate passes the model store's validation with the base's input and output exactly."""
    try:
        _, base_spec = load_model(base)
        _, spec = load_model(candidate)
        import_model(store, candidate, name="candidate")
    except ModelError:
        return False
    return (spec.input_name, spec.output_name, spec.input_shape, spec.output_shape) == \
        (base_spec.input_name, base_spec.output_name, base_spec.input_shape, base_spec.output_shape)


def run(args) -> int:
    media = (args.media or default_media()).resolve()
    model = (args.model or default_model()).resolve()
    heldout = (args.heldout or shared_path("media", "traffic-720p.mp4")).resolve()
    config = TrainConfig(iterations=args.iterations, batch=args.batch, seed=args.seed, replay_share=args.replay_share)
    with tempfile.TemporaryDirectory(prefix="vigia-bench-retrain-") as folder_name:
        folder = Path(folder_name)
        examples = mine(media, model, args.mine_frames)
        if not examples:
            raise SystemExit("no hard examples mined: nothing to train on")
        written = write_coco(folder / "dataset", examples, datetime.now(timezone.utc))
        coco = load_coco(folder / "dataset")
        _, spec = load_model(model)
        train_set = coco_samples(CocoSet(folder / "dataset", coco, [i["id"] for i in coco["images"]]), spec.input_size)
        labeller = create_detector("onnxruntime", model, score_threshold=0.3, threads=2)
        try:
            test_set = central_samples(frames_of(media, args.test_frames, (TRAIN_SHARE, 1.0)), labeller, source=media.name)
            replay = replay_samples(str(heldout), args.replay_frames, labeller, OPERATING_SCORE, REPLAY_WINDOW)
            regression = central_samples(frames_of(heldout, args.heldout_frames, REGRESSION_WINDOW), labeller,
                                         source=heldout.name)
        finally:
            labeller.close()
        result = fine_tune(model, train_set, replay, config)
        candidate = folder / "candidate.onnx"
        candidate.write_bytes(result.model)
        names = spec.class_names
        before = {"heldout": measure(model, test_set, names), "regression": measure(model, regression, names)}
        after = {"heldout": measure(candidate, test_set, names), "regression": measure(candidate, regression, names)}
        verdict = gate(before, after)
        report = {
            "map50_before": before["heldout"].map50, "map50_after": after["heldout"].map50,
            "heldout_recall_before": before["regression"].recall, "heldout_recall_after": after["regression"].recall,
            "train_seconds": round(result.seconds, 1),
            "onnx_contract_ok": contract_ok(model, candidate, folder / "store"),
            "recall_per_class_before": before["heldout"].recall_per_class,
            "recall_per_class_after": after["heldout"].recall_per_class,
            "heldout_map50_before": before["regression"].map50, "heldout_map50_after": after["regression"].map50,
            "gate_passed": verdict.passed, "gate": verdict.reasons,
            "hard_examples": written["images"], "hard_example_labels": written["annotations"],
            "reasons": {r: sum(e.reason == r for e in examples) for r in ("missed", "low_confidence")},
            "mined_frames": args.mine_frames, "replay_frames": len(replay),
            "test_frames": len(test_set), "test_objects": before["heldout"].objects,
            "heldout": heldout.name, "heldout_frames": len(regression), "heldout_objects": before["regression"].objects,
            "loss_first_5": round(result.first_loss, 4), "loss_last_5": round(result.last_loss, 4),
            "hyper_parameters": asdict(config),
            "method": "hard examples: frames of the first 70% of the media where the edge's whole-frame pass misses an "
                      "object central's look (whole frame + tiles, mirrored, WBF) finds, or central scores one 0.3-0.5; "
                      "written as a COCO export; fine-tuned with the YOLOX loss, replay from the first half of "
                      "--heldout; map50 against central's labels on the last 30%; heldout recall at score 0.3 on the "
                      "second half of --heldout",
        }
        print(json.dumps(report, indent=2))
    return 0
