"""Events a crash left open are closed at the next start: their end from what was stored, marked as cut short."""
from __future__ import annotations

import json
import signal
from pathlib import Path

import pytest
from support.servers import free_port
from support.waiting import wait_for
from test_appliance_faults import Vigia, config_text, query

from vigia.appliance.interrupted import close_interrupted_events
from vigia.appliance.storage import EventWriter, database
from vigia.scene.events import Event

T0 = 1_800_000_000.0


def event(id: str, *, path=(), ended_at: float | None = None) -> Event:
    return Event(id=id, camera="lobby", rule="people", kind="present", zone=None, label="person", track_id=7,
                 start=12.0, started_at=T0, max_score=0.8, box=(0.1, 0.2, 0.3, 0.4), path=list(path),
                 end=None if ended_at is None else 12.0 + ended_at - T0, ended_at=ended_at,
                 attributes={"speed": 1.5})


def write(db_path: Path, events: list[Event], *, outbox: bool) -> None:
    writer = EventWriter(db_path, outbox=outbox)
    writer.start()
    for e in events:
        writer.put(e)
    writer.stop()
    writer.join()


def rows(db_path: Path, table: str = "events") -> dict:
    with database(db_path) as db:
        return {row["key" if table == "outbox" else "id"]: row for row in db.query(f"select * from {table}")}


@pytest.mark.parametrize("outbox", [False, True], ids=["alone", "enrolled"])
def test_open_events_are_closed_at_their_last_stored_sighting(tmp_path, outbox):
    db_path = tmp_path / "vigia.db"
    write(db_path, [event("walked", path=[(0.0, 0.5, 0.5), (2.5, 0.6, 0.5)]), event("no-path"),
                    event("done", path=[(0.0, 0.5, 0.5)], ended_at=T0 + 4.0)], outbox=outbox)
    with database(db_path) as db:
        db.execute("update events set keep = 1, acknowledged_by = 'ana' where id = 'walked'")  # a guard's marks stay
    before = rows(db_path)
    outbox_before = rows(db_path, "outbox")

    with database(db_path) as db:
        assert close_interrupted_events(db, outbox=outbox) == 2

    after = rows(db_path)
    assert after["done"] == before["done"]
    walked, no_path = after["walked"], after["no-path"]
    assert (walked["ended_at"], walked["end"]) == (T0 + 2.5, 14.5)
    assert (no_path["ended_at"], no_path["end"]) == (T0, 12.0)
    for row in (walked, no_path):
        assert json.loads(row["attributes"]) == {"speed": 1.5, "cut_short": "restart"}
    assert (walked["keep"], walked["acknowledged_by"]) == (1, "ana")
    assert json.loads(walked["path"]) == json.loads(before["walked"]["path"])

    queued = rows(db_path, "outbox")
    if not outbox:
        assert queued == {} and outbox_before == {}
        return
    assert queued["done"] == outbox_before["done"]
    for id in ("walked", "no-path"):
        body = json.loads(queued[id]["body"])
        assert queued[id]["seq"] is None and body["ended_at"] == after[id]["ended_at"], body
        assert body["attributes"]["cut_short"] == "restart"
        assert "keep" not in body  # the record an EventWriter would send, not the row's local columns
    assert len(queued) == 3  # the closed version replaced the open one still waiting


def test_closing_twice_changes_nothing(tmp_path):
    db_path = tmp_path / "vigia.db"
    write(db_path, [event("open", path=[(0.0, 0.5, 0.5), (1.0, 0.5, 0.6)])], outbox=True)
    with database(db_path) as db:
        assert close_interrupted_events(db, outbox=True) == 1
    closed, queued = rows(db_path), rows(db_path, "outbox")
    with database(db_path) as db:
        assert close_interrupted_events(db, outbox=True) == 0
    assert rows(db_path) == closed and rows(db_path, "outbox") == queued


def test_events_open_at_a_power_cut_are_closed_at_the_next_start(tmp_path, demo_clip, default_model):
    data_dir = tmp_path / "data"
    config = tmp_path / "vigia.yaml"
    config.write_text(config_text(demo_clip, default_model, data_dir, free_port()))
    database_path = data_dir / "vigia.db"

    first = Vigia(config, tmp_path / "first.log")
    try:
        def event_open() -> bool:
            assert first.alive(), first.tail()
            return bool(query(database_path, "select 1 from events where ended_at is null"))

        assert wait_for(event_open, 25), first.tail()
    finally:
        killed = first.end(signal.SIGKILL)  # the power cut
    assert killed == -signal.SIGKILL, first.tail()
    left_open = {id: (started_at, json.loads(path)) for id, started_at, path
                 in query(database_path, "select id, started_at, path from events where ended_at is null")}
    assert left_open

    second = Vigia(config, tmp_path / "second.log")
    try:
        def closed() -> bool:
            assert second.alive(), second.tail()
            return not query(database_path, f"select 1 from events where ended_at is null and id in"
                                            f" ({','.join('?' * len(left_open))})", list(left_open))

        assert wait_for(closed, 20), second.tail()
        # Stopped once it serves: its SIGTERM handler is in place by then (before, SIGTERM just kills it).
        assert wait_for(lambda: "serving " in second.tail(100_000), 20), second.tail()
    finally:
        stopped = second.end(signal.SIGTERM)
    assert stopped == 0, second.tail()
    assert f"{len(left_open)} events left open by an interrupted run closed" in second.tail(100_000)

    for id, ended_at, attributes in query(database_path, f"select id, ended_at, attributes from events where id in"
                                                         f" ({','.join('?' * len(left_open))})", list(left_open)):
        started_at, path = left_open[id]
        assert ended_at == pytest.approx(started_at + max([0.0, *(p[0] for p in path)]))
        assert json.loads(attributes)["cut_short"] == "restart"
