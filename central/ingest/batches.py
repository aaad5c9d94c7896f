"""Central ingest: a checked batch into PostgreSQL, exactly once per device sequence number.

One transaction per batch. The device's row is locked first (its batches are applied one at a
time, whichever instance gets them); records at or below its high-water mark are skipped, the
rest go in, and the mark moves to the batch's last sequence number in the same commit. A batch
that starts past the mark waits a moment for the one before it (a device keeps two in flight).

A batch's events are COPYed straight into `events` when central holds none of them (a backlog keeps
one version of each event). When some are newer versions of events central holds (the COPY hits the
primary key and its savepoint is undone), they all go through a temporary table and are UPSERTed on
(device_id, event_id): a newer version (higher seq) replaces an older one, never the reverse. The
commit also NOTIFYs `NOTIFY_CHANNEL` with the device and the sequence numbers applied (the fleet
dashboard LISTENs).
"""
from __future__ import annotations

import asyncio
import datetime as dt
import json
from dataclasses import dataclass

import msgspec
import psycopg
from psycopg_pool import AsyncConnectionPool

from vigia.central.ingest.enrolment import check_certificate
from vigia.central.ingest.schema import ensure_partitions, month_of
from vigia.central.reanalysis.jobs import add_policy_jobs
from vigia.central.reanalysis.policy import Policy
from vigia.sync.protocol import Batch, EventRecord, ProtocolError

PREDECESSOR_WAIT_S = 5.0  # how long a batch that starts past the high-water mark waits for the one before it
NOTIFY_CHANNEL = "vigia_ingest"  # payload {"device_id", "first_seq", "last_seq"}, sent on commit
EVENT_COLUMNS = ("device_id", "event_id", "seq", "camera", "rule", "kind", "zone", "label", "track_id", "start",
                 "end", "started_at", "ended_at", "max_score", "box", "alert", "snapshot", "path", "attributes")
_QUOTED = ", ".join(f'"{c}"' for c in EVENT_COLUMNS)

CREATE_INCOMING = """
    CREATE TEMP TABLE IF NOT EXISTS incoming_events (
        device_id text, event_id text, seq bigint, camera text, rule text, kind text, zone text, label text,
        track_id integer, start double precision, "end" double precision, started_at timestamptz,
        ended_at timestamptz, max_score real, box text, alert boolean, snapshot text, path text, attributes text
    ) ON COMMIT DELETE ROWS"""

COPY_INCOMING = f"COPY incoming_events ({_QUOTED}) FROM STDIN"
COPY_EVENTS = f"COPY events ({_QUOTED}) FROM STDIN"

MERGE_EVENTS = f"""
    INSERT INTO events ({_QUOTED})
    SELECT device_id, event_id, seq, camera, rule, kind, zone, label, track_id, start, "end", started_at,
           ended_at, max_score, box::jsonb, alert, snapshot, path::jsonb, attributes::jsonb
    FROM incoming_events
    ON CONFLICT (device_id, event_id, started_at) DO UPDATE SET
        {", ".join(f'"{c}" = excluded."{c}"' for c in EVENT_COLUMNS[2:] if c != "started_at")},
        received_at = now()
    WHERE events.seq < excluded.seq"""

UPSERT_RECORD = """
    INSERT INTO device_records (device_id, kind, key, seq, body) VALUES (%s, %s, %s, %s, %s::jsonb)
    ON CONFLICT (device_id, kind, key) DO UPDATE SET seq = excluded.seq, body = excluded.body, received_at = now()
    WHERE device_records.seq < excluded.seq"""


async def prepare_connection(conn: psycopg.AsyncConnection) -> None:
    """Pool `configure` hook: the session's temporary table for incoming events."""
    await conn.execute(CREATE_INCOMING)
    await conn.commit()


@dataclass(frozen=True)
class IngestResult:
    high_water: int
    applied: int
    duplicates: int


def event_row(device_id: str, record: EventRecord) -> tuple:
    """The COPY row of an event (into `events` or `incoming_events`); JSON columns serialised by msgspec."""
    e = record.body
    return (device_id, e.id, record.seq, e.camera, e.rule, e.kind, e.zone, e.label, e.track_id, e.start, e.end,
            timestamp(e.started_at), None if e.ended_at is None else timestamp(e.ended_at), e.max_score,
            _json(e.box), e.alert, e.snapshot, _json(e.path), _json(e.attributes))


POSTGRES_EPOCH = dt.datetime(2000, 1, 1, tzinfo=dt.timezone.utc)


