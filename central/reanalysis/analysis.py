"""Central's look at one clip: every frame at full resolution through the views (`views`), an offline tracker,
and the camera's own zones and rules, so what central finds is said in the edge's words (events of its rules).

"Offline" here means the tracker sees every decoded frame of the whole clip (the edge sees about 5 a second,
gated by motion), and only tracks that lived at least `MIN_TRACK_S` count.
"""
from __future__ import annotations

import time
from dataclasses import dataclass, field
from pathlib import Path

import av
import numpy as np

from vigia.central.reanalysis.views import ViewSettings, fuse
from vigia.inference.tiles import View, in_frame, inputs, regions
from vigia.inference.tracking import Track, Tracker
from vigia.inference.types import Detector
from vigia.scene.events import Event
from vigia.scene.layout import CameraLayout
from vigia.scene.rules import RuleEngine

MIN_TRACK_S = 1.0
LOW_CONFIDENCE = (0.3, 0.5)   # fused detections in this range make a frame a hard example
START_TAG = "vigia_start"      # the clip's metadata: wall-clock time of its first frame (epoch seconds)


class ClipError(Exception):
    """The clip cannot be decoded (corrupt, not a video): the job cannot succeed by retrying."""


@dataclass
class CentralTrack:
    id: int
    label: str
    first_seen: float             # clip seconds
    last_seen: float
    max_score: float
    best_t: float
    best_box: tuple[float, float, float, float]   # frame pixels
    boxes: list[tuple[float, tuple[float, float, float, float]]] = field(default_factory=list)  # (t, box) each frame

    @property
    def duration(self) -> float:
        return self.last_seen - self.first_seen

    def box_at(self, t: float, tolerance: float) -> tuple[float, float, float, float] | None:
        """The box of the frame nearest `t`, when one is within `tolerance` seconds."""
        if not self.boxes or t < self.first_seen - tolerance or t > self.last_seen + tolerance:
            return None
        times = np.fromiter((b[0] for b in self.boxes), float, len(self.boxes))
        i = int(np.argmin(np.abs(times - t)))
        return self.boxes[i][1] if abs(times[i] - t) <= tolerance else None


@dataclass
class ClipAnalysis:
    frames: int
    frame_size: tuple[int, int]
    duration: float               # clip seconds
    clip_start: float | None      # wall clock of the first frame, from the clip's metadata when it has it
    tracks: list[CentralTrack]    # lived at least MIN_TRACK_S
    events: list[Event]           # the camera's rules over those tracks (clip seconds, wall clock from clip_start)
    low_confidence_times: list[float]   # frames with detections central is unsure of
    detector_s: float             # CPU seconds inside the detector
    total_s: float                # CPU seconds of the whole analysis


def clip_start_of(path: Path) -> float | None:
    """The wall-clock start an appliance wrote into its clip (None for a clip without it)."""
    try:
        with av.open(str(path)) as container:
            value = container.metadata.get(START_TAG)
    except av.FFmpegError as exc:
        raise ClipError(f"cannot read the clip: {exc}") from None
    try:
        return float(value) if value is not None else None
    except ValueError:
        return None


def analyse_clip(path: Path, detector: Detector, layout: CameraLayout, kept_classes: list[str],
                 settings: ViewSettings = ViewSettings(), clip_start: float | None = None) -> ClipAnalysis:
    """Every frame of the clip at `path` through the views, the tracker and the camera's rules.

    `clip_start` (wall clock of the first frame) defaults to what the clip says; the events' wall clock
    starts at 0 when neither knows it."""
    started_cpu = time.process_time()
    start = clip_start if clip_start is not None else clip_start_of(path)
    tracker = Tracker()
    engine: RuleEngine | None = None
    views: list[View] = []
    records: dict[int, CentralTrack] = {}
    events: dict[str, Event] = {}
    low_times: list[float] = []
    detector_s = 0.0
    frames, frame_size, t, first_pts, last_pts = 0, (0, 0), 0.0, None, None
    class_names = detector.class_names
    kept_ids = {i for i, name in enumerate(class_names) if name in kept_classes}
    try:
        container = av.open(str(path))
    except av.FFmpegError as exc:
        raise ClipError(f"cannot open the clip: {exc}") from None
    with container:
        stream = container.streams.video[0]
        stream.thread_type = "AUTO"
        try:
            for frame in container.decode(stream):
                if frame.pts is None or (first_pts is not None and frame.pts <= last_pts):
                    continue  # no time, or before a frame already analysed (an open GOP's leading B-frames)
                first_pts = frame.pts if first_pts is None else first_pts
                last_pts = frame.pts
                t = float((frame.pts - first_pts) * stream.time_base)
                if engine is None:
                    frame_size = (frame.width, frame.height)
                    tiled = regions(frame_size, detector.input_size, settings.tiles, settings.tile_overlap)
                    views = [View(r, flipped) for r in tiled for flipped in ((False, True) if settings.flip else (False,))]
                    engine = RuleEngine(layout, frame_size, class_names, kept_classes)
                bgr = frame.to_ndarray(format="bgr24")
                batch = inputs(bgr, views, detector.input_size)
                cpu = time.process_time()
                found = detector.detect(batch)
                detector_s += time.process_time() - cpu
                fused = fuse([in_frame(v, f, frame_size) for v, f in zip(views, found)], frame_size, settings)
                fused = fused.select(np.isin(fused.class_ids, list(kept_ids)))
                if ((fused.scores >= LOW_CONFIDENCE[0]) & (fused.scores < LOW_CONFIDENCE[1])).any():
                    low_times.append(t)
                update = tracker.update(fused, t)
                for track in update.active:
                    _record(records, track, class_names, t)
                for change in engine.update(t, (start or 0.0) + t, update):
                    events[change.event.id] = change.event
                frames += 1
        except av.FFmpegError as exc:
            if frames == 0:
                raise ClipError(f"cannot decode the clip: {exc}") from None
            # a clip cut short still counts up to where it breaks
    if engine is None:
        raise ClipError("the clip has no video frames")
    tracker.flush(t)
    for change in engine.finish(t, (start or 0.0) + t):
        events[change.event.id] = change.event
    long_enough = [r for r in records.values() if r.duration >= MIN_TRACK_S]
    kept_tracks = {r.id for r in long_enough}
    return ClipAnalysis(
        frames=frames, frame_size=frame_size, duration=t, clip_start=start, tracks=long_enough,
        events=[e for e in events.values() if e.track_id is None or e.track_id in kept_tracks],
        low_confidence_times=low_times, detector_s=detector_s, total_s=time.process_time() - started_cpu)


def _record(records: dict[int, CentralTrack], track: Track, class_names: list[str], t: float) -> None:
    box = tuple(float(v) for v in track.box)
    record = records.get(track.id)
    if record is None:
        record = records[track.id] = CentralTrack(track.id, class_names[track.class_id], t, t, track.score, t, box)
    record.last_seen = t
    record.boxes.append((t, box))
    if track.score > record.max_score:
        record.max_score, record.best_t, record.best_box = float(track.score), t, box
