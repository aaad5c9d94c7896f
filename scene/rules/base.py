"""What every rule kind shares: the fields of its config, the place it watches and the evaluator it makes."""
from __future__ import annotations

import re
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Literal, NamedTuple, get_args

import numpy as np
from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from vigia.inference.tracking import Track
from vigia.scene.events import EventChange
from vigia.scene.names import NAME_PATTERN, check_classes
from vigia.scene.schedule import Schedule

if TYPE_CHECKING:
    from vigia.scene.rules.scene import Scene

# Where a rule's events may go besides the guards' screens: the MQTT broker, email, web push, or a webhook destination
# by name (the appliance config's `mqtt:`, `email:`, `push:` and `webhooks:` sections).
NOTIFY_PATTERN = re.compile(r"^(mqtt|email|push|webhook:[A-Za-z0-9][A-Za-z0-9_.-]{0,63})$")

# A track out of a zone for less than this is still in it (a box jittering on an edge is one event, not many).
EXIT_GRACE_S = 1.0


class Place(NamedTuple):
    """The zone or line a rule watches, by name: the rule's events carry the name."""

    shape: Literal["zone", "line"]
    name: str


class RuleConfig(BaseModel):
    """What turns a track into an event: the fields of every kind.

    A kind subclasses it with `type: Literal["<kind>"]`, its own parameters (a required one is named in
    "rule type 'x' needs ..." when missing or null), `evaluator()` and, when it watches a zone or line, `place()`.
    """

    model_config = ConfigDict(extra="forbid")

    name: str = Field(pattern=NAME_PATTERN)
    type: str
    classes: list[str] | None = None  # None: the zone's classes, else the detector's
    alert: bool = False  # alerts go to the guards' screens with sound
    # Each event's clip (pre- and post-roll) goes to central once recorded; only on an appliance enrolled with central.
    upload_clip: bool = False
    # Where its events' openings and closings are sent: "mqtt", "webhook:NAME", "email" and "push" (openings only)
    # (vigia.appliance.notify).
    notify: list[str] = []
    # When they are sent (the site's local time, by the event's start); None: always. Events are stored anyway.
    schedule: Schedule | None = None

    _classes = field_validator("classes")(check_classes)

    @field_validator("notify")
    @classmethod
    def _notify(cls, notify: list[str]) -> list[str]:
        wrong = [item for item in notify if not NOTIFY_PATTERN.match(item)]
        if wrong:
            raise ValueError(f"notify {', '.join(map(repr, wrong))}: each is `mqtt`, `email`, `push` or `webhook:NAME`")
        dupes = sorted({item for item in notify if notify.count(item) > 1})
        if dupes:
            raise ValueError(f"notify {', '.join(map(repr, dupes))} given twice")
        return notify

    @classmethod
    def kind(cls) -> str:
        """The kind's `type` value."""
        return get_args(cls.model_fields["type"].annotation)[0]

    @classmethod
    def parameters(cls) -> list[str]:
        """The kind's own fields, beyond those every rule has."""
        return [name for name in cls.model_fields if name not in RuleConfig.model_fields]

    @model_validator(mode="before")
    @classmethod
    def _needs(cls, data: Any) -> Any:
        if isinstance(data, dict):
            missing = [name for name in cls.parameters() if cls.model_fields[name].is_required() and data.get(name) is None]
            if missing:
                raise ValueError(f"rule type {cls.kind()!r} needs {' and '.join(missing)}")
        return data

    def place(self) -> Place | None:
        """The zone or line the rule watches; None: the whole frame."""
        return None

    def evaluator(self, scene: Scene) -> Evaluator:
        """The rule at work on one camera."""
        raise NotImplementedError(f"rule kind {self.type!r} has no evaluator")


@dataclass
class Frame:
    """One update of a camera's tracks, with their anchors (bottom centres, source pixels, in the same order)."""

    t: float      # stream time
    wall: float   # wall clock, seconds since the epoch
    active: list[Track]
    active_anchors: np.ndarray
    alive: list[Track]  # active and lost: a crowd still counts those hidden for a moment
    alive_anchors: np.ndarray


class Evaluator:
    """One rule at work on one camera: tracks in, event changes out. A kind's evaluator overrides `update`,
    and the others where it keeps something per track or open events."""

    def update(self, frame: Frame, changes: list[EventChange]) -> None:
        """Add the changes of this frame's tracks to `changes`."""
        raise NotImplementedError

    def track_ended(self, track: Track, ended_at: float, changes: list[EventChange]) -> None:
        """The tracker gave `track` up (`ended_at`: the wall clock it was last seen): close its events."""

    def finish(self, t: float, wall: float, changes: list[EventChange]) -> None:
        """The stream is over or the camera stops: close every open event."""
