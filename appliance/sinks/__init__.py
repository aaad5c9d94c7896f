"""Event sinks: where what the appliance sees goes, each told from camera threads.

An `EventSink` hears of every event change, camera state and analysed frame; the running appliance's
wiring (vigia.app.appliance) lists them in one place, in the order they are told. The sinks of today:
the database and its outbox (`database.py`), rules' notifications to MQTT and webhooks and each camera's MQTT
state (vigia.appliance.notify), the guards' live view (vigia.local_ui.live.LiveHub), clips for central of rules
with `upload_clip` (vigia.sync.agent.RuleClipSink) and the demo's printed events. A new one is one module with
a class that overrides the methods it needs.

Sinks run in the camera's thread: one that does slow work (network, disk) hands it to a thread of its own.
"""
from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Protocol

from vigia.appliance.cameras import CameraStatus, DecodedFrame
from vigia.inference.tracking import TrackerUpdate
from vigia.scene.events import EventChange


class EventSink(Protocol):
    """What a sink is told; a class that derives from it hears nothing of what it does not override."""

    def on_change(self, change: EventChange) -> None:
        """An event opened, was updated or closed (in its camera's thread)."""

    def on_status(self, camera: str, status: CameraStatus) -> None:
        """A camera's connection changed state (`camera`: its name; the main stream's is `<name>-main`)."""

    def on_frame(self, camera: str, decoded: DecodedFrame, update: TrackerUpdate, names: list[str]) -> None:
        """A frame was analysed (`names`: the detector's class names): called for every frame, so it must be quick."""


@dataclass
class ChangeSink(EventSink):
    """A function told each event change (the demo's printer, tests)."""

    tell: Callable[[EventChange], None]

    def on_change(self, change: EventChange) -> None:
        self.tell(change)
