"""Retention: deletes footage by age, and the oldest footage when the volume runs short of space.

`enforce` applies two rules, in this order:

1. Age. Continuous segments older than their camera's `record.retain_days`; events (row,
   snapshot, clip) older than `storage.event_days` for their label ("default" for the others).
2. Watermark. While the volume's free share is under `storage.min_free`: the oldest continuous
   segments first; once no deletable segment is left, the oldest events.

Nothing protected is ever deleted, by either rule:
- a recording in state 'writing' (the recorder is writing it);
- a recording with keep=1 or upload_pending=1;
- an event with keep=1 or upload_pending=1, or whose clip is protected by the two rules above;
- a continuous segment that overlaps, on the same camera, the window of a protected event: from its
  start minus the camera's pre-roll to its end plus post-roll (now while it is open), widened to
  its clip's span.

Files go before their rows: a crash in between leaves a row without a file (start-up reconciliation
removes it), never a file without a row. Files go first also because on a full volume the database
itself needs the freed space to commit the deletions.
"""
from __future__ import annotations

import bisect
import logging
import shutil
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import NamedTuple

import sqlite_utils

from vigia.appliance.config import Config, Record, Storage
from vigia.appliance.metrics import Metrics
from vigia.appliance.storage import connect
from vigia.appliance.transactions import write_transaction
from vigia.appliance.worker import Worker

log = logging.getLogger(__name__)

REASONS = ("continuous_age", "event_age", "watermark_continuous", "watermark_events")
PROTECTED_ALERT = "disk full of protected footage: continuous recording paused"
DAY = 86400.0
WATERMARK_BATCH = 16   # most items deleted between two measurements of free space
AGE_BATCH = 256        # most items deleted in one transaction by the age rule


class DiskUsage(NamedTuple):
    total: int
    used: int
    free: int


@dataclass
class Tally:
    count: int = 0   # segments, or events (each with its snapshot and clip)
    bytes: int = 0   # file bytes deleted


@dataclass
class RetentionReport:
    free_before: float   # free share of the volume before the pass, 0..1
    free_after: float
    deleted: dict[str, Tally] = field(default_factory=lambda: {reason: Tally() for reason in REASONS})
    failed_files: int = 0        # files that could not be deleted (each logged); their rows are kept
    protected_only: bool = False  # still under the watermark with nothing deletable left
    alert: str | None = None


@dataclass
class ProtectedSpans:
    """Merged, sorted time windows of one camera that continuous footage must not be deleted from."""

    starts: list[float]
    ends: list[float]

    @classmethod
    def merge(cls, windows: list[tuple[float, float]]) -> ProtectedSpans:
        starts: list[float] = []
        ends: list[float] = []
        for start, end in sorted(windows):
            if ends and start <= ends[-1]:
                ends[-1] = max(ends[-1], end)
            else:
                starts.append(start)
                ends.append(end)
        return cls(starts, ends)

    def overlaps(self, start: float, end: float) -> bool:
        # Windows are disjoint and sorted: only the last one starting at or before `end` can reach `start`.
        i = bisect.bisect_right(self.starts, end) - 1
        return i >= 0 and self.ends[i] >= start


def enforce(
    db: sqlite_utils.Database,
    config: Config,
    now: float,
    *,
    disk_usage: Callable[[Path], DiskUsage] = shutil.disk_usage,
) -> RetentionReport:
    """One retention pass: the age rules, then the free-space watermark. See the module docstring."""
    storage = config.storage
    data_dir = storage.data_dir
    records = {camera.name: camera.record for camera in config.cameras}
    failed: set[str] = set()   # ids whose files could not be deleted: not tried again in this pass

    def measure() -> DiskUsage:
        return disk_usage(data_dir)

    before = measure()
    report = RetentionReport(free_before=before.free / before.total, free_after=before.free / before.total)

    latest_cutoff = now - min(record.retain_days for record in [*records.values(), Record()]) * DAY
    old_segments = [
        row for row in _unprotected_segments(db, config, now, ended_before=latest_cutoff)
        if _end(row) < now - records.get(row["camera"], Record()).retain_days * DAY
    ]
    for start in range(0, len(old_segments), AGE_BATCH):
        _delete_segments(db, config, now, old_segments[start:start + AGE_BATCH], report.deleted["continuous_age"], report, failed)

    old_events = [
        row for row in _unprotected_events(db)
        if _end(row) < now - _event_days(storage, row["label"]) * DAY
    ]
    for start in range(0, len(old_events), AGE_BATCH):
        _delete_events(db, data_dir, old_events[start:start + AGE_BATCH], report.deleted["event_age"], report, failed)

    usage = measure()
    if usage.free < storage.min_free * usage.total:
        segments = [row for row in _unprotected_segments(db, config, now) if row["id"] not in failed]
        usage = _drain(
            segments, lambda row: _file_size(data_dir, row["path"]), measure, storage.min_free,
            lambda batch: _delete_segments(db, config, now, batch, report.deleted["watermark_continuous"], report, failed),
        )
    if usage.free < storage.min_free * usage.total:
        events = [row for row in _unprotected_events(db) if row["id"] not in failed]
        usage = _drain(
            events, lambda row: _file_size(data_dir, row["snapshot"]) + _file_size(data_dir, row["clip_path"]),
            measure, storage.min_free,
            lambda batch: _delete_events(db, data_dir, batch, report.deleted["watermark_events"], report, failed),
        )
    report.free_after = usage.free / usage.total

    if usage.free < storage.min_free * usage.total:
        report.protected_only = True
        report.alert = f"{PROTECTED_ALERT} ({report.free_after:.1%} free, {storage.min_free:.0%} wanted)"
        if report.failed_files:
            report.alert += f"; {report.failed_files} files could not be deleted (see log)"
        log.warning("retention: %s", report.alert)
    if any(tally.count for tally in report.deleted.values()):
        log.info(
            "retention: deleted %s; free %.1f%% -> %.1f%%",
            ", ".join(f"{t.count} {reason} ({t.bytes / 1e6:.1f} MB)" for reason, t in report.deleted.items() if t.count),
            100 * report.free_before, 100 * report.free_after,
        )
    return report


