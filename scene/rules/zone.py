"""`enter`: an object is inside a zone, an event for as long as it stays. `loiter` is the same with a delay.

Anchors (an object's bottom centre) decide zone membership. A track that steps out of a zone for less
than `EXIT_GRACE_S` is still in it, so a box that jitters on a zone edge does not open a new event every second.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

from vigia.inference.tracking import Track
from vigia.scene.events import Event, EventChange
from vigia.scene.rules.base import EXIT_GRACE_S, Evaluator, Frame, Place, RuleConfig
from vigia.scene.rules.scene import Scene


class EnterRule(RuleConfig):
    """An object of `classes` is inside `zone` (the event lasts while it stays)."""

    type: Literal["enter"]
    zone: str

    def place(self) -> Place:
        return Place("zone", self.zone)

    def evaluator(self, scene: Scene) -> Evaluator:
        return ZoneEvaluator(self, scene, self.zone, delay=0.0)


@dataclass
class _Membership:
    """How one track stands with the zone."""

    entered_at: float
    last_inside: float
    event: Event | None = None


@dataclass
class ZoneEvaluator(Evaluator):
    """An event per object that has been inside `zone` for `delay` seconds, from its entry until it leaves."""

    rule: RuleConfig
    scene: Scene
    zone: str
    delay: float
    _classes: set[str] = field(init=False)
    _members: dict[int, _Membership] = field(default_factory=dict)  # by track id

    def __post_init__(self) -> None:
        self._classes = self.scene.classes(self.rule)

    def update(self, frame: Frame, changes: list[EventChange]) -> None:
        t, wall = frame.t, frame.wall
        inside = self.scene.zones[self.zone].contains(frame.active_anchors)
        for track, is_inside in zip(frame.active, inside):
            if self.scene.label(track) not in self._classes:
                continue
            member = self._members.get(track.id)
            if is_inside:
                if member is None:
                    member = self._members[track.id] = _Membership(entered_at=t, last_inside=t)
                member.last_inside = t
                if member.event is None and t - member.entered_at >= self.delay:
                    started_at = wall - (t - member.entered_at)
                    member.event = self.scene.open(self.rule, track, member.entered_at, started_at, changes)
                elif member.event is not None:
                    self.scene.improve(member.event, track, changes)
            elif member is not None and t - member.last_inside > EXIT_GRACE_S:
                if member.event is not None:
                    changes.append(self.scene.close(member.event, member.last_inside, wall - (t - member.last_inside)))
                del self._members[track.id]

    def track_ended(self, track: Track, ended_at: float, changes: list[EventChange]) -> None:
        member = self._members.pop(track.id, None)
        if member is not None and member.event is not None:
            last_inside_at = ended_at - (track.last_seen - member.last_inside)
            changes.append(self.scene.close(member.event, member.last_inside, last_inside_at))

    def finish(self, t: float, wall: float, changes: list[EventChange]) -> None:
        for member in self._members.values():
            if member.event is not None:
                changes.append(self.scene.close(member.event, member.last_inside, wall - (t - member.last_inside)))
        self._members.clear()
