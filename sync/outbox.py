"""The edge outbox: records waiting for central, in the appliance's SQLite database.

Rows are written by the EventWriter in the same transaction as what they describe (schema in
vigia.appliance.storage, migration 5). A row is *unsent* until the uploader puts it in a batch:
then it gets the next device sequence number, and keeps it until central's high-water mark
passes it, so a batch interrupted by a crash or a lost answer is sent again unchanged.

While unsent, a newer version of the same record (an event that was updated) replaces the
older one in place: the outbox holds at most one unsent row per (kind, key).
"""
from __future__ import annotations

import contextlib
import json
import logging
import sqlite3
import time
from collections.abc import Iterator
from dataclasses import dataclass

log = logging.getLogger(__name__)

# Lower goes first. Alerts and events are never dropped; the others go when the outbox is full.
PRIORITY_ALERT = 0
PRIORITY_EVENT = 1
PRIORITY_STATE = 2     # camera health, track summaries, metrics roll-ups
PRIORITY_MEDIA = 3     # thumbnails, then clips: one by one to object storage (vigia.sync.media), never batched
DROPPABLE_FROM = PRIORITY_STATE

UPSERT_OUTBOX = (
    "INSERT INTO outbox (kind, key, priority, body, created_at) VALUES (:kind, :key, :priority, :body, :created_at) "
    "ON CONFLICT (kind, key) WHERE seq IS NULL DO UPDATE SET body = excluded.body, priority = excluded.priority"
)


@dataclass(frozen=True)
class OutboxRecord:
    """One record for central: `key` identifies it within its kind (an event id, a camera name)."""

    kind: str
    key: str
    priority: int
    body: dict

    def to_row(self, now: float | None = None) -> dict:
        return {"kind": self.kind, "key": self.key, "priority": self.priority,
                "body": json.dumps(self.body, separators=(",", ":")), "created_at": now or time.time()}


@dataclass(frozen=True)
class Pending:
    """A numbered outbox row, as it goes on the wire."""

    seq: int
    kind: str
    key: str
    body: str  # JSON text


def event_record(row: dict) -> OutboxRecord:
    """The outbox record of an event row (Event.to_row()): JSON columns go as JSON."""
    body = dict(row)
    for name in ("box", "path", "attributes"):
        body[name] = json.loads(row[name])
    body["alert"] = bool(row["alert"])
    return OutboxRecord("event", row["id"], PRIORITY_ALERT if row["alert"] else PRIORITY_EVENT, body)


def camera_health_record(camera: str, state: str, since: float, last_error: str | None) -> OutboxRecord:
    return OutboxRecord("camera_health", camera, PRIORITY_STATE,
                        {"camera": camera, "state": state, "since": since, "last_error": last_error})


@contextlib.contextmanager
def _transaction(conn: sqlite3.Connection) -> Iterator[None]:
    """BEGIN IMMEDIATE ... COMMIT on an autocommit connection (the write lock taken at once)."""
    conn.execute("BEGIN IMMEDIATE")
    try:
        yield
    except BaseException:
        conn.execute("ROLLBACK")
        raise
    conn.execute("COMMIT")


def next_batch(conn: sqlite3.Connection, max_records: int, max_bytes: int) -> list[Pending]:
    """The batch to send: the numbered rows left from before, or the next unsent rows, numbered now.

    Unsent rows go by priority, then age; their sequence numbers follow the order they are sent in,
    so central sees one contiguous run per device.
    """
    with _transaction(conn):
        rows = conn.execute("SELECT seq, kind, key, body FROM outbox WHERE seq IS NOT NULL ORDER BY seq LIMIT ?",
                            [max_records]).fetchall()
        if rows:
            return [Pending(*row) for row in rows]
        candidates = conn.execute(
            "SELECT id, kind, key, body FROM outbox WHERE seq IS NULL AND priority < ? ORDER BY priority, id LIMIT ?",
            [PRIORITY_MEDIA, max_records]).fetchall()
        last = conn.execute("SELECT value FROM sync_state WHERE name = 'last_seq'").fetchone()[0]
        batch, size = [], 0
        for row_id, kind, key, body in candidates:
            size += len(body) + len(key) + 40
            if batch and size > max_bytes:
                break
            batch.append((row_id, Pending(last + len(batch) + 1, kind, key, body)))
        if batch:
            conn.executemany("UPDATE outbox SET seq = ? WHERE id = ?", [(p.seq, row_id) for row_id, p in batch])
            conn.execute("UPDATE sync_state SET value = ? WHERE name = 'last_seq'", [batch[-1][1].seq])
        return [p for _, p in batch]


