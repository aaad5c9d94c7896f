"""The edge outbox: written in the event's own transaction, coalesced, ordered by priority, bounded."""
from __future__ import annotations

import logging
import time

import pytest

from vigia.appliance.outbox import (
    PRIORITY_STATE,
    UPSERT_OUTBOX,
    OutboxRecord,
    acknowledge,
    backlog,
    camera_health_record,
    enforce_bound,
    next_batch,
)
from vigia.appliance.storage import EventWriter, connect, database
from vigia.scene.events import Event, new_event_id


def make_event(started_at: float | None = None, alert: bool = False, camera: str = "gate") -> Event:
    started_at = started_at or time.time()
    return Event(id=new_event_id(started_at), camera=camera, rule="entry", kind="enter", zone="door", label="person",
                 track_id=7, start=1.5, started_at=started_at, max_score=0.8, box=(0.1, 0.2, 0.3, 0.4), alert=alert,
                 path=[(0.0, 0.5, 0.5)])


def outbox_rows(path) -> list[tuple]:
    with database(path) as db:
        return db.execute("SELECT kind, key, priority, seq FROM outbox ORDER BY id").fetchall()


def test_event_and_its_outbox_record_are_committed_together(tmp_path):
    path = tmp_path / "v.db"
    db = connect(path)
    # The outbox refuses writes for a while: the event must not be stored without its record.
    db.execute("CREATE TRIGGER refuse BEFORE INSERT ON outbox BEGIN SELECT RAISE(ABORT, 'outbox refused'); END")
    writer = EventWriter(path, outbox=True, linger_s=0.01).start()
    try:
        event = make_event()
        writer.put(event)
        writer.flush()
        assert db.execute("SELECT count(*) FROM events").fetchone()[0] == 0
        db.execute("DROP TRIGGER refuse")
        deadline = time.monotonic() + 5  # the writer retries what it could not commit
        while time.monotonic() < deadline and not db.execute("SELECT count(*) FROM events").fetchone()[0]:
            time.sleep(0.1)
        assert db.execute("SELECT id FROM events").fetchall() == [(event.id,)]
        assert outbox_rows(path) == [("event", event.id, 1, None)]
    finally:
        writer.close()
        db.conn.close()


def test_an_updated_event_is_one_unsent_record_with_the_latest_body(tmp_path):
    path = tmp_path / "v.db"
    writer = EventWriter(path, outbox=True, linger_s=0.01).start()
    try:
        event = make_event()
        writer.put(event)
        writer.flush()
        event.end, event.ended_at = 9.0, event.started_at + 7.5
        writer.put(event)
        writer.flush()
    finally:
        writer.close()
    db = connect(path)
    batch = next_batch(db.conn, 100, 1 << 20)
    assert [(p.seq, p.kind, p.key) for p in batch] == [(1, "event", event.id)]
    assert '"end":9.0' in batch[0].body and '"box":[0.1,0.2,0.3,0.4]' in batch[0].body


def test_a_record_numbered_for_a_batch_is_not_changed_by_a_later_update(tmp_path):
    path = tmp_path / "v.db"
    writer = EventWriter(path, outbox=True, linger_s=0.01).start()
    event = make_event()
    writer.put(event)
    writer.flush()
    db = connect(path)
    first = next_batch(db.conn, 100, 1 << 20)
    event.end = 4.0
    writer.put(event)
    writer.close()
    # The batch in flight is sent again unchanged; the update waits as a record of its own.
    assert next_batch(db.conn, 100, 1 << 20) == first
    acknowledge(db.conn, first[-1].seq)
    second = next_batch(db.conn, 100, 1 << 20)
    assert [(p.seq, p.key) for p in second] == [(2, event.id)] and '"end":4.0' in second[0].body


