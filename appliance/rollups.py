"""What an enrolled appliance tells central besides events: track summaries and metrics roll-ups.

Both are outbox state records (vigia.appliance.outbox, PRIORITY_STATE: the first dropped when the
outbox is full), queued through the EventWriter so they are stored in its transactions.
"""
from __future__ import annotations

import importlib.metadata
import logging
import shutil
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from vigia.appliance.metrics import Metrics
from vigia.appliance.outbox import PRIORITY_STATE, OutboxRecord, backlog
from vigia.appliance.storage import database
from vigia.appliance.worker import Worker
from vigia.inference.tracking import TrackerUpdate

log = logging.getLogger(__name__)

MIN_TRACK_S = 1.0       # tracks shorter than this (stream time) are not summarised: flicker, not objects
MAX_PATH_POINTS = 16    # a summary's path: at most this many [t, x, y] points, first and last kept
ROLLUP_COUNTERS = ("frames_in", "frames_analysed", "frames_dropped", "events")  # Metrics fields, per camera

Put = Callable[[OutboxRecord], None]


def thin(path: list, limit: int) -> list:
    """At most `limit` points of `path`, evenly spaced by index, first and last kept."""
    n = len(path)
    if n <= limit:
        return path
    return [path[round(i * (n - 1) / (limit - 1))] for i in range(limit)]


Point = tuple[float, float, float]  # seconds since first seen, normalised anchor x, y


def anchor_point(seconds: float, box, frame_size: tuple[int, int]) -> Point:
    """A path point: the box's anchor (bottom centre) at `seconds` since the track was first seen."""
    width, height = frame_size
    x1, _, x2, y2 = (float(v) for v in box)
    return round(seconds, 3), round((x1 + x2) / 2 / width, 4), round(y2 / height, 4)


@dataclass
class _Seen:
    first_seen_at: float    # wall clock
    last_seen_at: float
    first: Point | None     # the first detection's, while tentative (None: confirmed at once)
    path: list[Point]       # every stride-th update's since confirmation
    last: Point             # the latest point
    updates: int = 0
    stride: int = 1         # doubles whenever the path is halved: it stays even in time

    def points(self) -> list[Point]:
        """From the first detection to the latest: a track that lived has at least its first and last point."""
        return [*([self.first] if self.first else []), *self.path[:-1], self.last]


class TrackSummaries:
    """One camera's tracks, summarised for central as they end; fed from the camera's thread.

    While a track lives it keeps two times and at most 4 * MAX_PATH_POINTS anchor points.
    """

    def __init__(self, camera: str, class_names: list[str], put: Put, min_seconds: float = MIN_TRACK_S):
        self.camera, self.class_names, self.put, self.min_seconds = camera, class_names, put, min_seconds
        self.queued = 0  # summaries put so far
        self._live: dict[int, _Seen] = {}

    def update(self, pts: float, wall: float, frame_size: tuple[int, int], update: TrackerUpdate) -> None:
        """Follow the tracks matched at stream time `pts` (`wall` on the clock); summarise those that ended."""
        for track in update.active:
            point = anchor_point(pts - track.first_seen, track.box, frame_size)
            seen = self._live.get(track.id)
            if seen is None:  # confirmed now: its path starts where it was first detected, tentative as it was
                first = anchor_point(0.0, track.first_box, frame_size) if pts > track.first_seen else None
                seen = self._live[track.id] = _Seen(wall - (pts - track.first_seen), wall, first, [], point)
            seen.last_seen_at, seen.last = wall, point
            if seen.updates % seen.stride == 0:
                seen.path.append(point)
                if len(seen.path) >= 4 * MAX_PATH_POINTS:
                    seen.path, seen.stride = seen.path[::2], seen.stride * 2
            seen.updates += 1
        for track in update.ended:
            seen = self._live.pop(track.id, None)
            seconds = track.last_seen - track.first_seen
            if seen is None or seconds < self.min_seconds:
                continue
            key = f"{self.camera}:{track.id}:{seen.first_seen_at:.3f}"  # ids start again at 1 after a restart
            self.put(OutboxRecord("track", key, PRIORITY_STATE, {
                "camera": self.camera, "track_id": track.id, "label": self.class_names[track.class_id],
                "first_seen_at": round(seen.first_seen_at, 3), "last_seen_at": round(seen.last_seen_at, 3),
                "seconds": round(seconds, 3), "max_score": round(float(track.max_score), 4), "hits": track.hits,
                "path": [list(p) for p in thin(seen.points(), MAX_PATH_POINTS)],
            }))
            self.queued += 1


class MetricsRollups(Worker):
    """Roll-ups of the appliance's counters: one at start, one every `interval` seconds, one at stop.

    Each carries the per-camera counts since the one before, the version, the detector's model (as configured:
    a name or sha256 prefix in the model store, or a path), with a running detector the model in service and its
    live health since the roll-up before (`model_health`: id, detections per hour per label, mean score, inference
    ms, errors: vigia.inference.swappable), the outbox backlog, the data volume's free and total bytes
    and the uptime. `start()` runs them on a thread of its own.
    """

    def __init__(self, metrics: Metrics, database: Path, data_dir: Path, put: Put, interval: float = 3600.0,
                 model: str | None = None, model_health: Callable[[float], dict] | None = None):
        super().__init__("metrics-rollups")
        self.metrics, self.database, self.data_dir, self.put, self.interval = metrics, database, data_dir, put, interval
        self.model, self.model_health = model, model_health
        self.version = importlib.metadata.version("vigia")
        self.started_at = self._since = time.time()
        self._previous: dict[tuple[str, str], float] = {}

    def record(self, now: float | None = None) -> OutboxRecord:
        """The roll-up of the counts since the previous one (or since start)."""
        now = time.time() if now is None else now
        totals = self._totals()
        cameras: dict[str, dict[str, int]] = {}
        for (camera, name), value in totals.items():
            counts = cameras.setdefault(camera, dict.fromkeys(ROLLUP_COUNTERS, 0))
            counts[name] = round(value - self._previous.get((camera, name), 0.0))
        with database(self.database) as db:
            pending = backlog(db.conn).records
        disk = shutil.disk_usage(self.data_dir)
        body = {"version": self.version, "model": self.model, "period_start": round(self._since, 3), "period_end": round(now, 3),
                "uptime_s": round(now - self.started_at, 3), "backlog": pending,
                "disk_free_bytes": disk.free, "disk_total_bytes": disk.total, "cameras": cameras}
        if self.model_health is not None:
            body["model_health"] = self.model_health(now)
        self._previous, self._since = totals, now
        return OutboxRecord("metrics", f"{now:.3f}", PRIORITY_STATE, body)

    def _totals(self) -> dict[tuple[str, str], float]:
        """Each camera's counter totals (events summed over rules)."""
        totals: dict[tuple[str, str], float] = {}
        for name in ROLLUP_COUNTERS:
            for family in getattr(self.metrics, name).collect():
                for sample in family.samples:
                    if sample.name.endswith("_total"):
                        key = (sample.labels["camera"], name)
                        totals[key] = totals.get(key, 0.0) + sample.value
        return totals

    def run(self) -> None:
        while True:
            try:
                self.put(self.record())
            except Exception:  # the thread must outlive a bad roll-up: log, try again next time
                log.exception("metrics roll-up failed; next try in %.0f s", self.interval)
            if self.stopping.is_set():
                return  # that was the last one: the counts since the one before
            self.stopping.wait(self.interval)