# An acknowledged event with a snapshot: its thumbnail goes next (one unsent row per event).
QUEUE_THUMBNAILS = (
    "INSERT INTO outbox (kind, key, priority, body, created_at) "
    "SELECT 'thumbnail', key, ?, json_object('event_id', key, 'path', json_extract(body, '$.snapshot')), ? "
    "FROM outbox WHERE seq IS NOT NULL AND seq <= ? AND kind = 'event' AND json_extract(body, '$.snapshot') IS NOT NULL "
    "ON CONFLICT (kind, key) WHERE seq IS NULL DO UPDATE SET body = excluded.body"
)


def acknowledge(conn: sqlite3.Connection, high_water: int, thumbnails: bool = False) -> int:
    """Central holds every record up to `high_water`: drop them here. Returns how many went.

    With `thumbnails`, the snapshots of the events acknowledged are queued for upload, in the same
    transaction: a thumbnail always follows its event."""
    with _transaction(conn):
        if thumbnails:
            conn.execute(QUEUE_THUMBNAILS, [PRIORITY_MEDIA, time.time(), high_water])
        return conn.execute("DELETE FROM outbox WHERE seq IS NOT NULL AND seq <= ?", [high_water]).rowcount


@dataclass(frozen=True)
class Backlog:
    records: int
    by_kind: dict[str, int]
    oldest_created_at: float | None
    dropped: int  # records dropped by the bound, since the outbox was made


def backlog(conn: sqlite3.Connection) -> Backlog:
    by_kind = dict(conn.execute("SELECT kind, count(*) FROM outbox GROUP BY kind").fetchall())
    oldest = conn.execute("SELECT min(created_at) FROM outbox").fetchone()[0]
    dropped = conn.execute("SELECT value FROM sync_state WHERE name = 'dropped'").fetchone()[0]
    return Backlog(sum(by_kind.values()), by_kind, oldest, dropped)


def enforce_bound(conn: sqlite3.Connection, max_records: int) -> dict[str, int]:
    """Keep the outbox within `max_records` by dropping the oldest unsent low-priority records.

    Alerts and events are never dropped: when only they are left the outbox stays over its bound
    (and says so in the log). Returns the records dropped, by kind.
    """
    count = conn.execute("SELECT count(*) FROM outbox").fetchone()[0]
    excess = count - max_records
    if excess <= 0:
        return {}
    with _transaction(conn):
        kinds = conn.execute(
            "DELETE FROM outbox WHERE id IN (SELECT id FROM outbox WHERE seq IS NULL AND priority >= ? "
            "ORDER BY id LIMIT ?) RETURNING kind", [DROPPABLE_FROM, excess]).fetchall()
        conn.execute("UPDATE sync_state SET value = value + ? WHERE name = 'dropped'", [len(kinds)])
    dropped: dict[str, int] = {}
    for (kind,) in kinds:
        dropped[kind] = dropped.get(kind, 0) + 1
    if dropped:
        log.warning("outbox over its bound of %d records: dropped the oldest %s", max_records,
                    ", ".join(f"{n} {kind}" for kind, n in sorted(dropped.items())))
    if len(kinds) < excess:
        log.warning("outbox holds %d records, over its bound of %d: only alerts and events are left, none dropped",
                    count - len(kinds), max_records)
    return dropped