def _drain(
    candidates: list[dict],
    size_of: Callable[[dict], int],
    measure: Callable[[], DiskUsage],
    min_free: float,
    delete: Callable[[list[dict]], None],
) -> DiskUsage:
    """Delete candidates in order, in batches just big enough for the deficit, until `min_free` is met."""
    usage = measure()
    i = 0
    while usage.free < min_free * usage.total and i < len(candidates):
        need = min_free * usage.total - usage.free
        batch: list[dict] = []
        size = 0
        while i < len(candidates) and len(batch) < WATERMARK_BATCH and size < need:
            batch.append(candidates[i])
            size += size_of(candidates[i])
            i += 1
        delete(batch)
        usage = measure()
    return usage


def _unprotected_segments(
    db: sqlite_utils.Database, config: Config, now: float,
    ids: list[str] | None = None, ended_before: float | None = None,
) -> list[dict]:
    """Continuous segments nothing protects (complete or damaged), oldest first; only `ids` when given."""
    sql = (
        "select id, camera, path, start, end from recordings"
        " where kind = 'segment' and state != 'writing' and keep = 0 and upload_pending = 0"
    )
    params: list[str | float] = []
    if ids is not None:
        sql += f" and id in ({','.join('?' * len(ids))})"
        params += ids
    if ended_before is not None:
        sql += " and coalesce(end, start) < ?"
        params.append(ended_before)
    spans = _protected_spans(db, config, now)
    empty = ProtectedSpans([], [])
    return [
        row for row in db.query(sql + " order by start", params)
        if not spans.get(row["camera"], empty).overlaps(row["start"], _end(row))
    ]


def _protected_spans(db: sqlite_utils.Database, config: Config, now: float) -> dict[str, ProtectedSpans]:
    """By camera, the windows of events that are kept or waiting for upload (themselves or through their clip)."""
    records = {camera.name: camera.record for camera in config.cameras}
    windows: dict[str, list[tuple[float, float]]] = {}
    rows = db.query(
        "select e.camera, e.started_at, e.ended_at, c.start as clip_start, c.end as clip_end"
        " from events e left join recordings c on c.id = e.clip"
        " where e.keep = 1 or e.upload_pending = 1 or c.keep = 1 or c.upload_pending = 1"
    )
    for row in rows:
        record = records.get(row["camera"], Record())
        start = row["started_at"] - record.pre_roll
        end = (now if row["ended_at"] is None else row["ended_at"]) + record.post_roll
        if row["clip_start"] is not None:
            start = min(start, row["clip_start"])
        if row["clip_end"] is not None:
            end = max(end, row["clip_end"])
        windows.setdefault(row["camera"], []).append((start, end))
    return {camera: ProtectedSpans.merge(spans) for camera, spans in windows.items()}


def _unprotected_events(db: sqlite_utils.Database, ids: list[str] | None = None) -> list[dict]:
    """Events nothing protects, oldest first, with their clip when it is a clip recording; only `ids` when given."""
    sql = (
        "select e.id, e.label, e.started_at as start, e.ended_at as end, e.snapshot, c.id as clip_id, c.path as clip_path"
        " from events e left join recordings c on c.id = e.clip and c.kind = 'clip'"
        " where e.keep = 0 and e.upload_pending = 0"
        " and (c.id is null or (c.keep = 0 and c.upload_pending = 0 and c.state != 'writing'))"
    )
    params: list[str] = []
    if ids is not None:
        sql += f" and e.id in ({','.join('?' * len(ids))})"
        params = ids
    return list(db.query(sql + " order by e.started_at", params))


def _delete_segments(
    db: sqlite_utils.Database, config: Config, now: float, batch: list[dict],
    tally: Tally, report: RetentionReport, failed: set[str],
) -> None:
    # Read again: a guard may have marked an event keep since the candidates were listed.
    rows = _unprotected_segments(db, config, now, [row["id"] for row in batch])
    gone: list[str] = []
    for row in rows:
        size = _remove_file(config.storage.data_dir, row["path"])
        if size is None:
            failed.add(row["id"])
            report.failed_files += 1
            continue
        gone.append(row["id"])
        tally.count += 1
        tally.bytes += size
    if gone:
        with write_transaction(db.conn):
            db.execute(f"delete from recordings where id in ({','.join('?' * len(gone))})", gone)


