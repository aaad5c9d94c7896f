"""`cross`: an object's anchor crosses a line (tripwire) in a direction; the event opens and closes at once."""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

import numpy as np

from vigia.inference.tracking import Track
from vigia.scene.events import EventChange
from vigia.scene.rules.base import Evaluator, Frame, Place, RuleConfig
from vigia.scene.rules.scene import Scene


class CrossRule(RuleConfig):
    """An object of `classes` crosses `line` in `direction` (left and right as seen walking along the line)."""

    type: Literal["cross"]
    line: str
    direction: Literal["any", "left_to_right", "right_to_left"] = "any"

    def place(self) -> Place:
        return Place("line", self.line)

    def evaluator(self, scene: Scene) -> Evaluator:
        return CrossEvaluator(self, scene)


@dataclass
class CrossEvaluator(Evaluator):
    rule: CrossRule
    scene: Scene
    _classes: set[str] = field(init=False)
    _last_anchor: dict[int, np.ndarray] = field(default_factory=dict)  # each track's anchor at the update before

    def __post_init__(self) -> None:
        self._classes = self.scene.classes(self.rule)

    def update(self, frame: Frame, changes: list[EventChange]) -> None:
        line = self.scene.lines[self.rule.line]
        for track, anchor in zip(frame.active, frame.active_anchors):
            previous = self._last_anchor.get(track.id)
            self._last_anchor[track.id] = anchor
            if previous is None or self.scene.label(track) not in self._classes:
                continue
            direction = line.crossing(previous, anchor)
            if direction is None or self.rule.direction not in ("any", direction):
                continue
            event = self.scene.open(self.rule, track, frame.t, frame.wall, changes)
            event.attributes["direction"] = direction
            changes.append(self.scene.close(event, frame.t, frame.wall))

    def track_ended(self, track: Track, ended_at: float, changes: list[EventChange]) -> None:
        self._last_anchor.pop(track.id, None)