def timestamp(epoch: float) -> dt.datetime:
    """Epoch seconds as PostgreSQL's to_timestamp() rounds them (to the microsecond, from its own epoch,
    half to even), so that an event's `started_at`, part of the key, is the same whichever way it came."""
    return POSTGRES_EPOCH + dt.timedelta(microseconds=round((epoch - 946_684_800.0) * 1e6))


def _json(value) -> str:
    return msgspec.json.encode(value).decode()


class Ingest:
    """Applies batches through a connection pool; remembers which monthly partitions exist."""

    def __init__(self, pool: AsyncConnectionPool, predecessor_wait_s: float = PREDECESSOR_WAIT_S,
                 reanalysis: Policy | None = None):
        self.pool = pool
        self.predecessor_wait_s = predecessor_wait_s
        self.reanalysis = reanalysis  # which new events get a re-analysis job, in the batch's transaction
        self._months: set = set()

    async def apply(self, device_id: str, cert_serial: int, batch: Batch) -> IngestResult:
        """Apply `batch` for the authenticated device; ProtocolError when it is refused.

        A batch that starts past the high-water mark waits (up to `predecessor_wait_s`) for the batch
        before it: a device sends its next batch while central still takes the one before, and the two
        may reach the device's lock in either order (several instances, one pool)."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + self.predecessor_wait_s
        delay = 0.005
        while True:
            try:
                return await self._apply(device_id, cert_serial, batch)
            except ProtocolError as exc:
                if exc.code != "gap" or loop.time() + delay > deadline:
                    raise
            await asyncio.sleep(delay)
            delay = min(2 * delay, 0.1)

    async def _apply(self, device_id: str, cert_serial: int, batch: Batch) -> IngestResult:
        events: dict[str, EventRecord] = {}
        others = []
        for record in batch.records:
            if isinstance(record, EventRecord):
                events[record.key] = record  # the same event twice in a batch: the later one
            else:
                others.append(record)
        async with self.pool.connection() as conn:
            months = {month_of(r.body.started_at) for r in events.values()} - self._months
            if months:
                await ensure_partitions(conn, months)
                self._months |= months
            async with conn.transaction():
                high_water = await check_certificate(conn, device_id, cert_serial, lock=True)
                if batch.last_seq <= high_water:
                    raise ProtocolError(409, "replayed", f"records {batch.first_seq}..{batch.last_seq} were applied"
                                        f" before (high-water mark {high_water})", high_water=high_water)
                if batch.first_seq > high_water + 1:
                    raise ProtocolError(409, "gap", f"batch starts at {batch.first_seq} but central holds records up"
                                        f" to {high_water} only", high_water=high_water)
                fresh = [r for r in events.values() if r.seq > high_water]
                if fresh:
                    await self._store_events(conn, device_id, fresh)
                    if self.reanalysis is not None:
                        await add_policy_jobs(conn, device_id, (r.body for r in fresh), self.reanalysis)
                states = [(device_id, r.kind, r.key, r.seq, _json(r.body)) for r in others if r.seq > high_water]
                if states:
                    async with conn.cursor() as cursor:
                        await cursor.executemany(UPSERT_RECORD, states)
                await conn.execute("UPDATE devices SET high_water = %s, last_seen_at = now() WHERE device_id = %s",
                                   [batch.last_seq, device_id])
                await conn.execute("SELECT pg_notify(%s, %s)", [NOTIFY_CHANNEL, json.dumps(
                    {"device_id": device_id, "first_seq": high_water + 1, "last_seq": batch.last_seq})])
        applied = batch.last_seq - high_water
        return IngestResult(batch.last_seq, applied, len(batch.records) - applied)

    @staticmethod
    async def _store_events(conn: psycopg.AsyncConnection, device_id: str, records: list[EventRecord]) -> None:
        """COPY straight into `events` (a backlog holds one version of each event, new to central); when
        some are newer versions of events central holds, all go through `incoming_events` and the UPSERT."""
        rows = [event_row(device_id, record) for record in records]
        try:
            async with conn.transaction(), conn.cursor() as cursor:  # a savepoint: undone alone on a conflict
                async with cursor.copy(COPY_EVENTS) as copy:
                    for row in rows:
                        await copy.write_row(row)
            return
        except psycopg.errors.UniqueViolation:
            pass
        async with conn.cursor() as cursor:
            async with cursor.copy(COPY_INCOMING) as copy:
                for row in rows:
                    await copy.write_row(row)
            await cursor.execute(MERGE_EVENTS)
