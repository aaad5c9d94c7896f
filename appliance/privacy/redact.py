"""Redaction: a video with every person (or their heads, or vehicles' plates) blurred on every frame.

Two passes over the video. The first finds what to hide: the detector on every frame, over the whole frame and
over tiles at the model's own size (vigia.inference.tiles: small, far people are seen at full resolution), at a
low score threshold (a redaction would rather blur a shadow than miss a face), and a tracker over every frame.
A frame's boxes are its detections plus, for each track, its box where it was seen, a linear interpolation between
two sightings where it was missed, and its first and last box held `hold_s` before and after it lived, so an
object the detector missed for a few frames stays hidden. Every box is padded. The second pass decodes again,
replaces those boxes by a few blocks of their own colours, looks at the frame again with the detector and hides
what it still finds (hiding a crowd can make a faint person stand out), and encodes H.264 (PyAV / FFmpeg's
libx264): the output carries no frame of the original untouched.

`faces` and `plates` are approximations, said as such: the model store has no face or plate detector, so `faces`
hides the top third of each person's box (the head, padded), and `plates` the lower half of each vehicle's.
"""
from __future__ import annotations

import math
from collections.abc import Iterator
from dataclasses import dataclass, field
from fractions import Fraction
from pathlib import Path

import av
import cv2
import numpy as np

from vigia.inference.tiles import View, in_frame, inputs, regions
from vigia.inference.tracking import Tracker
from vigia.inference.types import Detections, Detector

TARGETS = ("persons", "faces", "plates")
PERSON_CLASSES = frozenset({"person"})
VEHICLE_CLASSES = frozenset({"bicycle", "car", "motorcycle", "bus", "truck"})
NMS_IOU = 0.5   # boxes of one class from two views closer than this are one object
VERIFY_ROUNDS = 2  # looks again at a hidden frame, hiding what is still found


class RedactionError(Exception):
    """The video cannot be redacted (unreadable, no frames); the message says why."""


@dataclass(frozen=True)
class RedactionSettings:
    targets: frozenset[str] = frozenset({"persons"})
    score_threshold: float = 0.25    # detections at or above this are hidden (lower than an event's: recall first)
    pad: float = 0.15                # of a box's width and height, added on each side
    hold_s: float = 0.5              # a track's first and last box kept this long before and after it lived
    tiles: bool = True
    keep_tracks: frozenset[int] = frozenset()   # tracks (ids of this redaction's tracker) left visible
    crf: int = 20                    # libx264 quality of the output (lower: better, bigger)

    def __post_init__(self) -> None:
        unknown = set(self.targets) - set(TARGETS)
        if unknown or not self.targets:
            raise ValueError(f"redact {', '.join(sorted(unknown)) or 'nothing'}: choose from {', '.join(TARGETS)}")


@dataclass
class PlannedTrack:
    id: int
    label: str
    seen: list[tuple[int, tuple[float, float, float, float]]] = field(default_factory=list)  # (frame, box)

    @property
    def first(self) -> int:
        return self.seen[0][0]

    @property
    def last(self) -> int:
        return self.seen[-1][0]


@dataclass
class Plan:
    """What the first pass found: per frame (index in decode order), the boxes to hide and what they are."""

    frames: int
    fps: float
    frame_size: tuple[int, int]
    times: list[float]                                   # seconds from the first frame, per frame
    tracks: dict[int, PlannedTrack]
    detections: list[list[tuple[str, tuple[float, float, float, float]]]]  # per frame: (label, box)

    def boxes(self, settings: RedactionSettings) -> list[list[tuple[str, tuple[float, float, float, float]]]]:
        """Per frame, (label, box) of everything to hide but the kept tracks: detections, sightings,
        interpolations and held boxes."""
        hold = max(0, round(settings.hold_s * self.fps))
        out: list[list[tuple[str, tuple[float, float, float, float]]]] = [[] for _ in range(self.frames)]
        kept = self.kept_boxes(settings)
        for track in self.tracks.values():
            if track.id not in settings.keep_tracks:
                for index, box in track_boxes(track, hold, self.frames):
                    out[index].append((track.label, box))
        for index, found in enumerate(self.detections):
            out[index].extend(item for item in found if not _kept(item[1], kept[index]))
        return out

    def kept_boxes(self, settings: RedactionSettings) -> list[list[tuple[float, float, float, float]]]:
        """Per frame, the boxes of the tracks left visible."""
        kept: list[list[tuple[float, float, float, float]]] = [[] for _ in range(self.frames)]
        for track_id in settings.keep_tracks:
            for index, box in track_boxes(self.tracks[track_id], 0, self.frames):
                kept[index].append(box)
        return kept


def _kept(box: tuple[float, float, float, float], kept: list[tuple[float, float, float, float]]) -> bool:
    return any(_iou(box, other) > 0.3 for other in kept)


