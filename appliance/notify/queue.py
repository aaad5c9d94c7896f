"""The durable notification queues and their delivery log, in the appliance's SQLite database (migration 9).

Each destination (`sink`: "mqtt", "webhook:NAME") has its own queue: the rows of that sink not yet delivered,
taken in `id` order. A row's `key` is its idempotency key (the event id and the change, `01J...:open`): the same
key is queued once per sink, and the receiver sees it on every try of that row. Every try, and every row dropped
by a full queue, is a row of `notification_attempts`: the delivery log (`vigia notify log`).

Delivered rows and their log stay for `KEEP_S`, then `prune` removes them.
"""
from __future__ import annotations

import json
import logging
import sqlite3
import time
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Literal

from vigia.appliance.transactions import write_transaction

log = logging.getLogger(__name__)

KEEP_S = 7 * 86400.0  # delivered rows and the log of their tries are kept this long

Outcome = Literal["delivered", "failed", "dropped"]


@dataclass(frozen=True)
class Notification:
    """One message for one destination, as the camera thread makes it."""

    sink: str
    key: str
    body: dict
    snapshot: str | None = None  # the event's snapshot, relative to the data directory (webhooks may send it)

    def row(self, now: float) -> tuple:
        return self.sink, self.key, json.dumps(self.body, separators=(",", ":")), self.snapshot, now


@dataclass(frozen=True)
class Queued:
    """A row waiting for its destination."""

    id: int
    sink: str
    key: str
    body: str  # JSON text
    snapshot: str | None
    created_at: float
    attempts: int  # tries so far


@dataclass(frozen=True)
class Result:
    """What one try of a queued row came to: `detail` says why it failed (or the receiver's status)."""

    item: Queued
    outcome: Literal["delivered", "failed"]
    detail: str = ""


@dataclass(frozen=True)
class Attempt:
    """One line of the delivery log."""

    id: int
    sink: str
    key: str
    attempt: int
    at: float
    outcome: Outcome
    detail: str

    def to_json(self) -> dict:
        return {"id": self.id, "sink": self.sink, "key": self.key, "attempt": self.attempt, "at": self.at,
                "outcome": self.outcome, "detail": self.detail}


def enqueue(conn: sqlite3.Connection, items: Iterable[Notification], now: float | None = None) -> set[str]:
    """Queue `items` in one transaction (a key already queued for its sink is left as it is); the sinks that got rows."""
    now = time.time() if now is None else now
    sinks = set()
    with write_transaction(conn):
        for item in items:
            cursor = conn.execute("INSERT OR IGNORE INTO notifications (sink, key, body, snapshot, created_at) "
                                  "VALUES (?, ?, ?, ?, ?)", item.row(now))
            if cursor.rowcount:
                sinks.add(item.sink)
    return sinks


def waiting(conn: sqlite3.Connection, sink: str, limit: int = 50) -> list[Queued]:
    """The sink's undelivered rows, oldest first."""
    rows = conn.execute("SELECT id, sink, key, body, snapshot, created_at, attempts FROM notifications "
                        "WHERE sink = ? AND delivered_at IS NULL ORDER BY id LIMIT ?", [sink, limit]).fetchall()
    return [Queued(*row) for row in rows]


def record(conn: sqlite3.Connection, results: list[Result], now: float | None = None) -> None:
    """Log each try; delivered rows are marked so (they leave the queue), failed ones count the try."""
    now = time.time() if now is None else now
    with write_transaction(conn):
        for result in results:
            item = result.item
            delivered = now if result.outcome == "delivered" else None
            conn.execute("UPDATE notifications SET attempts = attempts + 1, delivered_at = ? WHERE id = ?",
                         [delivered, item.id])
            conn.execute("INSERT INTO notification_attempts (sink, key, attempt, at, outcome, detail) "
                         "VALUES (?, ?, ?, ?, ?, ?)", [item.sink, item.key, item.attempts + 1, now, result.outcome,
                                                       result.detail[:1000]])


