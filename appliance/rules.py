"""The rules engine: tracks in, event changes out, one camera at a time.

Anchors (an object's bottom centre) decide zone membership. A track that steps out of a
zone for less than `EXIT_GRACE_S` is still in it, so a box that jitters on a zone edge does
not open a new event every second.
"""
from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field

import numpy as np

from vigia.appliance.config import Camera, Rule
from vigia.appliance.events import Event, EventChange, decimate, new_event_id
from vigia.appliance.zones import PolygonZone, Tripwire, anchors
from vigia.inference.tracking import Track, TrackerUpdate

EXIT_GRACE_S = 1.0
PATH_MIN_STEP = 0.01   # normalised distance an anchor must move to add a path point
PATH_MAX_GAP_S = 1.0   # ... or time since the last point


@dataclass
class _Membership:
    """How one track stands with one zone-based rule."""

    entered_at: float
    last_inside: float
    event: Event | None = None


@dataclass
class _CountState:
    last_above: float = 0.0
    event: Event | None = None


@dataclass
class RuleEngine:
    camera: Camera
    frame_size: tuple[int, int]
    class_names: list[str]
    kept_classes: list[str]   # the detector's classes: the default for rules without their own

    _zones: dict[str, PolygonZone] = field(init=False)
    _lines: dict[str, Tripwire] = field(init=False)
    _rules: list = field(init=False)

    def __post_init__(self) -> None:
        size = self.frame_size
        self._zones = {z.name: PolygonZone.from_normalised(z.name, z.polygon, size) for z in self.camera.zones}
        self._lines = {ln.name: Tripwire.from_normalised(ln.name, ln.points, size) for ln in self.camera.lines}
        zone_classes = {z.name: z.classes for z in self.camera.zones}
        # A camera without rules still reports what it sees: one event per object.
        self._rules = list(self.camera.rules) or [Rule(name="object", type="present")]
        self._classes = {
            rule.name: set(rule.classes or zone_classes.get(rule.zone or "") or self.kept_classes) for rule in self._rules
        }
        self._members: dict[tuple[str, int], _Membership] = {}
        self._present: dict[tuple[str, int], Event] = {}
        self._counts: dict[str, _CountState] = {r.name: _CountState() for r in self._rules if r.type == "count"}
        self._paths: dict[int, list[tuple[float, float, float]]] = {}
        self._last_anchor: dict[int, np.ndarray] = {}

    # -- public -----------------------------------------------------------------------------

    def update(self, t: float, wall: float, tracks: TrackerUpdate) -> list[EventChange]:
        changes: list[EventChange] = []
        active = tracks.active
        alive = active + tracks.lost
        active_anchors = anchors(np.array([tr.box for tr in active], np.float64).reshape(-1, 4))
        alive_anchors = anchors(np.array([tr.box for tr in alive], np.float64).reshape(-1, 4))
        for track, anchor in zip(active, active_anchors):
            self._record_path(track, anchor, t)

        for rule in self._rules:
            if rule.type in ("enter", "loiter"):
                self._zone_rule(rule, t, wall, active, active_anchors, changes)
            elif rule.type == "cross":
                self._cross_rule(rule, t, wall, active, active_anchors, changes)
            elif rule.type == "count":
                self._count_rule(rule, t, wall, alive, alive_anchors, changes)
            elif rule.type == "present":
                self._present_rule(rule, t, wall, active, changes)

        for track, anchor in zip(active, active_anchors):
            self._last_anchor[track.id] = anchor
        for track in tracks.ended:
            changes.extend(self._track_ended(track, wall - (t - track.last_seen)))
        return changes

    def finish(self, t: float, wall: float) -> list[EventChange]:
        """Close every open event (the stream is over or the camera stops)."""
        changes = []
        for key, member in list(self._members.items()):
            if member.event is not None:
                changes.append(self._close(member.event, member.last_inside, wall - (t - member.last_inside)))
            del self._members[key]
        for key, event in list(self._present.items()):
            changes.append(self._close(event, t, wall))
            del self._present[key]
        for state in self._counts.values():
            if state.event is not None:
                changes.append(self._close(state.event, t, wall))
                state.event = None
        return changes

    # -- rule types -------------------------------------------------------------------------

    def _label(self, track: Track) -> str:
        return self.class_names[track.class_id]

    def _zone_rule(self, rule, t, wall, active, points, changes) -> None:
        zone = self._zones[rule.zone]
        inside = zone.contains(points) if len(active) else np.zeros(0, bool)
        for track, is_inside in zip(active, inside):
            if self._label(track) not in self._classes[rule.name]:
                continue
            key = (rule.name, track.id)
            member = self._members.get(key)
            if is_inside:
                if member is None:
                    member = self._members[key] = _Membership(entered_at=t, last_inside=t)
                member.last_inside = t
                due = rule.type == "enter" or t - member.entered_at >= rule.seconds
                if member.event is None and due:
                    member.event = self._open(rule, track, member.entered_at, wall - (t - member.entered_at), changes)
                elif member.event is not None:
                    self._improve(member.event, track, changes)
            elif member is not None and t - member.last_inside > EXIT_GRACE_S:
                if member.event is not None:
                    changes.append(self._close(member.event, member.last_inside, wall - (t - member.last_inside)))
                del self._members[key]

    def _cross_rule(self, rule, t, wall, active, points, changes) -> None:
        line = self._lines[rule.line]
        for track, anchor in zip(active, points):
            if self._label(track) not in self._classes[rule.name]:
                continue
            previous = self._last_anchor.get(track.id)
            if previous is None:
                continue
            direction = line.crossing(previous, anchor)
            if direction is None or rule.direction not in ("any", direction):
                continue
            event = self._open(rule, track, t, wall, changes)
            event.attributes["direction"] = direction
            changes.append(self._close(event, t, wall))

    def _count_rule(self, rule, t, wall, alive, points, changes) -> None:
        zone = self._zones[rule.zone]
        inside = zone.contains(points) if len(alive) else np.zeros(0, bool)
        members = [tr for tr, ok in zip(alive, inside) if ok and self._label(tr) in self._classes[rule.name]]
        state = self._counts[rule.name]
        if len(members) > rule.count:
            state.last_above = t
            best = max(members, key=lambda tr: tr.score)
            if state.event is None:
                label = Counter(self._label(tr) for tr in members).most_common(1)[0][0]
                state.event = self._open(rule, best, t, wall, changes, label=label, track_id=None)
            else:
                self._improve(state.event, best, changes)
            peak = state.event.attributes.get("peak_count", 0)
            state.event.attributes["peak_count"] = max(peak, len(members))
        elif state.event is not None and t - state.last_above > EXIT_GRACE_S:
            changes.append(self._close(state.event, state.last_above, wall - (t - state.last_above)))
            state.event = None

    def _present_rule(self, rule, t, wall, active, changes) -> None:
        for track in active:
            if self._label(track) not in self._classes[rule.name]:
                continue
            event = self._present.get((rule.name, track.id))
            if event is None:
                self._present[(rule.name, track.id)] = self._open(
                    rule, track, track.first_seen, wall - (t - track.first_seen), changes
                )
            else:
                self._improve(event, track, changes)

    # -- event bookkeeping ------------------------------------------------------------------

    def _normalised(self, box) -> tuple[float, float, float, float]:
        w, h = self.frame_size
        return (float(box[0]) / w, float(box[1]) / h, float(box[2]) / w, float(box[3]) / h)

    def _open(self, rule, track: Track, start: float, started_at: float, changes, *, label=None, track_id=-1) -> Event:
        event = Event(
            id=new_event_id(started_at),
            camera=self.camera.name,
            rule=rule.name,
            kind=rule.type,
            zone=rule.zone or rule.line,
            label=label or self._label(track),
            track_id=track.id if track_id == -1 else track_id,
            start=start,
            started_at=started_at,
            max_score=float(track.score),
            box=self._normalised(track.box),
            alert=rule.alert,
            path=self._path_since(track.id, start) if track_id == -1 else [],
        )
        changes.append(EventChange("open", event, best_box_px=tuple(map(float, track.box))))
        return event

    def _improve(self, event: Event, track: Track, changes) -> None:
        if track.score > event.max_score:
            event.max_score = float(track.score)
            event.box = self._normalised(track.box)
            changes.append(EventChange("update", event, best_box_px=tuple(map(float, track.box))))

    def _close(self, event: Event, end: float, ended_at: float) -> EventChange:
        event.end = max(end, event.start)
        event.ended_at = max(ended_at, event.started_at)
        if event.track_id is not None:
            event.path = self._path_since(event.track_id, event.start, event.end)
        return EventChange("close", event)

    def _track_ended(self, track: Track, ended_at: float) -> list[EventChange]:
        changes = []
        for key in [k for k in self._members if k[1] == track.id]:
            member = self._members.pop(key)
            if member.event is not None:
                changes.append(self._close(member.event, member.last_inside, ended_at - (track.last_seen - member.last_inside)))
        for key in [k for k in self._present if k[1] == track.id]:
            changes.append(self._close(self._present.pop(key), track.last_seen, ended_at))
        self._paths.pop(track.id, None)
        self._last_anchor.pop(track.id, None)
        return changes

    def _record_path(self, track: Track, anchor: np.ndarray, t: float) -> None:
        w, h = self.frame_size
        point = (t, float(anchor[0]) / w, float(anchor[1]) / h)
        path = self._paths.setdefault(track.id, [])
        if path:
            last = path[-1]
            if abs(point[1] - last[1]) + abs(point[2] - last[2]) < PATH_MIN_STEP and t - last[0] < PATH_MAX_GAP_S:
                return
        path.append(point)
        if len(path) > 4 * 32:
            path[:] = decimate(path)

    def _path_since(self, track_id: int, start: float, end: float | None = None) -> list[tuple[float, float, float]]:
        points = [p for p in self._paths.get(track_id, []) if p[0] >= start - 1e-6 and (end is None or p[0] <= end + 1e-6)]
        return decimate([(round(p[0] - start, 3), p[1], p[2]) for p in points])
