"""Retention on a real, small tmpfs: real files, real SQLite, the real free space of the volume.

The database lives on the ordinary disk (tmp_path), not on the tmpfs: in production it is small and
sits in the data directory, but here the tmpfs holds media only, so a test controls exactly how full
the volume is and the database's own pages never decide when a write fails.
"""
import errno
import logging
import os
import queue
import shutil
import threading
import time
from pathlib import Path

import pytest
from support.volumes import tmpfs

from vigia.appliance.config import Camera, Config, Record, Storage
from vigia.appliance.metrics import Metrics
from vigia.appliance.retention import PROTECTED_ALERT, REASONS, DiskUsage, RetentionWorker, Tally, enforce
from vigia.appliance.storage import connect
from vigia.scene.events import new_event_id

NOW = 1_700_000_000.0
DAY = 86400.0
KB = 1024
SEGMENT = 64 * KB
SNAPSHOT = 4 * KB
CLIP = 32 * KB


@pytest.fixture
def volume(tmp_path):
    """A 4 MiB tmpfs as the data directory, unmounted at the end whatever happened."""
    with tmpfs(tmp_path / "data", "4m") as mountpoint:
        yield mountpoint


@pytest.fixture
def db(tmp_path):
    database = connect(tmp_path / "vigia.db")  # on the ordinary disk: see the module docstring
    yield database
    database.conn.close()


def make_config(data_dir: Path, *, min_free=0.10, retain=None, event_days=None) -> Config:
    retain = retain or {"gate": 7.0, "yard": 7.0}
    cameras = [Camera(name=name, url=f"/clips/{name}.mp4", record=Record(retain_days=days)) for name, days in retain.items()]
    storage = Storage(data_dir=data_dir, min_free=min_free, event_days=event_days or {"default": 30.0}, encrypt=False)
    return Config(cameras=cameras, storage=storage)


def write_file(path: Path, size: int) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(b"\0" * size)


def add_recording(db, data_dir, camera, start, size=SEGMENT, *, kind="segment", seconds=10.0, state="complete",
                  keep=0, upload_pending=0) -> str:
    day = time.strftime("%Y-%m-%d", time.gmtime(start))
    path = f"media/{camera}/{day}/{kind}-{start:.0f}.mp4"
    write_file(data_dir / path, size)
    rec_id = f"{kind}-{camera}-{start:.0f}"
    db["recordings"].insert({
        "id": rec_id, "camera": camera, "kind": kind, "path": path, "start": start,
        "end": None if state == "writing" else start + seconds, "bytes": size, "state": state,
        "keep": keep, "upload_pending": upload_pending,
    })
    return rec_id


def add_event(db, data_dir, camera, started_at, *, label="person", seconds=20.0, keep=0, upload_pending=0,
              clip=True) -> str:
    """An event with a snapshot file and (unless clip=False) a clip recording with pre- and post-roll."""
    event_id = new_event_id(started_at)
    snapshot = f"snapshots/{camera}/{event_id}.jpg"
    write_file(data_dir / snapshot, SNAPSHOT)
    clip_id = add_recording(db, data_dir, camera, started_at - 5, CLIP, kind="clip", seconds=seconds + 15) if clip else None
    db["events"].insert({
        "id": event_id, "camera": camera, "rule": "entry", "kind": "enter", "label": label, "start": 0.0,
        "started_at": started_at, "ended_at": started_at + seconds, "max_score": 0.8, "snapshot": snapshot,
        "clip": clip_id, "keep": keep, "upload_pending": upload_pending,
    })
    return event_id


def free_share(path: Path) -> float:
    usage = shutil.disk_usage(path)
    return usage.free / usage.total


def fill(db, data_dir, camera, start, *, until=0.06, **segment) -> list[str]:
    """Segments 10 s apart until the volume's free share falls under `until`; their ids, oldest first."""
    ids = []
    while free_share(data_dir) >= until:
        ids.append(add_recording(db, data_dir, camera, start + 10 * len(ids), **segment))
    return ids


def ids(db, table) -> set[str]:
    return {row["id"] for row in db.query(f"select id from {table}")}


def event_files(db, data_dir, event_id) -> list[Path]:
    row = db["events"].get(event_id)
    return [data_dir / row["snapshot"], data_dir / db["recordings"].get(row["clip"])["path"]]


def path_of(db, data_dir, rec_id) -> Path:
    return data_dir / db["recordings"].get(rec_id)["path"]