def enforce_bound(conn: sqlite3.Connection, sink: str, max_items: int, now: float | None = None) -> int:
    """Keep the sink's queue within `max_items` by dropping its oldest undelivered rows (logged as `dropped`,
    and said in the appliance's log); returns how many went."""
    now = time.time() if now is None else now
    with write_transaction(conn):
        count = conn.execute("SELECT count(*) FROM notifications WHERE sink = ? AND delivered_at IS NULL",
                             [sink]).fetchone()[0]
        if count <= max_items:
            return 0
        dropped = conn.execute(
            "DELETE FROM notifications WHERE id IN (SELECT id FROM notifications WHERE sink = ? AND delivered_at IS NULL "
            "ORDER BY id LIMIT ?) RETURNING key, attempts", [sink, count - max_items]).fetchall()
        conn.executemany("INSERT INTO notification_attempts (sink, key, attempt, at, outcome, detail) "
                         "VALUES (?, ?, ?, ?, 'dropped', ?)",
                         [(sink, key, attempts, now, f"queue full ({max_items} waiting): oldest dropped")
                          for key, attempts in dropped])
    log.warning("notifications to %s: queue over its bound of %d, dropped the oldest %d", sink, max_items, len(dropped))
    return len(dropped)


def delivery_log(conn: sqlite3.Connection, sink: str | None = None, key: str | None = None, limit: int = 100,
                 before: int | None = None) -> list[Attempt]:
    """The delivery log, newest first; filtered by sink, by idempotency key (an event id gives both of its changes),
    and `before` a log id (the next page)."""
    where, params = [], []
    if sink is not None:
        where.append("sink = ?")
        params.append(sink)
    if key is not None:
        where.append("(key = ? OR key LIKE ? ESCAPE '\\')")
        params += [key, key.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + ":%"]
    if before is not None:
        where.append("id < ?")
        params.append(before)
    sql = ("SELECT id, sink, key, attempt, at, outcome, detail FROM notification_attempts"
           + (" WHERE " + " AND ".join(where) if where else "") + " ORDER BY id DESC LIMIT ?")
    return [Attempt(*row) for row in conn.execute(sql, [*params, limit]).fetchall()]


@dataclass(frozen=True)
class QueueState:
    sink: str
    waiting: int
    oldest_waiting_at: float | None
    delivered: int  # still kept (KEEP_S)
    dropped: int    # in the kept log


def queue_states(conn: sqlite3.Connection) -> list[QueueState]:
    """Each sink's queue, by name."""
    rows = conn.execute(
        "SELECT sink, sum(delivered_at IS NULL), min(CASE WHEN delivered_at IS NULL THEN created_at END), "
        "sum(delivered_at IS NOT NULL) FROM notifications GROUP BY sink").fetchall()
    dropped = dict(conn.execute("SELECT sink, count(*) FROM notification_attempts WHERE outcome = 'dropped' "
                                "GROUP BY sink").fetchall())
    states = {sink: QueueState(sink, waiting, oldest, delivered, dropped.get(sink, 0))
              for sink, waiting, oldest, delivered in rows}
    for sink, count in dropped.items():
        states.setdefault(sink, QueueState(sink, 0, None, 0, count))
    return [states[sink] for sink in sorted(states)]


def prune(conn: sqlite3.Connection, sink: str, now: float | None = None, keep_s: float = KEEP_S) -> int:
    """Forget the sink's rows delivered more than `keep_s` ago, and log lines as old; returns the rows removed."""
    before = (time.time() if now is None else now) - keep_s
    with write_transaction(conn):
        removed = conn.execute("DELETE FROM notifications WHERE sink = ? AND delivered_at < ?", [sink, before]).rowcount
        conn.execute("DELETE FROM notification_attempts WHERE sink = ? AND at < ? AND NOT EXISTS (SELECT 1 FROM "
                     "notifications n WHERE n.sink = notification_attempts.sink AND n.key = notification_attempts.key)",
                     [sink, before])
    return removed
