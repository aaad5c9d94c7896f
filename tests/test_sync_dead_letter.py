"""Dead letters end to end: appliance outbox -> uploader -> NGINX -> two central instances -> PostgreSQL.

A record central refuses as malformed is isolated, kept in the appliance's `dead_letters` table, and
replaced by a `rejected` record with its sequence number: the rest of the backlog goes on, once each."""
from __future__ import annotations

import asyncio
import json
import logging
import subprocess
import sys

import aiohttp
import pytest
from prometheus_client import CollectorRegistry

from tests.test_sync_faults import Device
from vigia.app.devstack import central_stack
from vigia.appliance.outbox import backlog, camera_health_record, dead_letters
from vigia.appliance.storage import EventWriter, connect, database
from vigia.sync.metrics import SyncMetrics
from vigia.sync.uploader import Step


@pytest.fixture(scope="module")
def stack(tmp_path_factory):
    with central_stack(tmp_path_factory.mktemp("central")) as stack:
        yield stack


def corrupt(device: Device, where: str, body_sql: str) -> tuple[int, str]:
    """Rewrite the body of one unsent outbox row in place; returns its (id, key)."""
    with database(device.database) as db:
        row_id, key = db.conn.execute(f"SELECT id, key FROM outbox WHERE {where}").fetchone()
        db.conn.execute(f"UPDATE outbox SET body = {body_sql} WHERE id = ?", [row_id])
        return row_id, key


def drain(device: Device, registry: CollectorRegistry, timeout: float = 60) -> None:
    uploader = device.uploader()
    uploader.metrics = SyncMetrics.create(registry)
    try:
        asyncio.run(asyncio.wait_for(uploader.run(asyncio.Event(), until_empty=True), timeout))
    finally:
        uploader.close()


def local(device: Device):
    with database(device.database) as db:
        return backlog(db.conn), dead_letters(db.conn)


def test_one_malformed_event_in_a_backlog_is_dead_lettered_and_the_rest_goes_on(stack, tmp_path, caplog):
    caplog.set_level(logging.WARNING, "vigia.sync.uploader")
    device = Device(tmp_path, stack, "dead-01")
    device.write(1200)
    _, bad = corrupt(device, "kind = 'event' ORDER BY id LIMIT 1 OFFSET 700", "json_set(body, '$.started_at', 1.0)")
    registry = CollectorRegistry()
    drain(device, registry)
    pending, letters = local(device)
    assert (pending.records, pending.dead_letters) == (0, 1)
    [letter] = letters
    assert (letter.seq, letter.kind, letter.key) == (701, "event", bad)
    assert json.loads(letter.body)["started_at"] == 1.0
    assert "records.0.body.started_at: Expected `float` >= 946684800.0" in letter.error
    device.events = [e for e in device.events if e.id != bad]
    device.assert_exactly_once()  # every good event once; the bad one never
    stored = stack.query("SELECT kind, key, seq, body FROM device_records WHERE device_id = 'dead-01'")
    assert stored == [("rejected", "701", 701, {"kind": "event", "key": bad, "error": letter.error})]
    assert stack.query("SELECT high_water FROM devices WHERE device_id = 'dead-01'") == [(1200,)]
    assert registry.get_sample_value("vigia_sync_dead_letters_total", {"kind": "event"}) == 1
    assert registry.get_sample_value("vigia_sync_batches_total", {"outcome": "dead_lettered"}) == 1
    assert registry.get_sample_value("vigia_sync_batches_total", {"outcome": "refused"}) is None
    errors = [r.getMessage() for r in caplog.records if r.levelno == logging.ERROR]
    assert len(errors) == 1 and f"central refused record 701 (event {bad}) as malformed" in errors[0]