def track_boxes(track: PlannedTrack, hold: int, frames: int) -> Iterator[tuple[int, tuple[float, float, float, float]]]:
    """The track's box on every frame from `hold` before its first sighting to `hold` after its last."""
    seen = track.seen
    for index in range(max(0, track.first - hold), track.first):
        yield index, seen[0][1]
    for (a, box_a), (b, box_b) in zip(seen, seen[1:]):
        for index in range(a, b):
            w = (index - a) / (b - a)
            yield index, tuple((1 - w) * p + w * q for p, q in zip(box_a, box_b))
    yield seen[-1]
    for index in range(track.last + 1, min(frames, track.last + hold + 1)):
        yield index, seen[-1][1]


def _iou(a, b) -> float:
    w = max(0.0, min(a[2], b[2]) - max(a[0], b[0]))
    h = max(0.0, min(a[3], b[3]) - max(a[1], b[1]))
    inter = w * h
    union = (a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - inter
    return inter / union if union > 0 else 0.0


def decoded_frames(path: Path) -> Iterator[tuple[av.VideoFrame, float]]:
    """Every frame of the video in presentation order (the decoder's output order) with its time from the first.

    A frame stamped before the first (an open GOP's leading B-frames, which belong before the footage's start) is
    left out; a frame whose stamp does not move forward (AVI files stamp B-frames out of order) keeps its place
    and gets the time one frame after the one before it."""
    try:
        container = av.open(str(path))
    except av.FFmpegError as exc:
        raise RedactionError(f"cannot open {path}: {exc}") from None
    with container:
        if not container.streams.video:
            raise RedactionError(f"{path} has no video")
        stream = container.streams.video[0]
        stream.thread_type = "AUTO"
        step = 1 / float(stream.average_rate or 25)
        first, last_t = None, None
        try:
            for frame in container.decode(stream):
                if first is None:
                    first = frame.pts or 0
                elif frame.pts is not None and frame.pts < first:
                    continue
                t = float((frame.pts - first) * stream.time_base) if frame.pts is not None else None
                if last_t is not None and (t is None or t <= last_t):
                    t = last_t + step
                last_t = t
                yield frame, t
        except av.FFmpegError as exc:
            raise RedactionError(f"cannot decode {path}: {exc}") from None


def plan_redaction(path: Path, detector: Detector, settings: RedactionSettings) -> Plan:
    """The first pass: detector and tracker over every frame of the video at `path`."""
    wanted = set()
    if settings.targets & {"persons", "faces"}:
        wanted |= PERSON_CLASSES
    if "plates" in settings.targets:
        wanted |= VEHICLE_CLASSES
    names = detector.class_names
    wanted_ids = np.array([i for i, name in enumerate(names) if name in wanted], np.int32)
    tracker = Tracker(high_threshold=max(settings.score_threshold, 0.3), low_threshold=0.1,
                      new_track_threshold=max(settings.score_threshold, 0.35), min_hits=1)
    tracks: dict[int, PlannedTrack] = {}
    detections: list[list[tuple[str, tuple[float, float, float, float]]]] = []
    times: list[float] = []
    views: list[View] = []
    frame_size = (0, 0)
    for index, (frame, t) in enumerate(decoded_frames(path)):
        if not views:
            frame_size = (frame.width, frame.height)
            views = [View(region, False) for region in regions(frame_size, detector.input_size, settings.tiles)]
        bgr = frame.to_ndarray(format="bgr24")
        found = _merged([in_frame(v, f, frame_size) for v, f in zip(views, detector.detect(inputs(bgr, views,
                                                                                               detector.input_size)))])
        found = found.select(np.isin(found.class_ids, wanted_ids))
        update = tracker.update(found, t)
        for track in update.active:
            record = tracks.setdefault(track.id, PlannedTrack(track.id, names[track.class_id]))
            record.seen.append((index, tuple(float(v) for v in track.box)))
        strong = found.select(found.scores >= settings.score_threshold)
        detections.append([(names[c], tuple(float(v) for v in box)) for box, c in zip(strong.boxes, strong.class_ids)])
        times.append(t)
    if not times:
        raise RedactionError(f"{path} has no frames")
    fps = (len(times) - 1) / times[-1] if times[-1] > 0 else 25.0
    return Plan(len(times), fps, frame_size, times, tracks, detections)


def _merged(per_view: list[Detections]) -> Detections:
    """Every view's detections as one set, an object seen by two views once (non-maximum suppression per class)."""
    found = [d for d in per_view if len(d)]
    if not found:
        return Detections.empty()
    boxes = np.concatenate([d.boxes for d in found])
    scores = np.concatenate([d.scores for d in found])
    class_ids = np.concatenate([d.class_ids for d in found])
    xywh = np.concatenate([boxes[:, :2], boxes[:, 2:] - boxes[:, :2]], axis=1)
    keep = np.asarray(cv2.dnn.NMSBoxesBatched(xywh, scores, class_ids, 0.0, NMS_IOU), np.int64).reshape(-1)
    return Detections(boxes[keep], scores[keep], class_ids[keep])


def hidden_region(label: str, box: tuple[float, float, float, float], settings: RedactionSettings,
                  frame_size: tuple[int, int]) -> tuple[int, int, int, int] | None:
    """The pixels to hide for one object (padded, within the frame), or None when the targets spare it."""
    x1, y1, x2, y2 = box
    if label in PERSON_CLASSES:
        if "persons" not in settings.targets:
            if "faces" not in settings.targets:
                return None
            y2 = y1 + (y2 - y1) / 3   # the head and shoulders
    elif label in VEHICLE_CLASSES:
        if "plates" not in settings.targets:
            return None
        y1 = (y1 + y2) / 2        # where plates are
    else:
        return None
    pad_x, pad_y = settings.pad * (x2 - x1), settings.pad * (y2 - y1)
    width, height = frame_size
    left, top = max(0, math.floor(x1 - pad_x)), max(0, math.floor(y1 - pad_y))
    right, bottom = min(width, math.ceil(x2 + pad_x)), min(height, math.ceil(y2 + pad_y))
    return (left, top, right, bottom) if right > left and bottom > top else None


def obscure(bgr: np.ndarray, region: tuple[int, int, int, int]) -> None:
    """Replace `region` in place by a few large blocks of its own mean colours, softened: no outline, face or
    shape survives (a finer mosaic keeps a person's silhouette, which a detector, and an eye, still see)."""
    left, top, right, bottom = region
    patch = bgr[top:bottom, left:right]
    h, w = patch.shape[:2]
    small = cv2.resize(patch, (max(1, round(w / h)) if w > h else 1, max(1, round(h / w)) if h > w else 1),
                       interpolation=cv2.INTER_AREA)
    coarse = cv2.resize(small, (w, h), interpolation=cv2.INTER_LINEAR)
    bgr[top:bottom, left:right] = coarse


@dataclass
class Redacted:
    frames: int
    regions_hidden: int
    path: Path


def write_redacted(path: Path, plan: Plan, settings: RedactionSettings, out_path: Path,
                   verifier: Detector | None = None) -> Redacted:
    """The second pass: the video at `path` with the plan's boxes hidden, as H.264 in MP4 at `out_path`.

    With a `verifier` (a detector), each frame is looked at again once hidden, and what it still finds at
    `settings.score_threshold` or more is hidden too, up to `VERIFY_ROUNDS` times: hiding a crowd can make a person
    the first pass found too faintly stand out."""
    per_frame = plan.boxes(settings)
    kept = plan.kept_boxes(settings)
    views = [View(region, False) for region in regions(plan.frame_size, verifier.input_size, settings.tiles)] \
        if verifier else []
    hidden = 0
    rate = max(1, round(plan.fps))
    with av.open(str(out_path), "w", format="mp4") as output:
        stream = output.add_stream("libx264", rate=rate, options={"crf": str(settings.crf), "preset": "veryfast"})
        stream.width, stream.height = plan.frame_size
        stream.pix_fmt = "yuv420p"
        stream.time_base = Fraction(1, 1000)  # milliseconds: the source's frame times, rounded
        for index, (frame, t) in enumerate(decoded_frames(path)):
            if index >= plan.frames:
                break
            bgr = frame.to_ndarray(format="bgr24")
            hidden += _hide(bgr, per_frame[index], settings, plan.frame_size)
            for _round in range(VERIFY_ROUNDS if verifier else 0):
                found = _merged([in_frame(v, f, plan.frame_size) for v, f in
                                 zip(views, verifier.detect(inputs(bgr, views, verifier.input_size)))])
                names = verifier.class_names
                left = [(names[c], tuple(float(v) for v in box)) for box, c, score in
                        zip(found.boxes, found.class_ids, found.scores) if score >= settings.score_threshold]
                left = [item for item in left if not _kept(item[1], kept[index])]
                if not _hide(bgr, left, settings, plan.frame_size):
                    break
                hidden += len(left)
            out = av.VideoFrame.from_ndarray(bgr, format="bgr24")
            out.pts = round(t / stream.time_base)
            output.mux(stream.encode(out))
        output.mux(stream.encode(None))
    return Redacted(plan.frames, hidden, out_path)


def _hide(bgr: np.ndarray, items: list[tuple[str, tuple[float, float, float, float]]], settings: RedactionSettings,
          frame_size: tuple[int, int]) -> int:
    """Obscure what `items` the targets cover; how many."""
    count = 0
    for label, box in items:
        region = hidden_region(label, box, settings, frame_size)
        if region is not None:
            obscure(bgr, region)
            count += 1
    return count


