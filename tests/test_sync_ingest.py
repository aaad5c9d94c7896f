"""Central ingest against a real PostgreSQL: UPSERT by (device, event), high-water mark, partitions, refusals."""
from __future__ import annotations

import asyncio
import datetime as dt
import json
import random
import time

import psycopg
import pytest
from psycopg_pool import AsyncConnectionPool

from tests.test_sync_outbox import make_event
from vigia.app.devstack import temporary_database
from vigia.appliance.outbox import Pending, event_record
from vigia.central.ingest.batches import Ingest, prepare_connection, timestamp
from vigia.central.ingest.enrolment import DeviceIdentity, consume_token, create_token, enrol_device, revoke
from vigia.central.migrations import migrate
from vigia.sync.protocol import ProtocolError, decode_batch, encode_batch

MAY = dt.datetime(2026, 5, 31, 23, 0, tzinfo=dt.timezone.utc).timestamp()
JUNE = dt.datetime(2026, 6, 1, 1, 0, tzinfo=dt.timezone.utc).timestamp()


@pytest.fixture(scope="module")
def dsn():
    with temporary_database() as dsn:
        yield dsn


def run(dsn: str, work):
    """Run `work(ingest, conn)` with a fresh pool on a migrated database."""
    async def main():
        async with AsyncConnectionPool(dsn, min_size=1, max_size=2, configure=prepare_connection,
                                       open=False) as pool, pool.connection() as conn:
            await conn.set_autocommit(True)
            await migrate(conn)
            return await work(Ingest(pool), conn)
    return asyncio.run(main())


async def enrol(conn, device_id: str, serial: int = 0xABC) -> None:
    await enrol_device(conn, device_id, serial, DeviceIdentity(device_id, device_id))  # identities: elsewhere


def batch(device_id: str, records: list[Pending]):
    return decode_batch(encode_batch(device_id, records), "application/json", "gzip")


def event_pending(seq: int, event) -> Pending:
    record = event_record(event.to_row())
    return Pending(seq, "event", record.key, json.dumps(record.body))


def rows(dsn: str, sql: str, params=()) -> list[tuple]:
    with psycopg.connect(dsn) as conn:
        return conn.execute(sql, params).fetchall()


def test_events_land_once_in_monthly_partitions_and_replays_change_nothing(dsn):
    events = [make_event(MAY), make_event(JUNE), make_event(JUNE + 60)]
    first = batch("dev-a", [event_pending(i + 1, e) for i, e in enumerate(events)])

    async def work(ingest, conn):
        await enrol(conn, "dev-a")
        result = await ingest.apply("dev-a", 0xABC, first)
        with pytest.raises(ProtocolError) as replay:
            await ingest.apply("dev-a", 0xABC, first)
        return result, replay.value

    result, replay = run(dsn, work)
    assert (result.high_water, result.applied, result.duplicates) == (3, 3, 0)
    assert (replay.status, replay.code, replay.extra) == (409, "replayed", {"high_water": 3})
    assert sorted(rows(dsn, "SELECT event_id FROM events WHERE device_id = 'dev-a'")) == sorted((e.id,) for e in events)
    parts = rows(dsn, "SELECT tableoid::regclass::text, count(*) FROM events WHERE device_id = 'dev-a' GROUP BY 1 ORDER BY 1")
    assert parts == [("events_2026_05", 1), ("events_2026_06", 2)]
    stored = rows(dsn, "SELECT box, path FROM events WHERE event_id = %s", [events[0].id])
    assert stored == [([0.1, 0.2, 0.3, 0.4], [[0.0, 0.5, 0.5]])]


def test_overlapping_batch_applies_only_what_is_new_and_newer_versions_win(dsn):
    event = make_event(MAY)
    other = make_event(MAY + 5)

    async def work(ingest, conn):
        await enrol(conn, "dev-b")
        await ingest.apply("dev-b", 0xABC, batch("dev-b", [event_pending(1, event), event_pending(2, other)]))
        event.end, event.ended_at = 20.0, MAY + 19
        # Records 1..2 again (a lost answer) with the event's newer version as record 3.
        return await ingest.apply("dev-b", 0xABC, batch("dev-b", [event_pending(1, make_event(MAY)),
                                                                  event_pending(2, other), event_pending(3, event)]))

    result = run(dsn, work)
    assert (result.high_water, result.applied, result.duplicates) == (3, 1, 2)
    assert rows(dsn, "SELECT seq, \"end\" FROM events WHERE device_id = 'dev-b' AND event_id = %s", [event.id]) == [(3, 20.0)]
    assert rows(dsn, "SELECT count(*) FROM events WHERE device_id = 'dev-b'") == [(2,)]


def test_a_batch_of_new_events_and_a_newer_version_of_a_known_one_lands_whole(dsn):
    """New events go straight in by COPY; one known event in the batch sends them all through the UPSERT."""
    known, fresh = make_event(MAY), [make_event(MAY + 10 + i) for i in range(3)]

    async def work(ingest, conn):
        await enrol(conn, "dev-m")
        await ingest.apply("dev-m", 0xABC, batch("dev-m", [event_pending(1, known)]))
        known.end, known.ended_at = 30.0, MAY + 29
        return await ingest.apply("dev-m", 0xABC, batch("dev-m", [event_pending(2, fresh[0]), event_pending(3, known),
                                                                  event_pending(4, fresh[1]), event_pending(5, fresh[2])]))

    result = run(dsn, work)
    assert (result.high_water, result.applied, result.duplicates) == (5, 4, 0)
    stored = dict((r[0], r[1:]) for r in rows(dsn, 'SELECT event_id, seq, "end" FROM events WHERE device_id = \'dev-m\''))
    assert stored == {known.id: (3, 30.0), fresh[0].id: (2, fresh[0].end), fresh[1].id: (4, fresh[1].end),
                      fresh[2].id: (5, fresh[2].end)}


