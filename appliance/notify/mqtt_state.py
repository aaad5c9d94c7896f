"""Each camera's state as retained MQTT messages: availability, connection state, occupancy, today's event counts,
alert (topics in vigia.appliance.notify.topics), and Home Assistant's discovery configs.

State is not queued: only its latest value matters. Camera threads update it here (quickly: a dict and a lock);
the MQTT thread publishes what changed, and all of it again after every (re)connection.
"""
from __future__ import annotations

import json
import threading
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, tzinfo

from vigia.appliance.cameras import CameraStatus, DecodedFrame
from vigia.appliance.notify.homeassistant import discovery_messages
from vigia.appliance.notify.topics import Topics
from vigia.appliance.sinks import EventSink
from vigia.inference.tracking import TrackerUpdate
from vigia.scene.events import EventChange


def _json(value: dict) -> str:
    return json.dumps(value, separators=(",", ":"), sort_keys=True)


@dataclass
class CameraStates(EventSink):
    """`cameras()`: the appliance's camera names now; `counts`: events so far today, camera -> rule -> n (from the
    database at start); `zone`: the site's time zone (the day the counts belong to); `discovery_prefix`: None
    for no Home Assistant discovery; `on_change_ready`: told when something waits to be published."""

    topics: Topics
    cameras: Callable[[], list[str]]
    zone: tzinfo | None = None
    discovery_prefix: str | None = "homeassistant"
    counts: dict[str, dict[str, int]] = field(default_factory=dict)
    day: str | None = None  # the day `counts` are of (default: today)
    on_change_ready: Callable[[], None] = lambda: None
    _retained: dict[str, str] = field(default_factory=dict, init=False)
    _dirty: set[str] = field(default_factory=set, init=False)
    _known: set[str] = field(default_factory=set, init=False)
    _alerts: dict[str, set[str]] = field(default_factory=dict, init=False)  # camera -> its open alert events
    _occupancy: dict[str, dict[str, int]] = field(default_factory=dict, init=False)
    _lock: threading.Lock = field(default_factory=threading.Lock, init=False)

    def __post_init__(self) -> None:
        self.day = self.day or self._today()
        with self._lock:
            self._set(self.topics.availability, "online")
            for camera in self.cameras():
                self._add_camera(camera)

    # -- told by the camera threads ------------------------------------------------------------

    def on_status(self, camera: str, status: CameraStatus) -> None:
        if camera not in self.cameras():
            return  # a camera's main stream (`<name>-main`): recording only
        with self._lock:
            self._add_camera(camera)
            self._set(self.topics.camera_availability(camera), "online" if status.state == "online" else "offline")
            self._set(self.topics.camera_state(camera),
                      _json({"state": status.state, "since": status.since, "last_error": status.last_error}))
        self.on_change_ready()

    def on_change(self, change: EventChange) -> None:
        event = change.event
        if change.change == "update" or (change.change == "close" and not event.alert):
            return
        with self._lock:
            self._add_camera(event.camera)
            if change.change == "open":
                self._roll(self._today())
                rules = self.counts.setdefault(event.camera, {})
                rules[event.rule] = rules.get(event.rule, 0) + 1
                self._set_counts(event.camera)
            if event.alert:
                open_alerts = self._alerts.setdefault(event.camera, set())
                (open_alerts.add if change.change == "open" else open_alerts.discard)(event.id)
                self._set(self.topics.camera_alert(event.camera), "ON" if open_alerts else "OFF")
        self.on_change_ready()

    def on_frame(self, camera: str, decoded: DecodedFrame, update: TrackerUpdate, names: list[str]) -> None:
        classes = dict(Counter(names[track.class_id] for tracks in (update.active, update.lost) for track in tracks))
        if classes == self._occupancy.get(camera):
            return
        with self._lock:
            self._occupancy[camera] = classes
            self._add_camera(camera)
            self._set(self.topics.camera_occupancy(camera), _json({"total": sum(classes.values()), "classes": classes}))
        self.on_change_ready()

    # -- the MQTT thread's side ------------------------------------------------------------------

    def roll(self) -> None:
        """A new day (site time) resets the counts: called now and then."""
        today = self._today()
        if today != self.day:
            with self._lock:
                self._roll(today)
            self.on_change_ready()

    def take_changed(self) -> list[tuple[str, str]]:
        """(topic, payload) of what changed since the last call; discovery configs first."""
        with self._lock:
            changed = sorted(self._dirty, key=lambda topic: (not topic.endswith("/config"), topic))
            self._dirty.clear()
            return [(topic, self._retained[topic]) for topic in changed]

    def all_again(self) -> None:
        """After a (re)connection: everything is published again (a broker may have lost it)."""
        with self._lock:
            self._dirty.update(self._retained)

    def give_back(self, changed: list[tuple[str, str]]) -> None:
        """What could not be published: marked changed again."""
        with self._lock:
            self._dirty.update(topic for topic, _ in changed)

    # -- under the lock ---------------------------------------------------------------------------

    def _today(self) -> str:
        return datetime.now(self.zone).strftime("%Y-%m-%d")

    def _roll(self, today: str) -> None:
        if today != self.day:
            self.day = today
            self.counts = {}
            for camera in self._known:
                self._set_counts(camera)

    def _add_camera(self, camera: str) -> None:
        if camera in self._known:
            return
        self._known.add(camera)
        self._set(self.topics.camera_availability(camera), "offline")
        self._set(self.topics.camera_alert(camera), "OFF")
        self._set(self.topics.camera_occupancy(camera), _json({"total": 0, "classes": {}}))
        self._set_counts(camera)
        if self.discovery_prefix is not None:
            for topic, config in discovery_messages(self.topics, self.discovery_prefix, camera).items():
                self._set(topic, _json(config))

    def _set_counts(self, camera: str) -> None:
        rules = self.counts.get(camera, {})
        self._set(self.topics.camera_counts(camera), _json({"day": self.day, "total": sum(rules.values()), "rules": rules}))

    def _set(self, topic: str, payload: str) -> None:
        if self._retained.get(topic) != payload:
            self._retained[topic] = payload
            self._dirty.add(topic)
