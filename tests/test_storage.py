import os
import signal
import subprocess
import sys
import textwrap
import threading
import time

from support.volumes import tmpfs

from vigia.appliance.storage import MIGRATIONS, EventWriter, connect, list_events, schema_version
from vigia.appliance.transactions import write_transaction
from vigia.scene.events import Event, new_event_id


def make_event(i: int, camera="gate", label="person", started_at=1_700_000_000.0) -> Event:
    return Event(
        id=new_event_id(started_at + i), camera=camera, rule="entry", kind="enter", zone="door", label=label,
        track_id=i, start=float(i), started_at=started_at + i, max_score=0.5, box=(0.1, 0.2, 0.3, 0.4),
        path=[(0.0, 0.1, 0.2), (1.0, 0.2, 0.3)], attributes={"n": i},
    )


def test_schema_is_migrated_once_and_wal_is_on(tmp_path):
    db = connect(tmp_path / "v.db")
    assert schema_version(db) == len(MIGRATIONS)
    assert db.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    db.conn.close()
    again = connect(tmp_path / "v.db")  # re-opening does not migrate again
    assert schema_version(again) == len(MIGRATIONS)


def test_events_round_trip_and_updates_replace(tmp_path):
    writer = EventWriter(tmp_path / "v.db").start()
    events = [make_event(i, camera="gate" if i % 2 else "yard", label="car" if i % 3 == 0 else "person") for i in range(10)]
    for e in events:
        writer.put(e)
    events[4].end, events[4].max_score = 9.5, 0.9
    writer.put(events[4])
    writer.flush()
    db = connect(tmp_path / "v.db")
    assert db["events"].count == 10
    stored = {e.id: e for e in list_events(db, limit=100)}
    assert stored[events[4].id] == events[4]
    newest = list_events(db, limit=3)
    assert [e.id for e in newest] == [e.id for e in events[::-1][:3]]  # ULIDs and started_at sort alike
    yard_people = list_events(db, camera="yard", label="person", since=1_700_000_001.0, until=1_700_000_009.0)
    assert {e.track_id for e in yard_people} == {2, 4, 8}
    writer.close()


def test_killed_writer_leaves_a_consistent_database(tmp_path):
    """kill -9 in the middle of a stream of batched commits: what was flushed is there, the file is sound."""
    path = tmp_path / "v.db"
    script = textwrap.dedent(f"""
        import sys, time
        sys.path.insert(0, {os.path.dirname(__file__)!r})
        from test_storage import make_event
        from vigia.appliance.storage import EventWriter
        writer = EventWriter({str(path)!r}).start()
        i = 0
        while True:
            for _ in range(200):
                writer.put(make_event(i)); i += 1
            writer.flush()
            print(i, flush=True)
    """)
    proc = subprocess.Popen([sys.executable, "-c", script], stdout=subprocess.PIPE, text=True)
    flushed = 0
    deadline = time.monotonic() + 30
    while flushed < 2000 and time.monotonic() < deadline:
        flushed = int(proc.stdout.readline())
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    assert flushed >= 2000
    db = connect(path)
    assert db.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
    assert db["events"].count >= flushed


def test_a_full_disk_loses_no_events(tmp_path):
    """The database's volume fills up: commits fail, nothing is dropped, and all land once there is room."""
    with tmpfs(tmp_path / "vol", "2m") as volume:
        errors = []
        writer = EventWriter(volume / "v.db", on_error=errors.append).start()
        filler = volume / "filler"
        with open(filler, "wb", buffering=0) as f:  # unbuffered: close() has no partial write left to fail on
            try:
                while True:
                    f.write(b"\0" * 65536)
                    f.flush()
            except OSError:
                pass
        events = [make_event(i) for i in range(3000)]
        for e in events:
            writer.put(e)
        writer.flush()
        assert errors, "the full disk was reported"
        filler.unlink()  # retention's job in the appliance: make room
        deadline = time.monotonic() + 10
        db = connect(volume / "v.db")
        while db["events"].count < len(events) and time.monotonic() < deadline:
            time.sleep(0.2)
        assert db["events"].count == len(events)
        assert db.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
        db.conn.close()
        writer.close()


def test_a_transaction_that_reads_then_writes_waits_for_another_writer(tmp_path):
    """A deferred transaction that reads, then writes after another connection committed, fails at once
    with 'database is locked' (its snapshot is stale); write_transaction takes the lock first and waits."""
    first, second = connect(tmp_path / "vigia.db"), connect(tmp_path / "vigia.db")
    first.execute("CREATE TABLE notes (text TEXT)")
    other_started, other_done = threading.Event(), threading.Event()
    second.conn.set_trace_callback(lambda sql: other_started.set())  # SQLite began running the statement

    def other_writer() -> None:
        second.execute("INSERT INTO notes VALUES ('from the event writer')")
        other_done.set()

    with write_transaction(first.conn):
        assert first.execute("SELECT count(*) FROM notes").fetchone() == (0,)
        writer = threading.Thread(target=other_writer)
        writer.start()
        assert other_started.wait(10)
        assert not other_done.wait(0.3)  # the other writer, under way, waits for the lock this transaction holds
        first.execute("INSERT INTO notes VALUES ('from a guard')")
    writer.join(10)
    assert other_done.is_set()
    assert [r[0] for r in first.execute("SELECT text FROM notes ORDER BY rowid")] == [
        "from a guard", "from the event writer"]  # the other insert came after this transaction committed