def test_event_times_round_as_postgresql_rounds_them(dsn):
    """started_at is part of the events' key: made in Python, it must equal what to_timestamp() makes of it."""
    rng = random.Random(5)
    epochs = [MAY, JUNE + 0.0000005, 1_780_000_058.0853307, 946_684_800.0000015] + [
        rng.uniform(1.5e9, 2.2e9) for _ in range(2000)]
    with psycopg.connect(dsn) as conn:
        stored = [row[0] for row in conn.execute("SELECT to_timestamp(e) FROM unnest(%s::float8[]) AS e", [epochs])]
    assert [timestamp(e) for e in epochs] == stored


def test_a_gap_in_sequence_numbers_is_refused_after_waiting_for_the_batch_before(dsn):
    async def work(ingest, conn):
        await enrol(conn, "dev-c")
        ingest.predecessor_wait_s = 0.5
        started = time.monotonic()
        with pytest.raises(ProtocolError) as gap:
            await ingest.apply("dev-c", 0xABC, batch("dev-c", [event_pending(5, make_event(MAY))]))
        return gap.value, time.monotonic() - started

    gap, waited = run(dsn, work)
    assert (gap.status, gap.code) == (409, "gap") and "starts at 5" in gap.message
    assert 0.4 <= waited < 3.0
    assert rows(dsn, "SELECT count(*) FROM events WHERE device_id = 'dev-c'") == [(0,)]


def test_a_batch_that_arrives_before_the_one_before_it_waits_for_it(dsn):
    async def work(ingest, conn):
        await enrol(conn, "dev-g")
        first = batch("dev-g", [event_pending(1, make_event(MAY)), event_pending(2, make_event(MAY + 60))])
        second = batch("dev-g", [event_pending(3, make_event(MAY + 120))])
        asked = ingest.pool.get_stats()["requests_num"]  # connections asked of the pool so far
        later = asyncio.create_task(ingest.apply("dev-g", 0xABC, second))
        # The second reaches the lock first, finds a gap, and waits: it asks for a connection again.
        while ingest.pool.get_stats()["requests_num"] < asked + 2:
            assert not later.done(), later.result()
            await asyncio.sleep(0.01)
        return await ingest.apply("dev-g", 0xABC, first), await later

    first, second = run(dsn, work)
    assert (first.high_water, second.high_water, second.applied) == (2, 3, 1)
    assert rows(dsn, "SELECT count(*) FROM events WHERE device_id = 'dev-g'") == [(3,)]


def test_state_records_keep_their_latest_version(dsn):
    async def work(ingest, conn):
        await enrol(conn, "dev-d")
        await ingest.apply("dev-d", 0xABC, batch("dev-d", [Pending(1, "camera_health", "gate", '{"state":"offline"}'),
                                                           Pending(2, "camera_health", "yard", '{"state":"online"}')]))
        await ingest.apply("dev-d", 0xABC, batch("dev-d", [Pending(3, "camera_health", "gate", '{"state":"online"}')]))

    run(dsn, work)
    assert rows(dsn, "SELECT key, seq, body FROM device_records WHERE device_id = 'dev-d' ORDER BY key") == [
        ("gate", 3, {"state": "online"}), ("yard", 2, {"state": "online"})]


def test_unknown_revoked_and_superseded_devices_are_refused(dsn):
    one = batch("dev-e", [event_pending(1, make_event(MAY))])

    async def work(ingest, conn):
        errors = []
        for serial, before in ((0x1, None), (0x1, "enrol-2"), (0x2, "revoke")):
            if before == "enrol-2":
                await enrol(conn, "dev-e", 0x2)  # a new enrolment retires certificate 1
            elif before == "revoke":
                assert await revoke(conn, "dev-e")
            with pytest.raises(ProtocolError) as error:
                await ingest.apply("dev-e", serial, one)
            errors.append(error.value.code)
        return errors

    assert run(dsn, work) == ["unknown_device", "certificate_superseded", "revoked"]
    assert rows(dsn, "SELECT count(*) FROM events WHERE device_id = 'dev-e'") == [(0,)]


def test_enrolment_tokens_work_once_and_expire(dsn):
    async def work(_ingest, conn):
        token = await create_token(conn, "dev-f", 60)
        first = await consume_token(conn, token)
        outcomes = []
        for attempt in (token, await create_token(conn, "dev-f", -1), "made-up"):
            with pytest.raises(ProtocolError) as error:
                await consume_token(conn, attempt)
            outcomes.append(error.value.code)
        stored = await (await conn.execute("SELECT token_sha256 FROM enrolment_tokens")).fetchall()
        return first, outcomes, token, stored

    first, outcomes, token, stored = run(dsn, work)
    assert first == "dev-f" and outcomes == ["bad_token"] * 3
    assert all(token not in value for (value,) in stored)
    with pytest.raises(ValueError, match="device name .Bad Id.: lower-case letters"):
        run(dsn, lambda _i, conn: create_token(conn, "Bad Id", 60))