def _delete_events(
    db: sqlite_utils.Database, data_dir: Path, batch: list[dict],
    tally: Tally, report: RetentionReport, failed: set[str],
) -> None:
    rows = _unprotected_events(db, [row["id"] for row in batch])
    ids = [row["id"] for row in rows]
    clip_ids = [row["clip_id"] for row in rows if row["clip_id"] is not None]
    # A clip that an event outside this batch also points to stays, with its file.
    shared = {
        clip for (clip,) in db.execute(
            f"select clip from events where clip in ({','.join('?' * len(clip_ids))})"
            f" and id not in ({','.join('?' * len(ids))})",
            clip_ids + ids,
        )
    } if clip_ids else set()
    gone_events: list[str] = []
    gone_clips: list[str] = []
    for row in rows:
        clip = row["clip_id"] if row["clip_id"] not in shared else None
        sizes = [_remove_file(data_dir, row["snapshot"]), _remove_file(data_dir, row["clip_path"] if clip else None)]
        if None in sizes:
            failed.add(row["id"])
            report.failed_files += sizes.count(None)
            continue
        gone_events.append(row["id"])
        if clip:
            gone_clips.append(clip)
        tally.count += 1
        tally.bytes += sum(sizes)
    if gone_events:
        with write_transaction(db.conn):
            marks = ','.join('?' * len(gone_events))
            db.execute(f"delete from event_comments where event_id in ({marks})", gone_events)
            db.execute(f"delete from events where id in ({marks})", gone_events)
            if gone_clips:
                db.execute(f"delete from recordings where id in ({','.join('?' * len(gone_clips))})", gone_clips)


def _remove_file(data_dir: Path, relative: str | None) -> int | None:
    """Delete a file given relative to the data directory: its size (0 when already missing), None when it stays."""
    if not relative:
        return 0
    path = _inside(data_dir, relative)
    if path is None:
        log.error("retention: not deleting %r: the path leaves the data directory", relative)
        return None
    try:
        size = path.lstat().st_size
        path.unlink()
    except FileNotFoundError:
        return 0
    except OSError as exc:
        log.error("retention: cannot delete %s: %s", path, exc.strerror or exc)
        return None
    return size


def _file_size(data_dir: Path, relative: str | None) -> int:
    path = _inside(data_dir, relative) if relative else None
    try:
        return path.lstat().st_size if path else 0
    except OSError:
        return 0


def _inside(data_dir: Path, relative: str) -> Path | None:
    path = Path(relative)
    return None if path.is_absolute() or ".." in path.parts else data_dir / path


def _end(row: dict) -> float:
    return row["start"] if row["end"] is None else row["end"]


def _event_days(storage: Storage, label: str) -> float:
    days = storage.event_days
    if label in days:
        return days[label]
    return days.get("default", Storage.model_fields["event_days"].default["default"])


class RetentionWorker(Worker):
    """Runs `enforce` on a thread of its own: when started, every `interval` seconds, and at once when poked.

    It opens its own connection to the database. After each pass it updates `metrics` (when given)
    and calls `on_report`, where the runtime pauses continuous recording while `protected_only`.
    """

    def __init__(
        self,
        database: str | Path,
        config: Config,
        *,
        interval: float = 60.0,
        on_report: Callable[[RetentionReport], None] | None = None,
        metrics: Metrics | None = None,
    ):
        super().__init__("retention")
        self._database = Path(database)
        self._config = config
        self._interval = interval
        self._on_report = on_report
        self._metrics = metrics
        if metrics is not None:
            for reason in REASONS:
                metrics.retention_deleted_bytes.labels(reason)  # every reason shows, 0 until something goes
        self._wake = threading.Event()

    def poke(self) -> None:
        """Run a pass now (the recorder calls this when a write fails with ENOSPC)."""
        self._wake.set()

    def stop(self) -> None:
        super().stop()
        self._wake.set()

    def run(self) -> None:
        db = None
        try:
            while not self.stopping.is_set():
                self._wake.clear()  # a poke during the pass runs another one right after
                try:
                    if db is None:
                        db = connect(self._database)
                    self._publish(enforce(db, self._config, time.time()))
                except Exception:  # the thread must outlive a bad pass: log, try again next time
                    log.exception("retention pass failed; next try in %.0f s or when poked", self._interval)
                self._wake.wait(self._interval)
        finally:
            if db is not None:
                db.conn.close()

    def _publish(self, report: RetentionReport) -> None:
        if self._metrics is not None:
            for reason, tally in report.deleted.items():
                if tally.bytes:
                    self._metrics.retention_deleted_bytes.labels(reason).inc(tally.bytes)
            self._metrics.disk_free_ratio.set(report.free_after)
            self._metrics.recording_paused.set(int(report.protected_only))
        if self._on_report is not None:
            self._on_report(report)