def test_age_rules_delete_old_footage_and_keep_what_is_protected_or_recent(volume, db):
    config = make_config(volume, retain={"gate": 2.0, "yard": 10.0, "lobby": 2.0}, event_days={"default": 30.0, "car": 5.0})
    old = NOW - 3 * DAY
    # A kept event on gate from old+100 to old+120, no clip: pre-roll 5 s and post-roll 10 s widen it to old+95..old+130.
    kept_recent_event = add_event(db, volume, "gate", old + 100, keep=1, clip=False)
    stays = {
        "keep": add_recording(db, volume, "gate", old, keep=1),
        "upload_pending": add_recording(db, volume, "gate", old + 10, upload_pending=1),
        "writing": add_recording(db, volume, "gate", old + 20, state="writing"),
        "in pre-roll of kept event": add_recording(db, volume, "gate", old + 86),
        "in post-roll of kept event": add_recording(db, volume, "gate", old + 125),
        "recent": add_recording(db, volume, "gate", NOW - 1 * DAY),
        "camera keeps 10 days": add_recording(db, volume, "yard", old),
        "overlaps an event whose clip awaits upload": add_recording(db, volume, "gate", NOW - 40 * DAY + 200),
    }
    goes = {
        "plain": add_recording(db, volume, "gate", old + 40),
        "after the kept event's post-roll": add_recording(db, volume, "gate", old + 141),
        "other camera at the kept event's time": add_recording(db, volume, "lobby", old + 100),
    }
    events_stay = {
        "keep": add_event(db, volume, "gate", NOW - 40 * DAY, keep=1),
        "upload_pending": add_event(db, volume, "gate", NOW - 40 * DAY + 100, upload_pending=1),
        "clip upload_pending": add_event(db, volume, "gate", NOW - 40 * DAY + 200),
        "person, 6 days": add_event(db, volume, "yard", NOW - 6 * DAY),
        "car, 4 days": add_event(db, volume, "yard", NOW - 4 * DAY, label="car"),
        "kept recent event": kept_recent_event,
    }
    db["recordings"].update(db["events"].get(events_stay["clip upload_pending"])["clip"], {"upload_pending": 1})
    events_go = {
        "person, 40 days": add_event(db, volume, "gate", NOW - 40 * DAY + 300),
        "car, 6 days": add_event(db, volume, "yard", NOW - 6 * DAY + 100, label="car"),
        "dog, 31 days (default)": add_event(db, volume, "yard", NOW - 31 * DAY, label="dog"),
    }
    gone_event_files = [f for e in events_go.values() for f in event_files(db, volume, e)]
    gone_clips = {db["events"].get(e)["clip"] for e in events_go.values()}
    gone_segment_files = [path_of(db, volume, r) for r in goes.values()]

    report = enforce(db, config, NOW)

    recordings = ids(db, "recordings")
    assert {why for why, r in stays.items() if r not in recordings} == set()
    assert {why for why, r in goes.items() if r in recordings} == set()
    assert not any(f.exists() for f in gone_segment_files)
    assert all(path_of(db, volume, r).exists() for r in stays.values())
    events = ids(db, "events")
    assert {why for why, e in events_stay.items() if e not in events} == set()
    assert {why for why, e in events_go.items() if e in events} == set()
    assert not any(f.exists() for f in gone_event_files)
    assert not gone_clips & recordings
    assert all(f.exists() for e in events_stay.values() if db["events"].get(e)["clip"] for f in event_files(db, volume, e))
    assert report.deleted == {
        "continuous_age": Tally(3, 3 * SEGMENT), "event_age": Tally(3, 3 * (SNAPSHOT + CLIP)),
        "watermark_continuous": Tally(), "watermark_events": Tally(),
    }
    assert not report.protected_only and report.alert is None and report.failed_files == 0


