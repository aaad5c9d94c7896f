"""`count`: more than `count` objects inside a zone at once: one event about the crowd, while it lasts."""
from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from typing import Literal

from pydantic import Field

from vigia.scene.events import Event, EventChange
from vigia.scene.rules.base import EXIT_GRACE_S, Evaluator, Frame, Place, RuleConfig
from vigia.scene.rules.scene import Scene


class CountRule(RuleConfig):
    """More than `count` objects of `classes` are inside `zone` at once (tracks lost for a moment still count)."""

    type: Literal["count"]
    zone: str
    count: int = Field(ge=1)

    def place(self) -> Place:
        return Place("zone", self.zone)

    def evaluator(self, scene: Scene) -> Evaluator:
        return CountEvaluator(self, scene)


@dataclass
class CountEvaluator(Evaluator):
    rule: CountRule
    scene: Scene
    _classes: set[str] = field(init=False)
    _last_above: float = 0.0
    _event: Event | None = None

    def __post_init__(self) -> None:
        self._classes = self.scene.classes(self.rule)

    def update(self, frame: Frame, changes: list[EventChange]) -> None:
        t, wall, label = frame.t, frame.wall, self.scene.label
        inside = self.scene.zones[self.rule.zone].contains(frame.alive_anchors)
        members = [tr for tr, ok in zip(frame.alive, inside) if ok and label(tr) in self._classes]
        if len(members) > self.rule.count:
            self._last_above = t
            best = max(members, key=lambda tr: tr.score)
            if self._event is None:
                crowd_label = Counter(label(tr) for tr in members).most_common(1)[0][0]
                self._event = self.scene.open(self.rule, best, t, wall, changes, crowd_label=crowd_label)
            else:
                self.scene.improve(self._event, best, changes)
            peak = self._event.attributes.get("peak_count", 0)
            self._event.attributes["peak_count"] = max(peak, len(members))
        elif self._event is not None and t - self._last_above > EXIT_GRACE_S:
            changes.append(self.scene.close(self._event, self._last_above, wall - (t - self._last_above)))
            self._event = None

    def finish(self, t: float, wall: float, changes: list[EventChange]) -> None:
        if self._event is not None:
            changes.append(self.scene.close(self._event, t, wall))
            self._event = None
