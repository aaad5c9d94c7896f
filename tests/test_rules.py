"""Rules engine on hand-made tracks: each rule type opens and closes events when it should; a kind plugs in whole."""
from dataclasses import dataclass, field
from typing import Literal

import numpy as np
import pytest
from pydantic import TypeAdapter, ValidationError

from vigia.appliance.config import parse_config
from vigia.inference.coco import COCO_CLASSES
from vigia.inference.tracking import Track, TrackerUpdate
from vigia.local_ui.openapi import openapi_document
from vigia.scene.events import EventChange
from vigia.scene.rules import (
    EXIT_GRACE_S,
    KINDS,
    Evaluator,
    Frame,
    Place,
    RuleConfig,
    RuleEngine,
    Scene,
    layout_json,
    rule_type,
)
from vigia.scene.zones import PolygonZone, Tripwire

SIZE = (1000, 1000)

CONFIG = """\
cameras:
  - name: yard
    url: /dev/video0
    zones:
      - {name: door, polygon: [[0.4, 0.4], [0.6, 0.4], [0.6, 0.6], [0.4, 0.6]]}
      - {name: lot, polygon: [[0, 0], [1, 0], [1, 1], [0, 1]], classes: [car]}
    lines:
      - {name: gate, points: [[0.0, 0.8], [1.0, 0.8]]}
    rules:
      - {name: entry, type: enter, zone: door}
      - {name: hanging-around, type: loiter, zone: door, seconds: 3, alert: true}
      - {name: southbound, type: cross, line: gate, direction: left_to_right}
      - {name: busy, type: count, zone: lot, count: 2}
"""


def track(id_, feet_x, feet_y, *, class_id=0, score=0.8, t=0.0):
    box = np.array([feet_x - 20, feet_y - 80, feet_x + 20, feet_y], np.float32)
    return Track(id_, class_id, box, score, score, t, t, 3, "confirmed", box.copy())


@pytest.fixture
def engine():
    camera = parse_config(CONFIG).cameras[0]
    return RuleEngine(camera, SIZE, list(COCO_CLASSES), ["person", "car"])


def step(engine, t, active=(), lost=(), ended=()):
    for tr in active:
        tr.last_seen = t
    return engine.update(t, 1_000_000 + t, TrackerUpdate(list(active), list(lost), list(ended)))


def of(changes, rule, change=None):
    return [c for c in changes if c.event.rule == rule and (change is None or c.change == change)]


def test_enter_opens_inside_and_closes_after_leaving(engine):
    person = track(1, 100, 500)
    assert step(engine, 0.0, [person]) == []
    person.box[:] = [480, 420, 520, 500]
    opened = of(step(engine, 0.2, [person]), "entry", "open")
    assert len(opened) == 1
    event = opened[0].event
    assert (event.label, event.track_id, event.zone, event.start) == ("person", 1, "door", 0.2)
    assert event.id[:10] == event.id[:10].upper() and len(event.id) == 26  # a ULID
    person.box[:] = [880, 420, 920, 500]
    assert of(step(engine, 0.4, [person]), "entry") == []  # brief exit: still inside
    closed = of(step(engine, 0.4 + EXIT_GRACE_S + 0.1, [person]), "entry", "close")
    assert len(closed) == 1 and closed[0].event.end == 0.2


def test_loiter_opens_after_seconds_and_starts_at_entry(engine):
    person = track(2, 500, 500)
    changes = []
    for i in range(20):
        changes += step(engine, i * 0.2, [person])
    opened = of(changes, "hanging-around", "open")
    assert len(opened) == 1
    assert opened[0].event.start == 0.0 and opened[0].event.alert
    assert opened[0].event.started_at == pytest.approx(1_000_000.0)
    closed = of(step(engine, 4.2, ended=[person]), "hanging-around", "close")
    assert len(closed) == 1


def test_cross_in_one_direction_only(engine):
    walker = track(3, 300, 700)
    step(engine, 0.0, [walker])
    walker.box[:] = [280, 770, 320, 850]          # from above the line to below: left to right of (0,.8)->(1,.8)
    crossed = of(step(engine, 0.2, [walker]), "southbound")
    assert [c.change for c in crossed] == ["open", "close"]
    assert crossed[0].event.attributes == {"direction": "left_to_right"}
    walker.box[:] = [280, 620, 320, 700]          # back up: the other direction, not reported
    assert of(step(engine, 0.4, [walker]), "southbound") == []


def test_count_more_than_n(engine):
    cars = [track(10 + i, 100 + 200 * i, 300, class_id=2) for i in range(3)]
    person = track(20, 900, 300)
    opened = of(step(engine, 0.0, cars + [person]), "busy", "open")
    assert len(opened) == 1
    assert opened[0].event.label == "car" and opened[0].event.track_id is None
    assert opened[0].event.attributes["peak_count"] == 3
    assert of(step(engine, 0.2, cars[:2] + [person], ended=[cars[2]]), "busy") == []  # grace
    closed = of(step(engine, 0.2 + EXIT_GRACE_S + 0.1, cars[:2]), "busy", "close")
    assert len(closed) == 1


def test_class_filter_of_zone(engine):
    people = [track(30 + i, 100 + 200 * i, 300) for i in range(4)]
    assert of(step(engine, 0.0, people), "busy") == []  # the lot counts cars only


def test_finish_closes_everything(engine):
    person = track(40, 500, 500)
    for i in range(20):
        step(engine, i * 0.2, [person])
    closed = engine.finish(4.0, 1_000_004.0)
    assert sorted(c.event.rule for c in closed) == ["entry", "hanging-around"]
    assert all(c.change == "close" and c.event.end is not None for c in closed)