def test_several_bad_records_of_any_kind_even_bodies_that_are_not_json(stack, tmp_path):
    device = Device(tmp_path, stack, "dead-02")
    device.write(600)
    writer = EventWriter(device.database, outbox=True, linger_s=0.01).start()
    for i in range(20):
        writer.put_record(camera_health_record(f"cam{i}", "online", 1_780_000_000.0 + i, None))
    writer.put_record(camera_health_record("c" * 300, "online", 1_780_000_000.0, None))  # key over 256 characters
    writer.close()
    _, not_json = corrupt(device, "kind = 'event' ORDER BY id LIMIT 1 OFFSET 100", "'{\"id\": '")
    _, extra = corrupt(device, "kind = 'event' ORDER BY id LIMIT 1 OFFSET 450",
                       "json_set(body, '$.owner', 'someone')")
    registry = CollectorRegistry()
    drain(device, registry)
    pending, letters = local(device)
    assert (pending.records, pending.dead_letters) == (0, 3)
    by_key = {letter.key: letter for letter in letters}
    assert set(by_key) == {not_json, extra, "c" * 300}
    assert "body is not valid JSON" in by_key[not_json].error and by_key[not_json].body == '{"id": '
    assert "body: Object contains unknown field `owner`" in by_key[extra].error
    assert "key: Expected `str` of length <= 256" in by_key["c" * 300].error
    device.events = [e for e in device.events if e.id not in (not_json, extra)]
    device.assert_exactly_once()
    rejected = stack.query("SELECT body FROM device_records WHERE device_id = 'dead-02' AND kind = 'rejected'")
    assert sorted(b["key"] for (b,) in rejected) == sorted([not_json, extra, "c" * 256])
    healthy = stack.query("SELECT count(*) FROM device_records WHERE device_id = 'dead-02' AND kind = 'camera_health'")
    assert healthy == [(20,)]
    assert registry.get_sample_value("vigia_sync_dead_letters_total", {"kind": "event"}) == 2
    assert registry.get_sample_value("vigia_sync_dead_letters_total", {"kind": "camera_health"}) == 1


def steps(device: Device, count: int, device_id: str | None = None) -> list[Step]:
    uploader = device.uploader()
    if device_id:
        uploader.device_id = device_id

    async def run():
        async with aiohttp.ClientSession() as session:
            return [await uploader.step(session) for _ in range(count)]
    try:
        return asyncio.run(run())
    finally:
        uploader.close()


def test_a_fault_of_the_whole_batch_or_a_revoked_device_dead_letters_nothing_good(stack, tmp_path):
    device = Device(tmp_path / "a", stack, "dead-03")
    device.write(10)
    # A batch-level fault (here a device id central cannot parse) names no record: back off, keep all.
    assert steps(device, 3, device_id="Not A Device") == [Step.REFUSED] * 3
    assert local(device)[0].records == 10 and local(device)[1] == []

    revoked = Device(tmp_path / "b", stack, "dead-04")
    revoked.write(5)
    revoked.drain()
    subprocess.run([sys.executable, "-m", "vigia.app.cli.main", "central", "revoke", "dead-04",
                    "--database", stack.dsn], check=True, capture_output=True)
    revoked.write(5)
    corrupt(revoked, "kind = 'event' ORDER BY id LIMIT 1 OFFSET 2", "json_set(body, '$.started_at', 1.0)")
    # Central finds the malformed record before it looks at the device: the batch narrows to the good
    # records before it, which are refused as revoked. Nothing is dead-lettered; everything waits.
    assert steps(revoked, 4) == [Step.NARROWED, Step.REFUSED, Step.REFUSED, Step.REFUSED]
    pending, letters = local(revoked)
    assert pending.records == 5 and letters == []
    assert stack.query("SELECT count(*) FROM events WHERE device_id = 'dead-04'") == [(5,)]


def test_dead_letter_keeps_the_record_and_gives_its_seq_to_a_rejected_one(tmp_path):
    db = connect(tmp_path / "vigia.db")
    writer = EventWriter(tmp_path / "vigia.db", outbox=True, linger_s=0.01).start()
    writer.put_record(camera_health_record("gate", "online", 1_780_000_000.0, None))
    writer.put_record(camera_health_record("yard", "online", 1_780_000_000.0, None))
    writer.close()
    from vigia.appliance.outbox import dead_letter, next_batch
    first, second = next_batch(db.conn, 10, 1 << 20)
    letter = dead_letter(db.conn, second.seq, "records.1.camera_health.body: bad", now=1_790_000_000.0)
    assert (letter.seq, letter.kind, letter.key, letter.body) == (second.seq, "camera_health", "yard", second.body)
    assert dead_letter(db.conn, second.seq, "again") is None  # a `rejected` record is never dead-lettered
    again = next_batch(db.conn, 10, 1 << 20)  # still numbered: sent again, the same seqs, in order
    assert again[0] == first and (again[1].seq, again[1].kind, again[1].key) == (second.seq, "rejected", str(second.seq))
    assert json.loads(again[1].body) == {"kind": "camera_health", "key": "yard", "error": "records.1.camera_health.body: bad"}
    pending = backlog(db.conn)
    assert (pending.records, pending.by_kind, pending.dead_letters) == (2, {"camera_health": 1, "rejected": 1}, 1)
    assert dead_letters(db.conn) == [letter]
    db.conn.close()
