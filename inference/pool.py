"""A few worker threads sharing one detector, fed by the cameras through two queues: urgent images first."""
from __future__ import annotations

import logging
import threading
import time
from collections import deque
from collections.abc import Callable, Sequence
from concurrent.futures import Future
from dataclasses import dataclass, field

from vigia.inference.types import Detections, Detector, DetectorInput

log = logging.getLogger(__name__)

BatchCallback = Callable[[int, float, float], None]


@dataclass
class _Request:
    """One `submit` call: its images are queued one by one and answered together.

    `remaining` counts images still to run; 0 means answered, failed or cancelled.
    """

    future: Future
    results: list[Detections | None]
    remaining: int
    started: bool = False


@dataclass
class _Item:
    request: _Request
    index: int
    image: DetectorInput = field(repr=False)


class DetectorPool:
    """Runs `detector.detect` on `workers` threads.

    Images are queued one by one, so one camera's several crops spread over the workers.
    When the detector runs batches (`detector.max_batch` > 1, e.g. a GPU back end) a worker
    takes up to `max_batch` queued images at once, from any cameras; otherwise one at a
    time. `on_batch(n_images, wall_seconds, thread_cpu_seconds)` is called after each run.
    Urgent images (cameras whose rules raise alerts) are taken before any other; a newer
    frame may take the place of one still queued (`replacing`), so a queue that fell behind
    hands out fresh pictures rather than old ones.
    `gather_s`: how long a worker that found fewer than a batch waits for more (callers that each submit a
    frame's images and wait for them, e.g. several clips analysed at once, rarely submit at the same instant).
    """

    def __init__(
        self,
        detector: Detector,
        workers: int = 2,
        max_batch: int = 4,
        on_batch: BatchCallback | None = None,
        gather_s: float = 0.0,
    ) -> None:
        if workers < 1 or max_batch < 1:
            raise ValueError("workers and max_batch must be at least 1")
        self._gather_s = gather_s
        self._detector = detector
        self._batch = max(1, min(max_batch, getattr(detector, "max_batch", 1)))
        self._on_batch = on_batch
        self._queue: deque[_Item] = deque()
        self._urgent: deque[_Item] = deque()
        self._cond = threading.Condition()
        self._closed = False
        self._threads = [
            threading.Thread(target=self._work, name=f"detector-{i}", daemon=True)
            for i in range(workers)
        ]
        for thread in self._threads:
            thread.start()

    def submit(self, inputs: Sequence[DetectorInput], urgent: bool = False,
               replacing: Future | None = None) -> Future:
        """Queue images; the future gives one Detections per image, in order. `urgent` goes before the rest;
        `replacing`, a future of this pool whose images no worker has taken yet, is cancelled and the new images
        take its place in the queue (else they go to the back and `replacing` is left as it is)."""
        future: Future = Future()
        if not inputs:
            future.set_result([])
            return future
        request = _Request(future, [None] * len(inputs), len(inputs))
        items = [_Item(request, i, image) for i, image in enumerate(inputs)]
        with self._cond:
            if self._closed:
                raise RuntimeError("detector pool is closed")
            queue = self._urgent if urgent else self._queue
            if replacing is None or not self._replace(replacing, queue, items):
                queue.extend(items)
            self._cond.notify(len(inputs))
        return future

    def _replace(self, old: Future, queue: deque[_Item], items: list[_Item]) -> bool:
        """Put `items` where `old`'s queued images are (in `queue`) and cancel it; False when it cannot be."""
        places = [i for i, item in enumerate(queue) if item.request.future is old]
        if not places or places[0] + len(places) - 1 != places[-1] or len(places) != len(items):
            return False
        if old.running() or not old.cancel():
            return False
        for place, item in zip(places, items):
            queue[place] = item
        return True

    def pending(self) -> int:
        """Images queued and not yet taken by a worker."""
        with self._cond:
            return len(self._queue) + len(self._urgent)

    def close(self) -> None:
        """Stop the workers after their current run and join them; queued requests are cancelled."""
        with self._cond:
            self._closed = True
            dropped = [*self._urgent, *self._queue]
            self._queue.clear()
            self._urgent.clear()
            self._cond.notify_all()
        for thread in self._threads:
            thread.join()
        for request in {id(item.request): item.request for item in dropped}.values():
            if request.remaining > 0 and not request.future.cancel():
                request.future.set_exception(RuntimeError("detector pool closed"))

    def __enter__(self) -> DetectorPool:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def _take(self) -> list[_Item] | None:
        """Up to one batch of live queued images; None when the pool is closing."""
        with self._cond:
            while True:
                while not self._queue and not self._urgent and not self._closed:
                    self._cond.wait()
                if self._closed:
                    return None
                if self._gather_s > 0:
                    deadline = time.monotonic() + self._gather_s
                    while (len(self._urgent) + len(self._queue) < self._batch and not self._closed
                           and time.monotonic() < deadline):
                        self._cond.wait(deadline - time.monotonic())
                items = []
                while (self._urgent or self._queue) and len(items) < self._batch:
                    item = (self._urgent or self._queue).popleft()
                    request = item.request
                    if not request.started:
                        # Moves the future to RUNNING, or reports it was cancelled meanwhile.
                        request.started = True
                        if not request.future.set_running_or_notify_cancel():
                            request.remaining = 0
                    if request.remaining > 0:
                        items.append(item)
                if items:
                    return items

    def _work(self) -> None:
        while (items := self._take()) is not None:
            wall, cpu = time.perf_counter(), time.thread_time()
            try:
                results = self._detector.detect([item.image for item in items])
                if len(results) != len(items):
                    raise RuntimeError(f"detector returned {len(results)} results for {len(items)} images")
            except Exception as exc:  # the detector's failure belongs to the callers
                for request in self._finish(items, None):
                    request.future.set_exception(exc)
                continue
            wall, cpu = time.perf_counter() - wall, time.thread_time() - cpu
            if self._on_batch is not None:
                try:
                    self._on_batch(len(items), wall, cpu)
                except Exception:
                    log.exception("on_batch callback failed")
            for request in self._finish(items, results):
                request.future.set_result(request.results)

    def _finish(self, items: list[_Item], results: list[Detections] | None) -> list[_Request]:
        """Record results (None: a failure) and return the requests now complete, each once."""
        complete = []
        with self._cond:
            for i, item in enumerate(items):
                request = item.request
                if request.remaining == 0:
                    continue  # already failed through another of its images
                if results is None:
                    request.remaining = 0
                else:
                    request.results[item.index] = results[i]
                    request.remaining -= 1
                if request.remaining == 0:
                    complete.append(request)
        return complete


class PooledDetector:
    """A `Detector` whose `detect` goes through a DetectorPool: calls from several threads (e.g. several clips
    analysed at once) share the pool's batches, so one session on a GPU runs the images of all of them together."""

    def __init__(self, detector: Detector, max_batch: int, on_batch: BatchCallback | None = None,
                 gather_s: float = 0.02) -> None:
        self.name = detector.name
        self.input_size = detector.input_size
        self.class_names = detector.class_names
        self._pool = DetectorPool(detector, workers=1, max_batch=max_batch, on_batch=on_batch, gather_s=gather_s)

    def detect(self, inputs: Sequence[DetectorInput]) -> list[Detections]:
        return self._pool.submit(inputs).result()

    def close(self) -> None:
        """Stops the pool; the detector itself belongs to the caller."""
        self._pool.close()
