"""Which events central looks at again: every alert, a sample of the rest, those the edge was unsure of.

The sample is drawn from the event id's hash, so every central instance picks the same events, whichever
instance a batch reaches and however many versions of an event arrive; `sample` is then the share of each
camera's events per day, on average.
"""
from __future__ import annotations

import hashlib
from dataclasses import dataclass

from vigia.sync.protocol import EventBody


@dataclass(frozen=True)
class Policy:
    alerts: bool = True                 # every alert
    sample: float = 0.05                # share of the other events
    score_below: float | None = 0.5     # events whose best score is under this (None: none for that reason)

    def __post_init__(self) -> None:
        if not 0.0 <= self.sample <= 1.0:
            raise ValueError(f"the re-analysis sample is a share between 0 and 1, not {self.sample}")


@dataclass(frozen=True)
class Choice:
    event_id: str
    camera: str
    reason: str       # alert, low_score or sample
    priority: str     # alert or normal


def choose(policy: Policy, event: EventBody) -> Choice | None:
    """Whether (and why) `event` is re-analysed under `policy`."""
    if event.alert and policy.alerts:
        return Choice(event.id, event.camera, "alert", "alert")
    if policy.score_below is not None and event.max_score < policy.score_below:
        return Choice(event.id, event.camera, "low_score", "normal")
    if _share(event.id) < policy.sample:
        return Choice(event.id, event.camera, "sample", "normal")
    return None


def _share(event_id: str) -> float:
    """The event id's place in [0, 1), uniform and the same everywhere."""
    return int.from_bytes(hashlib.blake2b(event_id.encode(), digest_size=8).digest(), "big") / 2**64
