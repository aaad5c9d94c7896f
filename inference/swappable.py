"""A detector whose model can be replaced while frames flow: one reference swapped atomically, the old model kept.

The detector pool and the cameras hold the `SwappableDetector`; each `detect` call reads the current slot once,
so a batch runs entirely on one model, and the next batch runs on the new one: a switch takes effect between two
frames with no restart. It also keeps the model's live health (detections per label, scores, inference time,
errors) for the roll-ups, and a few recent inputs for a new model's smoke test.
"""
from __future__ import annotations

import threading
import time
from collections import deque
from collections.abc import Sequence
from dataclasses import dataclass, field

from vigia.inference.types import Detections, Detector, DetectorInput

RECENT_INPUTS = 8        # inputs kept for a smoke test
RECENT_EVERY = 5         # keep one input in this many


@dataclass
class ModelHealth:
    """Counters of one model since the last `take`."""

    since: float = field(default_factory=time.time)
    frames: int = 0
    detections: dict[str, int] = field(default_factory=dict)
    score_sum: float = 0.0
    inference_s: float = 0.0
    errors: int = 0

    def summary(self, now: float) -> dict:
        """What a roll-up carries: rates per hour, mean score, mean inference ms per frame, errors."""
        hours = max(now - self.since, 1e-6) / 3600.0
        count = sum(self.detections.values())
        return {"period_s": round(now - self.since, 3), "frames": self.frames, "errors": self.errors,
                "detections_per_hour": {label: round(n / hours, 1) for label, n in sorted(self.detections.items())},
                "mean_score": round(self.score_sum / count, 4) if count else None,
                "inference_ms": round(1000 * self.inference_s / self.frames, 2) if self.frames else None}


@dataclass(frozen=True)
class Slot:
    detector: Detector
    model_id: str


class SwappableDetector:
    """A Detector (the protocol) in front of the current model; `swap` and `rollback` switch between two."""

    def __init__(self, detector: Detector, model_id: str):
        self._slot = Slot(detector, model_id)
        self._previous: Slot | None = None
        self._lock = threading.Lock()
        self._health = ModelHealth()
        self._recent: deque[DetectorInput] = deque(maxlen=RECENT_INPUTS)
        self._seen = 0
        self.errors_since_swap = 0  # the current model's failures since it was switched in

    @property
    def name(self) -> str:
        return self._slot.detector.name

    @property
    def input_size(self) -> tuple[int, int]:
        return self._slot.detector.input_size

    @property
    def class_names(self) -> list[str]:
        return self._slot.detector.class_names

    @property
    def max_batch(self) -> int:
        return getattr(self._slot.detector, "max_batch", 1)

    @property
    def model_id(self) -> str:
        return self._slot.model_id

    @property
    def previous_model_id(self) -> str | None:
        return self._previous.model_id if self._previous else None

    def detect(self, inputs: Sequence[DetectorInput]) -> list[Detections]:
        slot = self._slot  # one read: the whole batch runs on one model
        began = time.perf_counter()
        try:
            results = slot.detector.detect(inputs)
        except Exception:
            with self._lock:
                if slot is self._slot:
                    self._health.errors += 1
                    self.errors_since_swap += 1
            raise
        elapsed = time.perf_counter() - began
        with self._lock:
            if slot is self._slot:
                self._record(inputs, results, elapsed)
        return results

    def _record(self, inputs: Sequence[DetectorInput], results: list[Detections], elapsed: float) -> None:
        health = self._health
        health.frames += len(inputs)
        health.inference_s += elapsed
        names = self._slot.detector.class_names
        for result in results:
            health.score_sum += float(result.scores.sum())
            for class_id in result.class_ids:
                label = names[int(class_id)]
                health.detections[label] = health.detections.get(label, 0) + 1
        for image in inputs:
            if self._seen % RECENT_EVERY == 0:
                self._recent.append(image)
            self._seen += 1

    def recent_inputs(self) -> list[DetectorInput]:
        """The few recent inputs kept for a smoke test of a new model."""
        with self._lock:
            return list(self._recent)

    def take_health(self, now: float | None = None) -> dict:
        """The current model's id and health since the last call; the counters start again."""
        now = time.time() if now is None else now
        with self._lock:
            summary, self._health = self._health.summary(now), ModelHealth(now)
            return {"id": self._slot.model_id, "previous": self.previous_model_id, "health": summary}

    def errors(self) -> int:
        """Errors of the current model since the last `take_health`."""
        with self._lock:
            return self._health.errors

    def swap(self, detector: Detector, model_id: str) -> None:
        """Make `detector` current from the next batch on; the one before is kept for `rollback`
        (the one before that is closed)."""
        with self._lock:
            dropped, self._previous, self._slot = self._previous, self._slot, Slot(detector, model_id)
            self._health, self.errors_since_swap = ModelHealth(), 0
        if dropped is not None:
            dropped.detector.close()

    def rollback(self) -> Slot:
        """Back to the model before the last swap; returns the slot left (closed later, by the next swap)."""
        with self._lock:
            if self._previous is None:
                raise RuntimeError("no previous model to roll back to")
            left, self._slot, self._previous = self._slot, self._previous, self._slot
            self._health, self.errors_since_swap = ModelHealth(), 0
        return left

    def close(self) -> None:
        for slot in (self._slot, self._previous):
            if slot is not None:
                slot.detector.close()
