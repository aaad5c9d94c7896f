"""The rules engine: tracks in, event changes out, one camera at a time.

Each of the camera's rules works as the evaluator its kind makes (see `vigia.scene.rules`); the engine
gives them each frame's tracks and anchors, and keeps the tracks' paths that events carry.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import numpy as np

from vigia.inference.tracking import TrackerUpdate
from vigia.scene.events import EventChange
from vigia.scene.rules.base import Evaluator, Frame
from vigia.scene.rules.present import PresentRule
from vigia.scene.rules.scene import Scene
from vigia.scene.zones import anchors

if TYPE_CHECKING:
    from vigia.scene.layout import CameraLayout


@dataclass
class RuleEngine:
    camera: CameraLayout  # or the config file's Camera: a name, zones, lines and rules
    frame_size: tuple[int, int]
    class_names: list[str]
    kept_classes: list[str]   # the detector's classes: the default for rules without their own

    _scene: Scene = field(init=False)
    _evaluators: list[Evaluator] = field(init=False)

    def __post_init__(self) -> None:
        self._scene = Scene.of(self.camera, self.frame_size, self.class_names, self.kept_classes)
        # A camera without rules still reports what it sees: one event per object.
        rules = list(self.camera.rules) or [PresentRule(name="object", type="present")]
        self._evaluators = [rule.evaluator(self._scene) for rule in rules]

    def update(self, t: float, wall: float, tracks: TrackerUpdate) -> list[EventChange]:
        active = tracks.active
        alive = active + tracks.lost
        frame = Frame(t, wall, active, _anchors_of(active), alive, _anchors_of(alive))
        for track, anchor in zip(active, frame.active_anchors):
            self._scene.record_path(track, anchor, t)
        changes: list[EventChange] = []
        for evaluator in self._evaluators:
            evaluator.update(frame, changes)
        for track in tracks.ended:
            ended_at = wall - (t - track.last_seen)
            for evaluator in self._evaluators:
                evaluator.track_ended(track, ended_at, changes)
            self._scene.forget(track.id)
        return changes

    def finish(self, t: float, wall: float) -> list[EventChange]:
        """Close every open event (the stream is over or the camera stops)."""
        changes: list[EventChange] = []
        for evaluator in self._evaluators:
            evaluator.finish(t, wall, changes)
        return changes


def _anchors_of(tracks) -> np.ndarray:
    return anchors(np.array([tr.box for tr in tracks], np.float64).reshape(-1, 4))
