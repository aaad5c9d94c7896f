"""Events a crash left open: closed at the next start, so guards do not see them as ongoing forever.

A killed process (SIGKILL, power cut) never writes the close of the events that were open. Their end
is the last moment the stored row saw the object: the last point of its path (seconds since its start),
else its start. They are marked `"cut_short": "restart"` in their attributes; enrolled with central,
the closed version goes to the outbox in the same transaction, as the EventWriter sends any update.
"""
from __future__ import annotations

import time

import sqlite_utils

from vigia.appliance.outbox import UPSERT_OUTBOX, event_record
from vigia.appliance.storage import UPSERT_EVENT
from vigia.appliance.transactions import write_transaction
from vigia.scene.events import Event

CUT_SHORT = "cut_short"
RESTART = "restart"


def close_interrupted_events(db: sqlite_utils.Database, *, outbox: bool) -> int:
    """Close every event without an end (none are being written: call it before the appliance starts);
    returns how many were closed."""
    with write_transaction(db.conn):
        events = [Event.from_row(row) for row in db.query("SELECT * FROM events WHERE ended_at IS NULL")]
        rows = [_closed(event).to_row() for event in events]
        db.conn.executemany(UPSERT_EVENT, rows)
        if outbox:
            now = time.time()
            db.conn.executemany(UPSERT_OUTBOX, [event_record(row).to_row(now) for row in rows])
    return len(rows)


def _closed(event: Event) -> Event:
    last_seen = max((point[0] for point in event.path), default=0.0)
    event.end = event.start + max(last_seen, 0.0)
    event.ended_at = event.started_at + max(last_seen, 0.0)
    event.attributes = {**event.attributes, CUT_SHORT: RESTART}
    return event