def test_watermark_takes_oldest_continuous_first_then_oldest_events(volume, db):
    base = NOW - DAY  # all within retention: only the watermark deletes here
    writing = add_recording(db, volume, "gate", base - 1000, state="writing")
    kept = add_recording(db, volume, "gate", base - 900, keep=1)
    oldest_event = add_event(db, volume, "yard", base - 800)   # older than every plain segment
    kept_event = add_event(db, volume, "yard", base - 700, keep=1)
    newer_event = add_event(db, volume, "gate", base - 600)
    segments = []
    while free_share(volume) >= 0.06:  # to ~95 % full with segments of both cameras in turn
        segments.append(add_recording(db, volume, ("gate", "yard")[len(segments) % 2], base + 10 * len(segments)))
    segment_files = {s: path_of(db, volume, s) for s in segments}
    total = shutil.disk_usage(volume).total

    report = enforce(db, make_config(volume, min_free=0.30), NOW)

    assert report.free_before < 0.06
    assert 0.30 <= report.free_after < 0.30 + SEGMENT / total  # enough, and not one segment more
    gone = [s for s in segments if s not in ids(db, "recordings")]
    assert 0 < len(gone) < len(segments)
    assert gone == segments[:len(gone)]  # the oldest, across cameras
    assert not any(segment_files[s].exists() for s in gone)
    assert all(segment_files[s].exists() for s in segments[len(gone):])
    assert report.deleted["watermark_continuous"] == Tally(len(gone), len(gone) * SEGMENT)
    assert report.deleted["watermark_events"] == Tally()
    assert ids(db, "events") == {oldest_event, kept_event, newer_event}

    # Ask for half an event more than deleting every plain segment can give: all of them go, then the oldest event.
    usage = shutil.disk_usage(volume)
    plain_left = len(segments) - len(gone)
    min_free = (usage.free + plain_left * SEGMENT + (SNAPSHOT + CLIP) / 2) / usage.total
    oldest_event_files = event_files(db, volume, oldest_event)
    oldest_clip = db["events"].get(oldest_event)["clip"]

    report = enforce(db, make_config(volume, min_free=min_free), NOW)

    assert report.free_after >= min_free
    assert report.deleted["watermark_continuous"] == Tally(plain_left, plain_left * SEGMENT)
    assert report.deleted["watermark_events"] == Tally(1, SNAPSHOT + CLIP)
    assert ids(db, "events") == {kept_event, newer_event}
    assert not any(f.exists() for f in oldest_event_files) and oldest_clip not in ids(db, "recordings")
    for survivor in (writing, kept):
        assert survivor in ids(db, "recordings") and path_of(db, volume, survivor).exists()
    assert not report.protected_only


def test_only_protected_footage_left_deletes_nothing_and_alerts(volume, db):
    base = NOW - DAY
    add_event(db, volume, "yard", base, seconds=10_000, keep=1)  # every yard segment below lies in its window
    writing = add_recording(db, volume, "gate", base - 100, state="writing")
    pending = add_recording(db, volume, "gate", base - 90, upload_pending=1)
    in_event = fill(db, volume, "yard", base, until=0.5)
    kept = fill(db, volume, "gate", base + 20_000, keep=1)
    before = {row["id"]: row for row in db.query("select * from recordings")}
    files_before = sorted(p for p in volume.rglob("*") if p.is_file())

    report = enforce(db, make_config(volume, min_free=0.10), NOW)

    assert report.protected_only
    assert report.alert.startswith(PROTECTED_ALERT)
    assert all(tally == Tally() for tally in report.deleted.values())
    assert {row["id"]: row for row in db.query("select * from recordings")} == before
    assert sorted(p for p in volume.rglob("*") if p.is_file()) == files_before
    assert report.free_after == report.free_before < 0.10

    # A guard releases some footage: the next pass finds space again and lifts the alert.
    released = kept[:8]
    for rec_id in released:
        db["recordings"].update(rec_id, {"keep": 0})
    report = enforce(db, make_config(volume, min_free=0.10), NOW)

    assert not report.protected_only and report.alert is None
    assert report.free_after >= 0.10
    gone = set(before) - ids(db, "recordings")
    assert gone and gone <= set(released)
    assert {writing, pending, *in_event, *kept[8:]} <= ids(db, "recordings")


def test_full_disk_write_fails_then_enforce_frees_space_and_the_write_succeeds(volume, db, tmp_path):
    base = NOW - DAY
    segments = [add_recording(db, volume, "gate", base + 10 * i) for i in range(20)]
    current = add_recording(db, volume, "gate", base + 200, 0, state="writing")
    chunk = b"\0" * SEGMENT
    with open(path_of(db, volume, current), "ab", buffering=0) as recorder:
        with pytest.raises(OSError) as full:
            while True:  # the recorder writes until the volume is full
                recorder.write(chunk)
        assert full.value.errno == errno.ENOSPC

        report = enforce(db, make_config(volume, min_free=0.10), NOW)

        assert report.free_before < 0.01 and report.free_after >= 0.10
        recorder.write(chunk)  # the recorder goes on
        os.fsync(recorder.fileno())
    assert report.deleted["watermark_continuous"].count > 0
    assert current in ids(db, "recordings")
    assert set(segments) - ids(db, "recordings") == set(segments[:report.deleted["watermark_continuous"].count])
    assert db.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
    reopened = connect(tmp_path / "vigia.db")
    assert reopened.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
    reopened.conn.close()


