"""The uploader's pacing: full-jitter backoff bounds and the bandwidth cap."""
from __future__ import annotations

import asyncio
import random
import time

from vigia.sync.pacing import Backoff, Throttle


def test_backoff_grows_exponentially_within_its_cap_and_resets():
    backoff = Backoff(initial_s=0.5, cap_s=8.0, rng=random.Random(1))
    ceilings = [0.5, 1, 2, 4, 8, 8, 8]
    delays = [backoff.next_delay() for _ in ceilings]
    assert all(0 <= d <= c for d, c in zip(delays, ceilings))
    assert len(set(delays)) == len(delays)  # jittered, not a fixed schedule
    many = [Backoff(0.5, 8.0, random.Random(seed)) for seed in range(200)]
    for b in many:
        b.failures = 10
    assert max(b.next_delay() for b in many) > 6  # the whole range [0, cap] is used
    backoff.reset()
    assert backoff.next_delay() <= 0.5


def test_bandwidth_cap_holds_the_average_rate():
    async def send(throttle: Throttle, chunks: int, size: int) -> float:
        started = time.monotonic()
        for _ in range(chunks):
            await throttle.take(size)
        return time.monotonic() - started

    # 10 chunks of 20 kB at 100 kB/s: 200 kB take about 2 s (the first second's burst is not banked ahead).
    seconds = asyncio.run(send(Throttle(100_000), 10, 20_000))
    assert 1.8 <= seconds <= 2.6
    assert asyncio.run(send(Throttle(None), 10, 20_000)) < 0.05
