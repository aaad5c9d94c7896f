"""How fast the uploader goes: exponential backoff with full jitter, and a bandwidth cap."""
from __future__ import annotations

import asyncio
import random
import time
from dataclasses import dataclass, field


@dataclass
class Backoff:
    """Delays after consecutive failures: uniform in [0, min(cap, initial * 2**n)] ("full jitter")."""

    initial_s: float = 0.5
    cap_s: float = 60.0
    rng: random.Random = field(default_factory=random.Random)
    failures: int = 0

    def next_delay(self) -> float:
        ceiling = min(self.cap_s, self.initial_s * 2 ** min(self.failures, 30))
        self.failures += 1
        return self.rng.uniform(0, ceiling)

    def reset(self) -> None:
        self.failures = 0


@dataclass
class Throttle:
    """A token bucket of `rate` bytes per second (one second's worth of burst); None: no cap."""

    rate: float | None
    _tokens: float = 0.0
    _at: float = field(default_factory=time.monotonic)

    async def take(self, size: int) -> None:
        """Wait until `size` bytes may go. A body larger than the bucket waits for its full share."""
        if not self.rate:
            return
        now = time.monotonic()
        self._tokens = min(self.rate, self._tokens + (now - self._at) * self.rate) - size
        self._at = now
        if self._tokens < 0:
            await asyncio.sleep(-self._tokens / self.rate)
