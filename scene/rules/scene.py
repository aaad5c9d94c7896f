"""What the evaluators of one camera share: its zones and lines, the tracks' paths and how events are made."""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import numpy as np

from vigia.inference.tracking import Track
from vigia.scene.events import Event, EventChange, decimate, new_event_id
from vigia.scene.rules.base import RuleConfig
from vigia.scene.zones import PolygonZone, Tripwire

if TYPE_CHECKING:
    from vigia.scene.layout import CameraLayout

PATH_MIN_STEP = 0.01   # normalised distance an anchor must move to add a path point
PATH_MAX_GAP_S = 1.0   # ... or time since the last point

PathPoint = tuple[float, float, float]  # (seconds, x, y), x and y normalised


@dataclass
class Scene:
    """One camera as its rules' evaluators see it; `open`, `improve` and `close` are how they make events."""

    camera: str
    frame_size: tuple[int, int]
    class_names: list[str]
    kept_classes: list[str]   # the detector's classes: the default for rules without their own
    zones: dict[str, PolygonZone]
    lines: dict[str, Tripwire]
    zone_classes: dict[str, list[str] | None]
    _paths: dict[int, list[PathPoint]] = field(default_factory=dict)

    @classmethod
    def of(cls, camera: CameraLayout, frame_size: tuple[int, int], class_names: list[str], kept_classes: list[str]) -> Scene:
        return cls(
            camera=camera.name,
            frame_size=frame_size,
            class_names=class_names,
            kept_classes=kept_classes,
            zones={z.name: PolygonZone.from_normalised(z.name, z.polygon, frame_size) for z in camera.zones},
            lines={ln.name: Tripwire.from_normalised(ln.name, ln.points, frame_size) for ln in camera.lines},
            zone_classes={z.name: z.classes for z in camera.zones},
        )

    def label(self, track: Track) -> str:
        return self.class_names[track.class_id]

    def classes(self, rule: RuleConfig) -> set[str]:
        """The classes `rule` reports: its own, else those of the zone it watches, else the detector's."""
        place = rule.place()
        zone_classes = self.zone_classes.get(place.name) if place is not None and place.shape == "zone" else None
        return set(rule.classes or zone_classes or self.kept_classes)

    # -- events -----------------------------------------------------------------------------

    def open(self, rule: RuleConfig, track: Track, start: float, started_at: float, changes: list[EventChange], *,
             crowd_label: str | None = None) -> Event:
        """A new event of `rule` about `track`, or, with `crowd_label`, about a crowd (no track, no path)
        whose best sighting so far is `track`."""
        place = rule.place()
        event = Event(
            id=new_event_id(started_at),
            camera=self.camera,
            rule=rule.name,
            kind=rule.type,
            zone=place.name if place is not None else None,
            label=crowd_label or self.label(track),
            track_id=None if crowd_label else track.id,
            start=start,
            started_at=started_at,
            max_score=float(track.score),
            box=self._normalised(track.box),
            alert=rule.alert,
            path=[] if crowd_label else self._path_since(track.id, start),
        )
        changes.append(EventChange("open", event, best_box_px=tuple(map(float, track.box))))
        return event

    def improve(self, event: Event, track: Track, changes: list[EventChange]) -> None:
        """`track` seen again: the event takes its box when it scores better."""
        if track.score > event.max_score:
            event.max_score = float(track.score)
            event.box = self._normalised(track.box)
            changes.append(EventChange("update", event, best_box_px=tuple(map(float, track.box))))

    def close(self, event: Event, end: float, ended_at: float) -> EventChange:
        event.end = max(end, event.start)
        event.ended_at = max(ended_at, event.started_at)
        if event.track_id is not None:
            event.path = self._path_since(event.track_id, event.start, event.end)
        return EventChange("close", event)

    def _normalised(self, box) -> tuple[float, float, float, float]:
        w, h = self.frame_size
        return (float(box[0]) / w, float(box[1]) / h, float(box[2]) / w, float(box[3]) / h)

    # -- paths ------------------------------------------------------------------------------

    def record_path(self, track: Track, anchor: np.ndarray, t: float) -> None:
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

    def forget(self, track_id: int) -> None:
        """The track has ended: its path goes."""
        self._paths.pop(track_id, None)

    def _path_since(self, track_id: int, start: float, end: float | None = None) -> list[PathPoint]:
        points = [p for p in self._paths.get(track_id, []) if p[0] >= start - 1e-6 and (end is None or p[0] <= end + 1e-6)]
        return decimate([(round(p[0] - start, 3), p[1], p[2]) for p in points])
