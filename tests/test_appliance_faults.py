"""The appliance under faults, with real processes and real files: a power cut and a full disk."""
from __future__ import annotations

import logging
import shutil
import signal
import sqlite3
import subprocess
import sys
import threading
import time
from pathlib import Path

import av
import pytest
from support.servers import free_port
from support.volumes import tmpfs
from support.waiting import wait_for

from vigia.app.appliance import Appliance
from vigia.appliance.config import parse_config
from vigia.appliance.encryption import EncryptedWriter, load_or_create_key, open_media
from vigia.appliance.recording.reconcile import reconcile
from vigia.appliance.storage import connect

CAMERA = "lobby"


def config_text(clip: Path, model: Path, data_dir: Path, port: int, min_free: float = 0.10,
                segment_seconds: float = 2) -> str:
    return f"""
cameras:
  - name: {CAMERA}
    url: {clip}
    loop: true
    realtime: true
    record: {{mode: continuous, segment_seconds: {segment_seconds}}}
detector:
  model: {model}
storage:
  data_dir: {data_dir}
  min_free: {min_free}
http:
  port: {port}
"""


def query(database: Path, sql: str, params=()) -> list[tuple]:
    """Rows from a read-only connection of our own ([] while the database does not exist yet)."""
    if not database.exists():
        return []
    conn = sqlite3.connect(f"file:{database}?mode=ro", uri=True, timeout=5)
    try:
        return conn.execute(sql, params).fetchall()
    except sqlite3.OperationalError:  # not migrated yet
        return []
    finally:
        conn.close()


def integrity(database: Path) -> str:
    conn = sqlite3.connect(database)
    try:
        return conn.execute("PRAGMA integrity_check").fetchone()[0]
    finally:
        conn.close()


def decoded_frames(path: Path, key: bytes) -> int:
    """Decode every frame of a recorded segment; raises on anything unreadable."""
    with open_media(path, key) as media, av.open(media) as container:
        return sum(1 for _ in container.decode(container.streams.video[0]))


class Vigia:
    """`vigia run -c FILE` as a child process, its log in a file."""

    def __init__(self, config: Path, log: Path):
        self.log = log
        self._out = open(log, "ab")
        self.proc = subprocess.Popen([sys.executable, "-m", "vigia.app.cli.main", "run", "-c", str(config)],
                                     stdout=self._out, stderr=subprocess.STDOUT)

    def tail(self, chars: int = 4000) -> str:
        return self.log.read_text(errors="replace")[-chars:]

    def alive(self) -> bool:
        return self.proc.poll() is None

    def end(self, sig: int, timeout: float = 20) -> int:
        if self.proc.poll() is None:
            self.proc.send_signal(sig)
        try:
            return self.proc.wait(timeout)
        finally:
            if self.proc.poll() is None:
                self.proc.kill()
                self.proc.wait()
            self._out.close()


def test_power_cut_during_recording(tmp_path, demo_clip, default_model):
    data_dir = tmp_path / "data"
    config = tmp_path / "vigia.yaml"
    config.write_text(config_text(demo_clip, default_model, data_dir, free_port()))
    database = data_dir / "vigia.db"

    first = Vigia(config, tmp_path / "first.log")
    try:
        def ready() -> bool:
            assert first.alive(), first.tail()
            states = dict(query(database, "select state, count(*) from recordings where kind = 'segment' group by state"))
            writing = query(database, "select path from recordings where state = 'writing'")
            return (states.get("complete", 0) >= 1 and len(writing) == 1 and (data_dir / writing[0][0]).exists()
                    and bool(query(database, "select 1 from events limit 1")))

        assert wait_for(ready, 25), first.tail()
        events_before = {row[0] for row in query(database, "select id from events")}
        segments_before = dict(query(database, "select id, state from recordings"))
        (cut,) = [id for id, state in segments_before.items() if state == "writing"]
    finally:
        killed = first.end(signal.SIGKILL)  # the power cut
    assert killed == -signal.SIGKILL, first.tail()
    assert integrity(database) == "ok"

    second = Vigia(config, tmp_path / "second.log")
    try:
        def recording_again() -> bool:
            assert second.alive(), second.tail()
            return bool(query(database, f"select 1 from recordings where state = 'writing' and id not in"
                                        f" ({','.join('?' * len(segments_before))})", list(segments_before)))

        assert wait_for(recording_again, 20), second.tail()
        time.sleep(3)
    finally:
        stopped = second.end(signal.SIGTERM)
    assert stopped == 0, second.tail()

    assert integrity(database) == "ok"
    rows = {id: (state, path, start, end) for id, state, path, start, end
            in query(database, "select id, state, path, start, end from recordings")}
    assert [id for id, (state, *_) in rows.items() if state == "writing"] == []
    assert rows[cut][0] in ("complete", "damaged"), rows[cut]
    for id, state in segments_before.items():
        if state == "complete":
            assert rows[id][0] == "complete", f"segment {id} completed before the cut is {rows[id][0]} now"
    key = (data_dir / "keys" / "media.key").read_bytes()
    complete = {id: row for id, row in rows.items() if row[0] == "complete"}
    for id, (_, path, start, end) in complete.items():
        assert end is not None and end > start, (id, start, end)
        assert decoded_frames(data_dir / path, key) > 0, path
    resumed = [id for id in complete if id not in segments_before]
    assert resumed, "recording resumed by itself after the restart"
    events_after = {row[0] for row in query(database, "select id from events")}
    assert events_before and events_before <= events_after, events_before - events_after
    print(f"cut segment is {rows[cut][0]}; {len(complete)} complete segments ({len(resumed)} after the restart);"
          f" {len(events_before)} events from before the cut kept")


