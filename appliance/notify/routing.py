"""Which event changes become notifications, for which destinations, and what they say.

An event's opening and its closing are sent (its updates, a better score or a longer path, are not) to the
destinations its rule names in `notify` (email and push get the opening alone: one message per event), when the rule's
`schedule` covers the event's start in the site's time zone. The decision is made once, when the event opens: its
closing goes where its opening went, even if the rule changed in between.
"""
from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, tzinfo

from vigia.appliance.notify.queue import Notification
from vigia.appliance.sinks import EventSink
from vigia.scene.events import Event, EventChange
from vigia.scene.rules import RuleConfig

log = logging.getLogger(__name__)

OPENINGS_ONLY = frozenset({"email", "push"})  # destinations told of an event once, when it opens


def idempotency_key(event: Event, change: str) -> str:
    """The same for every try and every destination of one change of one event."""
    return f"{event.id}:{change}"


def event_message(change: EventChange, device: str) -> dict:
    """The JSON every destination gets for an event's opening or closing."""
    event = change.event
    return {
        "key": idempotency_key(event, change.change),
        "change": change.change,
        "device": device,
        "captured_at": change.captured_at,  # the frame that opened or closed it (None: no frame, the stream ended)
        "stages": {name: round(at, 4) for name, at in change.stages.items()},  # that frame's way through analysis
        "event": {
            "id": event.id, "camera": event.camera, "rule": event.rule, "kind": event.kind, "zone": event.zone,
            "label": event.label, "track_id": event.track_id, "alert": event.alert,
            "started_at": event.started_at, "ended_at": event.ended_at, "max_score": round(event.max_score, 4),
            "box": [round(v, 4) for v in event.box], "attributes": event.attributes,
        },
    }


@dataclass
class NotifySink(EventSink):
    """Camera threads' side: each opening and closing of a notifying rule's event, as one `Notification` per
    destination, handed to `put` (the NotifyWriter, which stores them)."""

    rule_of: Callable[[str, str], RuleConfig | None]  # (camera, rule name) -> the rule as configured now
    destinations: frozenset[str]                      # those the config has: "mqtt", "webhook:NAME"
    put: Callable[[list[Notification]], None]
    device: str
    zone: tzinfo | None = None                        # the site's time zone (None: the machine's)
    _routes: dict[str, tuple[str, ...]] = field(default_factory=dict, init=False)  # open events -> their destinations
    _unknown: set[tuple[str, str]] = field(default_factory=set, init=False)

    def on_change(self, change: EventChange) -> None:
        event = change.event
        if change.change == "open":
            targets = self._routes[event.id] = self._targets(event)
        elif change.change == "close":
            targets = self._routes.pop(event.id, None)
            if targets is None:
                targets = self._targets(event)
            targets = tuple(sink for sink in targets if sink not in OPENINGS_ONLY)
        else:
            return
        if targets:
            body = event_message(change, self.device)
            self.put([Notification(sink, body["key"], body, event.snapshot) for sink in targets])

    def _targets(self, event: Event) -> tuple[str, ...]:
        rule = self.rule_of(event.camera, event.rule)
        if rule is None or not rule.notify:
            return ()
        if rule.schedule is not None and not rule.schedule.covers(datetime.fromtimestamp(event.started_at, self.zone)):
            return ()
        for sink in rule.notify:
            if sink not in self.destinations and (event.rule, sink) not in self._unknown:
                self._unknown.add((event.rule, sink))  # a saved layout naming a destination the config lost
                log.warning("rule %s of camera %s notifies %s, which the config file does not have: skipped",
                            event.rule, event.camera, sink)
        return tuple(sink for sink in rule.notify if sink in self.destinations)
