"""The notifications camera threads make, stored in their queues from one thread of their own.

What was handed over while the last commit ran (a burst: a crowd opening many events) is one transaction; nothing
waits for more to come, so an alert alone is stored at once. Once committed, the destinations that got rows are
woken. Stopping stores what was handed over before, then lets go of the database.
"""
from __future__ import annotations

import logging
import queue
import sqlite3
import threading
from collections.abc import Callable
from pathlib import Path

from vigia.appliance.notify.queue import Notification, enforce_bound, enqueue
from vigia.appliance.storage import connect
from vigia.appliance.worker import Worker

log = logging.getLogger(__name__)

RETRY_S = 1.0     # after the database refused a commit


class NotifyWriter(Worker):
    """`put` from any thread; `bounds`: each sink's queue bound; `on_queued`: told the sinks that got rows;
    `on_dropped`: told the rows a full queue dropped."""

    def __init__(self, path: str | Path, bounds: dict[str, int], on_queued: Callable[[set[str]], None],
                 on_dropped: Callable[[str, int], None] = lambda sink, count: None):
        super().__init__("notify-writer")
        self._path = path
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
        while True:
            try:
                item = self._queue.get(timeout=RETRY_S if unsaved else None)
            except queue.Empty:
                item = []
            waiters, stop = [], False
            while True:
                if item is None:
                    stop = True
                elif isinstance(item, threading.Event):
                    waiters.append(item)
                else:
                    unsaved.extend(item)
                if stop or waiters:
                    break
                try:
                    item = self._queue.get_nowait()
                except queue.Empty:
                    break
            if unsaved and self._write(conn, unsaved):
                unsaved = []
            for waiter in waiters:
                waiter.set()
            if stop:
                if unsaved:
                    log.error("%d notifications could not be stored before the writer stopped", len(unsaved))
                return

    def _write(self, conn: sqlite3.Connection, items: list[Notification]) -> bool:
        """Commit `items`; False (they are tried again) when the database refuses."""
        try:
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