def test_missing_and_bad_files_never_stop_a_pass(volume, db, tmp_path, caplog):
    config = make_config(volume, retain={"gate": 2.0})
    old = NOW - 3 * DAY
    missing = add_recording(db, volume, "gate", old)
    path_of(db, volume, missing).unlink()
    event = add_event(db, volume, "gate", NOW - 40 * DAY)
    for f in event_files(db, volume, event):
        f.unlink()
    directory = add_recording(db, volume, "gate", old + 10)  # a directory where a file should be: cannot be unlinked
    path_of(db, volume, directory).unlink()
    path_of(db, volume, directory).mkdir()
    outside = tmp_path / "not-media.mp4"
    write_file(outside, 10)
    db["recordings"].insert({"id": "escape", "camera": "gate", "kind": "segment", "path": "../not-media.mp4",
                             "start": old + 20, "end": old + 30, "state": "complete"})
    plain = add_recording(db, volume, "gate", old + 30)

    with caplog.at_level(logging.ERROR, logger="vigia.appliance.retention"):
        report = enforce(db, config, NOW)

    assert ids(db, "recordings") == {directory, "escape"}  # rows of files that could not go stay
    assert ids(db, "events") == set()
    assert not path_of(db, volume, directory).is_file() and outside.exists()
    assert report.deleted["continuous_age"] == Tally(2, SEGMENT)   # the missing one counts no bytes
    assert report.deleted["event_age"] == Tally(1, 0)
    assert report.failed_files == 2
    errors = [r.getMessage() for r in caplog.records if r.levelno >= logging.ERROR]
    assert len(errors) == 2
    assert any(str(path_of(db, volume, directory)) in line for line in errors)
    assert any("../not-media.mp4" in line for line in errors)
    assert plain not in ids(db, "recordings")


def test_watermark_deletes_just_enough_by_exact_numbers(tmp_path, db):
    data_dir = tmp_path / "data"
    size = 1000

    def usage(path):
        """A volume exactly 100 segments big, holding only the data directory's files."""
        used = sum(f.stat().st_size for f in Path(path).rglob("*") if f.is_file())
        return DiskUsage(total=100 * size, used=used, free=100 * size - used)

    segments = [add_recording(db, data_dir, ("gate", "yard")[i % 2], NOW - 3600 + 10 * i, size) for i in range(95)]

    report = enforce(db, make_config(data_dir, min_free=0.10), NOW, disk_usage=usage)

    assert (report.free_before, report.free_after) == (0.05, 0.10)
    assert ids(db, "recordings") == set(segments[5:])
    assert report.deleted["watermark_continuous"] == Tally(5, 5 * size)


def test_worker_pauses_on_protected_only_and_resumes_when_poked(volume, db, tmp_path):
    base = time.time() - 3600  # the worker measures age from the real clock
    kept = fill(db, volume, "gate", base, keep=1)
    metrics = Metrics.create()
    reports: queue.Queue = queue.Queue()
    worker = RetentionWorker(tmp_path / "vigia.db", make_config(volume), interval=3600, on_report=reports.put,
                             metrics=metrics).start()
    try:
        first = reports.get(timeout=5)  # the pass at start
        assert first.protected_only
        assert metrics.registry.get_sample_value("vigia_recording_paused") == 1
        for rec_id in kept[:8]:
            db["recordings"].update(rec_id, {"keep": 0})
        worker.poke()
        second = reports.get(timeout=5)
    finally:
        worker.close()
    assert not any(t.name == "retention" for t in threading.enumerate())
    assert not second.protected_only and second.free_after >= 0.10
    sample = metrics.registry.get_sample_value
    assert sample("vigia_recording_paused") == 0
    assert sample("vigia_disk_free_ratio") == second.free_after
    freed = second.deleted["watermark_continuous"].bytes
    assert freed > 0
    assert sample("vigia_retention_deleted_bytes_total", {"reason": "watermark_continuous"}) == freed
    others = set(REASONS) - {"watermark_continuous"}
    assert {r: sample("vigia_retention_deleted_bytes_total", {"reason": r}) for r in others} == dict.fromkeys(others, 0.0)
    assert reports.empty()
