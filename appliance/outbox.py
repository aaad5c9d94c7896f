"""The edge outbox: records waiting for central, in the appliance's SQLite database.

Rows are written by the EventWriter in the same transaction as what they describe (schema in
vigia.appliance.storage, migration 5). A row is *unsent* until the uploader puts it in a batch:
then it gets the next device sequence number, and keeps it until central's high-water mark
passes it, so a batch interrupted by a crash or a lost answer is sent again unchanged.

While unsent, a newer version of the same record (an event that was updated) replaces the
older one in place: the outbox holds at most one unsent row per (kind, key).

A numbered record central refuses as malformed goes to the `dead_letters` table (migration 8)
with central's error; a small `rejected` record ({"kind", "key", "error"}, keyed by the sequence
number) takes its place and sequence number, so nothing is lost here and central sees the refusal.
"""
from __future__ import annotations

import json
import logging
import sqlite3
import time
from dataclasses import dataclass
from typing import NamedTuple

from vigia.appliance.transactions import write_transaction

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


class Pending(NamedTuple):
    """A numbered outbox row, as it goes on the wire (a tuple: batches of thousands are made often)."""

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


def camera_layout_record(camera: str, layout: dict, classes: list[str]) -> OutboxRecord:
    """A camera's zones, lines and rules (`vigia.appliance.config.camera_layout`) and the detector's classes:
    what central's re-analysis runs the camera's own rules with."""
    return OutboxRecord("camera_layout", camera, PRIORITY_STATE, {"camera": camera, **layout, "classes": classes})


def next_batch(conn: sqlite3.Connection, max_records: int, max_bytes: int, after_seq: int = 0) -> list[Pending]:
    """The batch to send: the numbered rows left from before, or the next unsent rows, numbered now.

    Unsent rows go by priority, then age; their sequence numbers follow the order they are sent in,
    so central sees one contiguous run per device. `after_seq` skips the numbered rows up to it (the
    batch in flight, while the uploader prepares the one after it).
    """
    with write_transaction(conn):
        rows = conn.execute("SELECT seq, kind, key, body FROM outbox WHERE seq > ? ORDER BY seq LIMIT ?",
                            [after_seq, max_records]).fetchall()
        if rows:
            return list(map(Pending._make, rows))
        last = conn.execute("SELECT value FROM sync_state WHERE name = 'last_seq'").fetchone()[0]
        numbered = conn.execute(NUMBER_NEXT, {"last": last, "media": PRIORITY_MEDIA, "records": max_records,
                                              "bytes": max_bytes}).fetchall()
        if numbered:
            conn.execute("UPDATE sync_state SET value = ? WHERE name = 'last_seq'", [last + len(numbered)])
        return sorted(map(Pending._make, numbered))  # by seq, the first field


# The next unsent rows (priority, then age; at most :records of them and about :bytes, at least one)
# numbered from :last + 1 in that order, in one statement. The index on the unsent rows' order is named:
# left to itself the planner may read every unsent row through the `seq` index and sort them all.
NUMBER_NEXT = """
    WITH chosen AS (
        SELECT id, priority, length(body) + length(key) + 40 AS size FROM outbox INDEXED BY idx_outbox_unsent_order
        WHERE seq IS NULL AND priority < :media ORDER BY priority, id LIMIT :records),
    ranked AS (
        SELECT id, row_number() OVER running AS n, sum(size) OVER running AS size
        FROM chosen WINDOW running AS (ORDER BY priority, id))
    UPDATE outbox SET seq = :last + ranked.n FROM ranked
    WHERE outbox.id = ranked.id AND (ranked.n = 1 OR ranked.size <= :bytes)
    RETURNING seq, kind, key, body"""


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
    with write_transaction(conn):
        if thumbnails:
            conn.execute(QUEUE_THUMBNAILS, [PRIORITY_MEDIA, time.time(), high_water])
        return conn.execute("DELETE FROM outbox WHERE seq IS NOT NULL AND seq <= ?", [high_water]).rowcount


REJECTED = "rejected"  # the kind of the record that takes a dead letter's sequence number
_KEPT_CHARS = 256      # of the refused record's kind and key, in the `rejected` record (the protocol's Text)
_ERROR_CHARS = 4096    # of central's error, in the `rejected` record


@dataclass(frozen=True)
class DeadLetter:
    seq: int
    kind: str
    key: str
    body: str  # JSON text, as it was sent
    error: str  # central's answer
    created_at: float
    rejected_at: float


def dead_letter(conn: sqlite3.Connection, seq: int, error: str, now: float | None = None) -> DeadLetter | None:
    """Central refused the numbered record `seq` as malformed: keep it in `dead_letters`, and let a
    `rejected` record take its sequence number, so that central's run stays contiguous and central
    learns what it refused. None when no such numbered row is left (or it is a `rejected` one already)."""
    now = now or time.time()
    with write_transaction(conn):
        row = conn.execute("SELECT kind, key, body, created_at FROM outbox WHERE seq = ? AND kind != ?",
                           [seq, REJECTED]).fetchone()
        if row is None:
            return None
        kind, key, body, created_at = row
        conn.execute("INSERT INTO dead_letters (seq, kind, key, body, error, created_at, rejected_at) "
                     "VALUES (?, ?, ?, ?, ?, ?, ?)", [seq, kind, key, body, error, created_at, now])
        rejected = {"kind": kind[:_KEPT_CHARS], "key": key[:_KEPT_CHARS], "error": error[:_ERROR_CHARS]}
        conn.execute("UPDATE outbox SET kind = ?, key = ?, body = ? WHERE seq = ?",
                     [REJECTED, str(seq), json.dumps(rejected, separators=(",", ":")), seq])
    return DeadLetter(seq, kind, key, body, error, created_at, now)


def dead_letters(conn: sqlite3.Connection, limit: int | None = None) -> list[DeadLetter]:
    """The records central refused, newest first."""
    rows = conn.execute("SELECT seq, kind, key, body, error, created_at, rejected_at FROM dead_letters "
                        "ORDER BY id DESC LIMIT ?", [-1 if limit is None else limit]).fetchall()
    return [DeadLetter(*row) for row in rows]


@dataclass(frozen=True)
class Backlog:
    records: int
    by_kind: dict[str, int]
    oldest_created_at: float | None
    dropped: int  # records dropped by the bound, since the outbox was made
    dead_letters: int = 0  # records central refused as malformed, kept in `dead_letters`


def backlog(conn: sqlite3.Connection) -> Backlog:
    by_kind = dict(conn.execute("SELECT kind, count(*) FROM outbox GROUP BY kind").fetchall())
    oldest = conn.execute("SELECT min(created_at) FROM outbox").fetchone()[0]
    dropped = conn.execute("SELECT value FROM sync_state WHERE name = 'dropped'").fetchone()[0]
    refused = conn.execute("SELECT count(*) FROM dead_letters").fetchone()[0]
    return Backlog(sum(by_kind.values()), by_kind, oldest, dropped, refused)


def enforce_bound(conn: sqlite3.Connection, max_records: int) -> dict[str, int]:
    """Keep the outbox within `max_records` by dropping the oldest unsent low-priority records.

    Alerts and events are never dropped: when only they are left the outbox stays over its bound
    (and says so in the log). Returns the records dropped, by kind.
    """
    count = conn.execute("SELECT count(*) FROM outbox").fetchone()[0]
    excess = count - max_records
    if excess <= 0:
        return {}
    with write_transaction(conn):
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
