"""One destination's delivery thread: its durable queue, read in order, handed to its transport.

The head of the queue goes first and nothing passes it: a row that fails is tried again, after 1 s, 2 s, 4 s ...
up to the destination's `retry_max_s`, before any row behind it (an alert raised while the broker was down arrives
after the ones raised before it). Every try is written to the delivery log. A transport that regains its
destination (the broker answers again) asks for the next try at once (`retry_now`).
"""
from __future__ import annotations

import logging
import sqlite3
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Protocol

from vigia.appliance.notify.queue import Queued, Result, prune, record, waiting
from vigia.appliance.storage import connect
from vigia.appliance.worker import Worker

log = logging.getLogger(__name__)

TICK_S = 1.0          # the loop turns at least this often (the transport's upkeep)
PRUNE_EVERY_S = 3600.0


class Transport(Protocol):
    """How one destination is reached."""

    sink: str

    def maintain(self) -> None:
        """Upkeep, at every turn of the loop (connect, publish state); never raises."""

    def deliver(self, items: list[Queued]) -> list[Result]:
        """Try `items` in order; one result per row tried: all delivered, or some delivered and then the one that
        failed (the rest not tried). At least one result. Never raises."""

    def close(self) -> None:
        """Let go of the destination (the worker is stopping)."""


def backoff(failures: int, initial: float, most: float) -> float:
    """Seconds to wait after `failures` failures in a row: initial, doubled each time, at most `most`."""
    return min(most, initial * 2 ** min(failures - 1, 30))


class DeliveryWorker(Worker):
    """Reads `transport.sink`'s queue in `path` and delivers it, `batch` rows at a time."""

    def __init__(self, path: str | Path, transport: Transport, retry_initial_s: float, retry_max_s: float,
                 batch: int = 20, on_results: Callable[[list[Result]], None] = lambda results: None):
        super().__init__(f"notify-{transport.sink}")
        self._path = path
        self.transport = transport
        self._retry = (retry_initial_s, retry_max_s)
        self._batch = batch
        self._on_results = on_results  # told every try, once logged (metrics)
        self._wake = threading.Event()
        self._retry_at = 0.0   # monotonic: no try before
        self._failures = 0

    @property
    def sink(self) -> str:
        return self.transport.sink

    def wake(self) -> None:
        """New rows were queued (or the transport has something to do)."""
        self._wake.set()

    def retry_now(self) -> None:
        """The destination is back: try the head of the queue now rather than at the end of its wait."""
        self._retry_at = 0.0
        self._wake.set()

    def stop(self) -> None:
        super().stop()
        self._wake.set()

    def run(self) -> None:
        db = connect(self._path)
        try:
            self._loop(db.conn)
        finally:
            self.transport.close()
            db.conn.close()

    def _loop(self, conn: sqlite3.Connection) -> None:
        next_prune = time.monotonic()
        while not self.stopping.is_set():
            self._wake.clear()
            try:
                self.transport.maintain()
            except Exception:  # a bug in a transport must not end its deliveries: logged, tried again
                log.exception("notifications to %s: upkeep failed", self.sink)
            now = time.monotonic()
            try:
                if now >= self._retry_at and self._deliver_some(conn):
                    continue  # more may be waiting
                if now >= next_prune:
                    prune(conn, self.sink)
                    next_prune = now + PRUNE_EVERY_S
            except sqlite3.Error as exc:
                log.error("notifications to %s: database error, trying again: %s", self.sink, exc)
            left = self._retry_at - time.monotonic()
            self._wake.wait(min(TICK_S, left) if left > 0 else TICK_S)

    def _deliver_some(self, conn: sqlite3.Connection) -> bool:
        """Deliver the next rows; True when all went (try the next ones at once)."""
        items = waiting(conn, self.sink, self._batch)
        if not items:
            return False
        try:
            results = self.transport.deliver(items)
        except Exception as exc:  # as above: the row stays queued and is tried again
            log.exception("notifications to %s: delivery failed", self.sink)
            results = [Result(items[0], "failed", f"internal error: {type(exc).__name__}: {exc}")]
        record(conn, results)
        self._on_results(results)
        failed = next((r for r in results if r.outcome == "failed"), None)
        if failed is None:
            if self._failures:
                log.info("notifications to %s: delivered again after %d failed tries", self.sink, self._failures)
            self._failures = 0
            return True
        self._failures += 1
        wait = backoff(self._failures, *self._retry)
        self._retry_at = time.monotonic() + wait
        level = logging.WARNING if self._failures in (1, 5) or self._failures % 50 == 0 else logging.DEBUG
        log.log(level, "notifications to %s: %s failed (%s); try %d, next in %.1f s", self.sink, failed.item.key,
                failed.detail, self._failures, wait)
        return False