def test_batches_are_bounded_by_records_and_bytes_and_the_next_is_prepared_after_the_one_in_flight(tmp_path):
    path = tmp_path / "v.db"
    writer = EventWriter(path, outbox=True, linger_s=0.01).start()
    now = time.time()
    events = [make_event(now - 100 + i) for i in range(10)]
    for event in events:
        writer.put(event)
    writer.close()
    db = connect(path)
    size = len(next_batch(db.conn, 1, 1 << 20)[0].body) + 26 + 40  # one record's share of the byte bound
    acknowledge(db.conn, 1)
    by_bytes = next_batch(db.conn, 100, 3 * size)
    assert [p.seq for p in by_bytes] == [2, 3, 4]
    # Prepared while 2..4 are in flight: the next rows, numbered after them, in age order.
    following = next_batch(db.conn, 4, 1 << 20, after_seq=4)
    assert [(p.seq, p.key) for p in following] == [(5 + i, events[4 + i].id) for i in range(4)]
    # 2..4 were not taken: from the start again, every numbered row in order, the prepared ones too.
    assert [p.seq for p in next_batch(db.conn, 100, 1 << 20)] == [2, 3, 4, 5, 6, 7, 8]
    assert [p.seq for p in next_batch(db.conn, 100, 1, after_seq=8)] == [9]  # at least one, whatever its size


def test_batches_go_alerts_first_then_events_then_state_with_contiguous_numbers(tmp_path):
    path = tmp_path / "v.db"
    writer = EventWriter(path, outbox=True, linger_s=0.01).start()
    now = time.time()
    plain = make_event(now - 30)
    writer.put_record(camera_health_record("gate", "offline", now - 20, "timeout"))
    writer.put(plain)
    alert = make_event(now - 10, alert=True)
    writer.put(alert)
    writer.close()
    db = connect(path)
    batch = next_batch(db.conn, 2, 1 << 20)
    assert [(p.seq, p.key) for p in batch] == [(1, alert.id), (2, plain.id)]
    acknowledge(db.conn, 2)
    assert [(p.seq, p.kind) for p in next_batch(db.conn, 10, 1 << 20)] == [(3, "camera_health")]


def test_put_record_needs_the_outbox(tmp_path):
    writer = EventWriter(tmp_path / "v.db").start()
    try:
        with pytest.raises(ValueError, match="outbox=True"):
            writer.put_record(camera_health_record("gate", "online", time.time(), None))
    finally:
        writer.close()


def test_full_outbox_drops_oldest_low_priority_records_never_events(tmp_path, caplog):
    db = connect(tmp_path / "v.db")
    rows = [OutboxRecord("metrics", f"hour-{i}", PRIORITY_STATE, {"i": i}).to_row() for i in range(6)]
    rows += [OutboxRecord("event", f"e{i}", 1, {"i": i}).to_row() for i in range(4)]
    db.conn.executemany(UPSERT_OUTBOX, rows)
    with caplog.at_level(logging.WARNING):
        assert enforce_bound(db.conn, 7) == {"metrics": 3}
    assert "dropped the oldest 3 metrics" in caplog.text
    keys = [k for (k,) in db.execute("SELECT key FROM outbox ORDER BY id")]
    assert keys == ["hour-3", "hour-4", "hour-5", "e0", "e1", "e2", "e3"]
    # Only events over the bound: nothing more is dropped, and the log says so.
    caplog.clear()
    with caplog.at_level(logging.WARNING):
        assert enforce_bound(db.conn, 2) == {"metrics": 3}
        assert "only alerts and events are left" in caplog.text
    assert [k for (k,) in db.execute("SELECT key FROM outbox ORDER BY id")] == ["e0", "e1", "e2", "e3"]
    state = backlog(db.conn)
    assert (state.records, state.by_kind, state.dropped) == (4, {"event": 4}, 6)


def test_batch_size_is_bounded_in_bytes(tmp_path):
    db = connect(tmp_path / "v.db")
    db.conn.executemany(UPSERT_OUTBOX, [OutboxRecord("event", f"e{i}", 1, {"pad": "x" * 1000}).to_row() for i in range(10)])
    assert len(next_batch(db.conn, 100, 3500)) == 3


def test_the_next_batch_is_read_through_the_index_of_unsent_rows(tmp_path):
    """Not the whole backlog: weeks offline leave hundreds of thousands of rows waiting."""
    from vigia.appliance.outbox import NUMBER_NEXT

    db = connect(tmp_path / "v.db")
    plan = " | ".join(row[3] for row in db.execute(
        "EXPLAIN QUERY PLAN " + NUMBER_NEXT, {"last": 0, "media": 3, "records": 10, "bytes": 1 << 20}).fetchall())
    assert "USING INDEX idx_outbox_unsent_order" in plan and "sqlite_autoindex_outbox" not in plan, plan
