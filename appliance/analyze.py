"""Offline analysis of one video file, as fast as the machine goes: `vigia analyze VIDEO --json`.

The same pipeline as a live camera (gating, detector pool, tracker, rules), with times in
seconds of video and nothing dropped: when the detector is behind, decoding waits. Every frame
is decoded (`frames` counts the video's frames) unless `skip_nonreference` asks for what a live
camera does (camera.detect.skip_nonreference: only reference frames while they suffice).
"""
from __future__ import annotations

import os
import threading
from dataclasses import dataclass, field
from pathlib import Path

from vigia.appliance.cameras import CameraSource, CameraStatus
from vigia.appliance.config import Camera, Config
from vigia.appliance.metrics import Metrics
from vigia.appliance.pipeline import CameraPipeline
from vigia.inference.pool import DetectorPool
from vigia.inference.tracking import TrackerUpdate
from vigia.inference.types import Detector
from vigia.scene.events import EventChange


class MediaError(Exception):
    """The video could not be read."""


@dataclass
class TrackRecord:
    id: int
    label: str
    first_seen: float
    last_seen: float
    max_score: float
    # (t, box px) at each analysis while the track lived, kept only when asked (benchmarks)
    boxes: list[tuple[float, tuple[float, float, float, float]]] = field(default_factory=list)

    def summary(self) -> dict:
        return {
            "id": self.id, "label": self.label, "first_seen": round(self.first_seen, 3),
            "last_seen": round(self.last_seen, 3), "max_score": round(self.max_score, 3),
        }


@dataclass
class Analysis:
    frames: int
    detector_calls: int
    tracks: list[TrackRecord]
    events: list[EventChange]

    def to_json(self) -> dict:
        closed = {c.event.id: c.event for c in self.events}
        return {
            "frames": self.frames,
            "tracks": [t.summary() for t in self.tracks],
            "events": [e.summary() for e in sorted(closed.values(), key=lambda e: (e.start, e.id))],
        }


def analysis_camera(video: Path, config: Config | None, camera_name: str | None) -> Camera:
    """The camera whose zones and rules apply: from the config (by name, or the first), or a bare one."""
    if config is None:
        return Camera(name="video", url=str(video), realtime=False)
    cameras = [c for c in config.cameras if camera_name in (None, c.name)]
    if not cameras:
        raise ValueError(f"no camera named {camera_name!r} in the config")
    return cameras[0].model_copy(update={"url": str(video), "realtime": False, "loop": False})


def analyze(
    video: Path,
    camera: Camera,
    detector: Detector,
    kept_classes: list[str],
    *,
    gate: bool = True,
    workers: int | None = None,
    keep_boxes: bool = False,
    skip_nonreference: bool = False,
) -> Analysis:
    if not video.is_file():
        raise MediaError(f"{video}: no such file")
    tracks: dict[int, TrackRecord] = {}
    changes: list[EventChange] = []
    statuses: list[CameraStatus] = []

    def on_tracks(t: float, update: TrackerUpdate) -> None:
        for track in update.active:
            record = tracks.get(track.id)
            if record is None:
                record = tracks[track.id] = TrackRecord(
                    track.id, detector.class_names[track.class_id], track.first_seen, track.last_seen, track.max_score
                )
            record.label = detector.class_names[track.class_id]  # the best-scored of the classes it was seen as
            record.last_seen = track.last_seen
            record.max_score = max(record.max_score, float(track.max_score))
            if keep_boxes:
                record.boxes.append((t, tuple(map(float, track.box))))
        if keep_boxes:
            for track in update.lost:  # still followed, by prediction
                if track.id in tracks:
                    tracks[track.id].boxes.append((t, tuple(map(float, track.box))))

    stop = threading.Event()

    def on_status(status: CameraStatus) -> None:
        statuses.append(status)
        if status.state in ("offline", "reconnecting"):
            stop.set()  # a file that fails once will fail again: report it instead of retrying

    frames = 0

    def counted(source: CameraSource):
        nonlocal frames
        for decoded in source.frames(stop):
            frames += 1
            yield decoded

    pool = DetectorPool(detector, workers=workers or os.cpu_count() or 1)
    pipeline = CameraPipeline(
        camera=camera, pool=pool, input_size=detector.input_size, class_names=detector.class_names,
        kept_classes=kept_classes, metrics=Metrics.create(), on_change=changes.append, on_tracks=on_tracks,
        gate=gate, drop_when_behind=False,
    )
    try:
        analysis_fps = camera.detect.fps if skip_nonreference and camera.detect.skip_nonreference else None
        pipeline.run(counted(CameraSource(camera.name, camera.url, loop=False, realtime=False, on_status=on_status,
                                          analysis_fps=analysis_fps)))
    finally:
        pool.close()
    failures = [s for s in statuses if s.state in ("offline", "reconnecting")]
    if failures:
        raise MediaError(failures[-1].last_error or f"{video}: not a readable video")
    return Analysis(frames, pipeline.detector_calls, sorted(tracks.values(), key=lambda t: t.id), changes)