def test_reconcile_survives_a_segment_cut_before_its_first_chunk(tmp_path):
    """A power cut before an encrypted segment's first 64 KiB chunk leaves only the file header:
    start-up marks it damaged instead of failing (it raised ValueError from a seek to -1)."""
    key = load_or_create_key(tmp_path / "keys" / "media.key")
    db = connect(tmp_path / "vigia.db")
    relative = "media/lobby/2026-01-01/00-00-00-x.mp4"
    db.execute("insert into recordings (id, camera, kind, path, start, state, encrypted)"
               " values ('x', 'lobby', 'segment', ?, 1.0, 'writing', 1)", [relative])
    (tmp_path / relative).parent.mkdir(parents=True)
    writer = EncryptedWriter(tmp_path / relative, key)
    writer.write(b"\x00\x00\x00\x18ftypisom" + bytes(1000))  # held in memory, never closed: the cut
    assert reconcile(db, tmp_path, key) == {"completed": 0, "damaged": 1, "missing": 0, "orphans": 0}
    assert db.execute("select state from recordings where id = 'x'").fetchone() == ("damaged",)


# -- disk full --------------------------------------------------------------------------------

VOLUME = "8m"
RETENTION_INTERVAL_S = 1.0


@pytest.fixture()
def small_volume(tmp_path):
    """A small tmpfs as the whole data directory (database, key, media, snapshots).

    The demo clip makes ~220 kB/s of footage and, its crowd being all events, ~100 kB snapshots
    at ~150 kB/s (20 of them in the first second): 8 MiB reaches a 30 % free watermark in ~10 s
    and would be full in ~15 s.
    """
    with tmpfs(tmp_path / "volume", VOLUME) as mount:
        yield mount


def test_disk_full_retention_keeps_the_volume_usable(small_volume, demo_clip, default_model, caplog):
    caplog.set_level(logging.INFO)
    config = parse_config(config_text(demo_clip, default_model, small_volume, free_port(), min_free=0.3))
    database = config.storage.database
    # The runtime's pass every 60 s (and at once when a recorder write fails with ENOSPC) is for
    # real disks; this volume is a few seconds of footage.
    appliance = Appliance(config, retention_interval=RETENTION_INTERVAL_S)
    lowest_free = 1.0
    seen: dict[str, float] = {}   # segment id -> start
    gone: set[str] = set()
    not_online: list[str] = []
    try:
        appliance.start()
        assert wait_for(lambda: appliance.statuses.get(CAMERA) and appliance.statuses[CAMERA].state == "online", 10)
        started = time.monotonic()
        while time.monotonic() - started < 20:
            usage = shutil.disk_usage(small_volume)
            lowest_free = min(lowest_free, usage.free / usage.total)
            if appliance.statuses[CAMERA].state != "online":
                not_online.append(appliance.statuses[CAMERA].state)
            rows = dict(query(database, "select id, start from recordings where kind = 'segment'"))
            gone |= seen.keys() - rows.keys()
            seen.update(rows)
            assert [t.name for t in appliance._threads if not t.is_alive()] == []
            assert {"retention", "event-writer", "snapshot-writer"} <= {t.name for t in threading.enumerate()}
            time.sleep(0.2)
    finally:
        appliance.stop()

    sample = appliance.metrics.registry.get_sample_value
    deleted = {reason: sample("vigia_retention_deleted_bytes_total", {"reason": reason}) or 0
               for reason in ("continuous_age", "event_age", "watermark_continuous", "watermark_events")}
    errors = [f"{r.name}: {r.getMessage()}" for r in caplog.records if r.levelno >= logging.ERROR]
    assert errors == [], "the volume never ran out of space: " + "\n".join(errors[:10])
    assert lowest_free > 0.1, lowest_free
    assert not_online == [], "the camera stayed online"
    assert sum(deleted.values()) > 0 and deleted["watermark_continuous"] > 0, deleted
    left = dict(query(database, "select id, state from recordings where kind = 'segment'"))
    assert gone and len(seen) >= 4, ("recording went on while retention deleted footage", len(seen), len(gone))
    assert set(left.values()) == {"complete"}, left
    newest_gone = max(seen[id] for id in gone)
    assert all(seen[id] > newest_gone for id in left if id in seen), "the oldest segments went first"
    assert integrity(database) == "ok"