def test_camera_without_rules_reports_each_object():
    camera = parse_config("cameras:\n  - url: /dev/video0\n").cameras[0]
    engine = RuleEngine(camera, SIZE, list(COCO_CLASSES), ["person"])
    person, dog = track(1, 500, 500), track(2, 100, 100, class_id=16)
    opened = step(engine, 0.0, [person, dog])
    assert [(c.change, c.event.rule, c.event.label) for c in opened] == [("open", "object", "person")]
    closed = step(engine, 1.0, ended=[person])
    assert [c.change for c in closed] == ["close"]


def test_polygon_contains_and_tripwire_geometry():
    square = PolygonZone.from_normalised("sq", [[0.1, 0.1], [0.5, 0.1], [0.5, 0.5], [0.1, 0.5]], (100, 100))
    inside = square.contains(np.array([[30, 30], [60, 30], [10.5, 49], [5, 5]], float))
    assert inside.tolist() == [True, False, True, False]
    wire = Tripwire.from_normalised("w", [[0.5, 0.0], [0.5, 1.0]], (100, 100))  # walking down the picture
    # Walking down, the walker's left is the picture's right (x larger).
    assert wire.crossing(np.array([70.0, 50.0]), np.array([30.0, 50.0])) == "left_to_right"
    assert wire.crossing(np.array([30.0, 50.0]), np.array([70.0, 50.0])) == "right_to_left"
    assert wire.crossing(np.array([30.0, 150.0]), np.array([70.0, 150.0])) is None  # beyond the segment's end


# -- the extension point: a rule kind is its config model and its evaluator ---------------------


class LeaveRule(RuleConfig):
    """A kind from outside the package: an object that was inside `zone` steps out of it."""

    type: Literal["leave"]
    zone: str

    def place(self) -> Place:
        return Place("zone", self.zone)

    def evaluator(self, scene: Scene) -> Evaluator:
        return LeaveEvaluator(self, scene)


@dataclass
class LeaveEvaluator(Evaluator):
    rule: LeaveRule
    scene: Scene
    inside: set[int] = field(default_factory=set)

    def update(self, frame: Frame, changes: list[EventChange]) -> None:
        for track, is_inside in zip(frame.active, self.scene.zones[self.rule.zone].contains(frame.active_anchors)):
            if is_inside:
                self.inside.add(track.id)
            elif track.id in self.inside:
                self.inside.discard(track.id)
                event = self.scene.open(self.rule, track, frame.t, frame.wall, changes)
                changes.append(self.scene.close(event, frame.t, frame.wall))


def test_every_rule_kind_has_its_evaluator_and_its_schema_in_the_api():
    schemas = openapi_document()["components"]["schemas"]
    rules = schemas["Layout"]["properties"]["rules"]["items"]
    assert [kind.kind() for kind in KINDS] == ["enter", "loiter", "cross", "count", "present"]
    assert rules["oneOf"] == [{"$ref": f"#/components/schemas/{kind.__name__}"} for kind in KINDS]
    assert schemas["Event"]["properties"]["kind"]["enum"] == [kind.kind() for kind in KINDS]
    for kind in KINDS:
        assert kind.evaluator is not RuleConfig.evaluator, kind
        assert rules["discriminator"]["mapping"][kind.kind()] == f"#/components/schemas/{kind.__name__}"
        schema = schemas[kind.__name__]
        assert schema["properties"]["type"] == {"type": "string", "enum": [kind.kind()]}
        assert set(schema["properties"]) == set(kind.model_fields)
        assert set(schema["required"]) == {"name", "type"} | {f for f in kind.parameters() if kind.model_fields[f].is_required()}
    assert schemas["LoiterRule"]["properties"]["seconds"] == {"type": "number", "minimum": 0, "exclusiveMinimum": True}


def test_a_kind_defined_elsewhere_plugs_into_the_union_the_layout_shape_and_the_engine():
    kinds = (*KINDS, LeaveRule)
    one_rule = TypeAdapter(rule_type(kinds))
    flat = {"name": "gone", "type": "leave", "zone": "door", "line": None, "direction": "any", "seconds": None, "count": None}
    rule = one_rule.validate_python(flat)  # the other kinds' parameters, as the layout API carries them, are ignored
    assert rule == LeaveRule(name="gone", type="leave", zone="door")
    assert layout_json(rule, kinds) == flat | {"classes": None, "alert": False, "upload_clip": False, "notify": [],
                                               "schedule": None}
    with pytest.raises(ValidationError, match="rule type 'leave' needs zone"):
        one_rule.validate_python({"name": "gone", "type": "leave"})
    with pytest.raises(ValidationError, match="Extra inputs"):
        one_rule.validate_python(flat | {"colour": "red"})
    assert one_rule.json_schema()["discriminator"]["mapping"]["leave"] == "#/$defs/LeaveRule"

    camera = parse_config(CONFIG).cameras[0].model_copy(update={"rules": [rule]})
    engine = RuleEngine(camera, SIZE, list(COCO_CLASSES), ["person"])
    person = track(1, 500, 500)
    assert step(engine, 0.0, [person]) == []
    person.box[:] = [80, 420, 120, 500]
    left = step(engine, 0.2, [person])
    assert [(c.change, c.event.rule, c.event.kind, c.event.zone) for c in left] == [
        ("open", "gone", "leave", "door"), ("close", "gone", "leave", "door")]
