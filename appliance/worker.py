"""The appliance's background threads, with one lifecycle: built, then `start()`, `stop()` and `join(timeout)`.

A worker's loop is its `run()`, on a daemon thread of the worker's name; it returns once `stopping` is set.
`stop()` only asks and returns at once; `join` waits. `close()` does both, for a worker stopped on its own.
"""
from __future__ import annotations

import threading
from typing import TypeVar

W = TypeVar("W", bound="Worker")


class Worker:
    """One named thread running `run()`. A loop that waits on something besides `stopping` (a queue, a
    condition) extends `stop()` to wake it."""

    def __init__(self, name: str):
        self.stopping = threading.Event()
        self._thread = threading.Thread(target=self.run, name=name, daemon=True)

    def run(self) -> None:
        raise NotImplementedError

    def start(self: W) -> W:
        self._thread.start()
        return self

    def stop(self) -> None:
        """Ask the loop to end; returns at once."""
        self.stopping.set()

    def join(self, timeout: float | None = 30.0) -> None:
        """Wait at most `timeout` seconds for the thread to end (none to wait for when it never started)."""
        if self._thread.ident is not None:
            self._thread.join(timeout)

    def close(self, timeout: float = 30.0) -> None:
        """`stop()`, then `join(timeout)`."""
        self.stop()
        self.join(timeout)
