"""`present`: an object is seen anywhere in the frame, an event per track (the default of a camera without rules)."""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

from vigia.inference.tracking import Track
from vigia.scene.events import Event, EventChange
from vigia.scene.rules.base import Evaluator, Frame, Place, RuleConfig
from vigia.scene.rules.scene import Scene


class PresentRule(RuleConfig):
    """An object of `classes` is seen anywhere; a `zone`, when given, only lends its classes and its name."""

    type: Literal["present"]
    zone: str | None = None

    def place(self) -> Place | None:
        return Place("zone", self.zone) if self.zone is not None else None

    def evaluator(self, scene: Scene) -> Evaluator:
        return PresentEvaluator(self, scene)


@dataclass
class PresentEvaluator(Evaluator):
    rule: PresentRule
    scene: Scene
    _classes: set[str] = field(init=False)
    _events: dict[int, Event] = field(default_factory=dict)  # by track id

    def __post_init__(self) -> None:
        self._classes = self.scene.classes(self.rule)

    def update(self, frame: Frame, changes: list[EventChange]) -> None:
        t, wall = frame.t, frame.wall
        for track in frame.active:
            if self.scene.label(track) not in self._classes:
                continue
            event = self._events.get(track.id)
            if event is None:
                started_at = wall - (t - track.first_seen)
                self._events[track.id] = self.scene.open(self.rule, track, track.first_seen, started_at, changes)
            else:
                self.scene.improve(event, track, changes)

    def track_ended(self, track: Track, ended_at: float, changes: list[EventChange]) -> None:
        event = self._events.pop(track.id, None)
        if event is not None:
            changes.append(self.scene.close(event, track.last_seen, ended_at))

    def finish(self, t: float, wall: float, changes: list[EventChange]) -> None:
        changes.extend(self.scene.close(event, t, wall) for event in self._events.values())
        self._events.clear()
