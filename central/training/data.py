"""Training samples: a COCO dataset's images (as `vigia central dataset export` writes them) and a replay set of
the base model's own view of other footage, letterboxed to the model's input as the appliance feeds it.

A held-out split is by time (the examples' `taken_at`), never by random frames: neighbouring frames of one
scene are near copies, and a random split would test on what was trained on.
"""
from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path

import cv2
import numpy as np

from vigia.central.reanalysis.hard_examples import Example
from vigia.inference.coco import COCO_CLASSES
from vigia.inference.footage import sample
from vigia.inference.preprocess import letterbox
from vigia.inference.types import Detector


class DatasetError(ValueError):
    """A dataset that cannot be trained on (named field or file in the message)."""


@dataclass(frozen=True)
class Sample:
    """One letterboxed image and its boxes (x1, y1, x2, y2 in model pixels) with class ids."""

    image: np.ndarray          # (H, W, 3) BGR uint8, the model's input size
    boxes: np.ndarray          # (n, 4) float32
    class_ids: np.ndarray      # (n,) int64
    source: str                # where it comes from: COCO image id or "video@seconds"


@dataclass(frozen=True)
class CocoSet:
    folder: Path
    coco: dict
    image_ids: list[int]       # the images of this split, in time order


def load_coco(folder: Path) -> dict:
    path = folder / "annotations.json"
    try:
        coco = json.loads(path.read_text())
    except (OSError, json.JSONDecodeError) as exc:
        raise DatasetError(f"{path}: cannot read a COCO annotations file: {exc}") from exc
    for key in ("images", "annotations", "categories"):
        if not isinstance(coco.get(key), list):
            raise DatasetError(f"{path}: field '{key}' must be a list")
    return coco


def taken_at(image: dict) -> float:
    """The image's time (its `vigia.taken_at`), else its id: the order frames were kept."""
    value = image.get("vigia", {}).get("taken_at")
    return datetime.fromisoformat(value).timestamp() if value else float(image["id"])


def split_by_time(folder: Path, heldout_share: float) -> tuple[CocoSet, CocoSet]:
    """(train, held-out): the held-out split is the last `heldout_share` of the dataset's time span."""
    if not 0 < heldout_share < 1:
        raise DatasetError(f"heldout_share must be between 0 and 1, got {heldout_share}")
    coco = load_coco(folder)
    images = sorted(coco["images"], key=taken_at)
    if len(images) < 2:
        raise DatasetError(f"{folder}: {len(images)} images; a train and a held-out split need at least 2")
    first, last = taken_at(images[0]), taken_at(images[-1])
    cut = first + (1 - heldout_share) * (last - first)
    train = [i["id"] for i in images if taken_at(i) < cut] or [images[0]["id"]]
    trained = set(train)
    heldout = [i["id"] for i in images if i["id"] not in trained]
    return CocoSet(folder, coco, train), CocoSet(folder, coco, heldout)


def coco_samples(split: CocoSet, input_size: tuple[int, int]) -> list[Sample]:
    """The split's images letterboxed, their annotations in model pixels (category id = class id + 1)."""
    by_image: dict[int, list[dict]] = {}
    for ann in split.coco["annotations"]:
        by_image.setdefault(ann["image_id"], []).append(ann)
    images = {i["id"]: i for i in split.coco["images"]}
    samples = []
    for image_id in split.image_ids:
        path = split.folder / images[image_id]["file_name"]
        bgr = cv2.imread(str(path))
        if bgr is None:
            raise DatasetError(f"{path}: not a readable image (image id {image_id})")
        fitted = letterbox(bgr, input_size)
        anns = by_image.get(image_id, [])
        unknown = [a["category_id"] for a in anns if not 1 <= a["category_id"] <= len(COCO_CLASSES)]
        if unknown:
            raise DatasetError(f"{split.folder}: annotation 'category_id' {unknown[0]} of image {image_id} is not a "
                               f"class of the model (1..{len(COCO_CLASSES)})")
        xywh = np.array([a["bbox"] for a in anns], np.float32).reshape(-1, 4)
        boxes = np.concatenate([xywh[:, :2], xywh[:, :2] + xywh[:, 2:]], 1) * fitted.scale
        samples.append(Sample(fitted.image, boxes, np.array([a["category_id"] - 1 for a in anns], np.int64), str(image_id)))
    return samples


def replay_samples(video: str, count: int, detector: Detector, score_threshold: float,
                   window: tuple[float, float] = (0.0, 1.0)) -> list[Sample]:
    """`count` frames of `video` (evenly over the `window` share of its time) with the base model's own detections
    as labels: training on them keeps the model answering as it did on footage the dataset does not cover."""
    start, end = window
    spread = max(1, round(count / (end - start)))
    frames = sample(video, spread, detector.input_size)
    chosen = [f for i, f in enumerate(frames) if start <= (i + 0.5) / spread < end][:count]
    found = detector.detect([f.input for f in chosen])
    samples = []
    for frame, dets in zip(chosen, found):
        keep = dets.scores >= score_threshold
        boxes = dets.boxes[keep] * frame.input.scale
        samples.append(Sample(frame.input.image, boxes.astype(np.float32), dets.class_ids[keep].astype(np.int64),
                              f"{frame.source}@{frame.time:.2f}"))
    return samples


def flipped(s: Sample) -> Sample:
    """The sample mirrored left-right (for landscape footage the letterbox padding is below the image: unchanged)."""
    boxes = s.boxes.copy()
    boxes[:, [0, 2]] = s.image.shape[1] - s.boxes[:, [2, 0]]
    return Sample(np.ascontiguousarray(s.image[:, ::-1]), boxes, s.class_ids, s.source)


def write_coco(folder: Path, examples: list[Example], start: datetime) -> dict:
    """Hard examples of one clip (its wall clock from `start`) as a COCO folder, in the layout and category ids
    `vigia central dataset export` writes; returns the counts."""
    (folder / "images").mkdir(parents=True, exist_ok=True)
    images, annotations = [], []
    for n, example in enumerate(examples, 1):
        file_name = f"images/{n}.jpg"
        (folder / file_name).write_bytes(example.jpeg)
        images.append({"id": n, "file_name": file_name, "width": example.width, "height": example.height,
                       "vigia": {"taken_at": (start + timedelta(seconds=example.t)).isoformat(), "reason": example.reason}})
        for label in example.labels:
            x1, y1, x2, y2 = label["box"]
            box = [x1 * example.width, y1 * example.height, (x2 - x1) * example.width, (y2 - y1) * example.height]
            annotations.append({"id": len(annotations) + 1, "image_id": n, "category_id": COCO_CLASSES.index(label["label"]) + 1,
                                "bbox": [round(v, 2) for v in box], "area": round(box[2] * box[3], 2), "iscrowd": 0})
    coco = {"info": {"description": "vigia hard examples"}, "images": images, "annotations": annotations,
            "categories": [{"id": i + 1, "name": n} for i, n in enumerate(COCO_CLASSES)]}
    (folder / "annotations.json").write_text(json.dumps(coco, indent=1))
    return {"images": len(images), "annotations": len(annotations)}
