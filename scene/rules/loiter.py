"""`loiter`: an object stays inside a zone longer than `seconds` (the event starts when it entered)."""
from __future__ import annotations

from typing import Literal

from pydantic import Field

from vigia.scene.rules.base import Evaluator, Place, RuleConfig
from vigia.scene.rules.scene import Scene
from vigia.scene.rules.zone import ZoneEvaluator


class LoiterRule(RuleConfig):
    """An object of `classes` stays inside `zone` longer than `seconds`."""

    type: Literal["loiter"]
    zone: str
    seconds: float = Field(gt=0)

    def place(self) -> Place:
        return Place("zone", self.zone)

    def evaluator(self, scene: Scene) -> Evaluator:
        return ZoneEvaluator(self, scene, self.zone, delay=self.seconds)
