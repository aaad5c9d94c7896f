"""The notifications camera threads make, stored in their queues from one thread of their own.

What was handed over while the last commit ran (a burst: a crowd opening many events) is one transaction; nothing
waits for more to come, so an alert alone is stored at once. Once committed, the destinations that got rows are
woken. An event's closing whose snapshot is still being written is held until it is (at most SNAPSHOT_WAIT_S): the
destinations that send snapshots find it there, and what is queued after it does not wait behind it in a
destination's queue (an alert behind a closing). Stopping, or a `flush`, stores everything handed over before,
then lets go of the database.
"""
from __future__ import annotations

import logging
import queue
import sqlite3
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from vigia.appliance.notify.queue import Notification, enforce_bound, enqueue
from vigia.appliance.notify.snapshots import SNAPSHOT_WAIT_S
from vigia.appliance.storage import connect
from vigia.appliance.transactions import write_transaction
from vigia.appliance.worker import Worker

log = logging.getLogger(__name__)

RETRY_S = 1.0     # after the database refused a commit
HOLD_POLL_S = 0.05  # how often a held closing's snapshot is looked for


@dataclass
class _Held:
    """A closing (one row per destination) waiting for its snapshot."""

    items: list[Notification]
    until: float  # monotonic: stored then, written or not


class NotifyWriter(Worker):
    """`put` from any thread; `bounds`: each sink's queue bound; `on_queued`: told the sinks that got rows;
    `on_dropped`: told the rows a full queue dropped; `data_dir`: where snapshots are written (None: nothing held)."""

    def __init__(self, path: str | Path, bounds: dict[str, int], on_queued: Callable[[set[str]], None],
                 on_dropped: Callable[[str, int], None] = lambda sink, count: None, data_dir: Path | None = None):
        super().__init__("notify-writer")
        self._path = path
        self._data_dir = data_dir
        self._bounds = bounds
        self._on_queued = on_queued
        self._on_dropped = on_dropped
        self._queue: queue.Queue[list[Notification] | threading.Event | None] = queue.Queue()

    def put(self, items: list[Notification]) -> None:
        self._queue.put(items)

    def flush(self, timeout: float = 10.0) -> bool:
        """Wait until what was put so far is stored; False when it was not within `timeout` (or never started)."""
        done = threading.Event()
        self._queue.put(done)
        return done.wait(timeout)

    def stop(self) -> None:
        super().stop()
        self._queue.put(None)

    def run(self) -> None:
        db = connect(self._path)
        try:
            self._write_until_stopped(db.conn)
        finally:
            db.conn.close()

    def _write_until_stopped(self, conn: sqlite3.Connection) -> None:
        unsaved: list[Notification] = []
        held: list[_Held] = []
        while True:
            try:
                item = self._queue.get(timeout=RETRY_S if unsaved else HOLD_POLL_S if held else None)
            except queue.Empty:
                item = []
            waiters, stop = [], False
            while True:
                if item is None:
                    stop = True
                elif isinstance(item, threading.Event):
                    waiters.append(item)
                elif self._snapshot_pending(item):
                    held.append(_Held(item, time.monotonic() + SNAPSHOT_WAIT_S))
                else:
                    unsaved.extend(item)
                if stop or waiters:
                    break
                try:
                    item = self._queue.get_nowait()
                except queue.Empty:
                    break
            now, everything = time.monotonic(), stop or bool(waiters)
            for closing in [h for h in held if everything or now >= h.until or not self._snapshot_pending(h.items)]:
                held.remove(closing)
                unsaved.extend(closing.items)
            if unsaved and self._write(conn, unsaved):
                unsaved = []
            for waiter in waiters:
                waiter.set()
            if stop:
                if unsaved:
                    log.error("%d notifications could not be stored before the writer stopped", len(unsaved))
                return

    def _snapshot_pending(self, items: list[Notification]) -> bool:
        """A closing whose snapshot is not written yet."""
        return self._data_dir is not None and any(
            item.key.endswith(":close") and item.snapshot and not (self._data_dir / item.snapshot).exists()
            for item in items)

    def _write(self, conn: sqlite3.Connection, items: list[Notification]) -> bool:
        """Commit `items`; False (they are tried again) when the database refuses."""
        try:
            with write_transaction(conn):  # one commit (one fsync) for the rows and their queues' bounds
                sinks = enqueue(conn, items)
                dropped = {sink: enforce_bound(conn, sink, self._bounds.get(sink, 10_000)) for sink in sinks}
        except sqlite3.Error as exc:
            log.error("could not store %d notifications, retrying in %g s: %s", len(items), RETRY_S, exc)
            return False
        for sink, count in dropped.items():
            if count:
                self._on_dropped(sink, count)
        if sinks:
            self._on_queued(sinks)
        return True
