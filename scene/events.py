"""Events: what a guard is told about. One row per event, ids sortable by time (ULID)."""
from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Literal

from ulid import ULID

MAX_PATH_POINTS = 32


def new_event_id(wall_time: float) -> str:
    """A ULID whose first 48 bits are the start time in ms, so ids sort by time across devices."""
    return str(ULID.from_timestamp(wall_time))


@dataclass
class Event:
    id: str
    camera: str
    rule: str
    kind: str                    # the rule's type (a kind of vigia.scene.rules.KINDS: enter, cross, ...)
    # The name of the zone OR LINE the rule watches (its `place()`): a line's name for cross rules; None for the
    # whole frame. Called `zone` as its SQLite column, the sync wire format and the HTTP API (`?zone=`) are.
    zone: str | None
    label: str                   # class name, e.g. "person"
    track_id: int | None         # None for rules about a crowd (count)
    start: float                 # seconds of stream time
    started_at: float            # wall clock, seconds since the epoch
    max_score: float
    box: tuple[float, float, float, float]  # normalised x1, y1, x2, y2 at the best score
    alert: bool = False
    end: float | None = None
    ended_at: float | None = None
    snapshot: str | None = None  # path relative to the data directory
    # (seconds since start, x, y) of the object's anchor, normalised; at most MAX_PATH_POINTS.
    path: list[tuple[float, float, float]] = field(default_factory=list)
    attributes: dict = field(default_factory=dict)

    def to_row(self) -> dict:
        row = {name: getattr(self, name) for name in ROW_FIELDS}  # not asdict(): no deep copies on the hot path
        row["box"] = json.dumps([round(v, 4) for v in self.box])
        row["path"] = json.dumps([[round(v, 3) for v in p] for p in self.path])
        row["attributes"] = json.dumps(self.attributes)
        row["alert"] = int(self.alert)
        return row

    @classmethod
    def from_row(cls, row: dict) -> Event:
        values = {k: row[k] for k in cls.__dataclass_fields__ if k in row}
        values["box"] = tuple(json.loads(row["box"]))
        values["path"] = [tuple(p) for p in json.loads(row["path"])]
        values["attributes"] = json.loads(row["attributes"])
        values["alert"] = bool(row["alert"])
        return cls(**values)

    def summary(self) -> dict:
        """The JSON shape `vigia analyze` prints and the demo logs."""
        out = {
            "id": self.id, "camera": self.camera, "rule": self.rule, "kind": self.kind, "zone": self.zone,
            "label": self.label, "track_id": self.track_id, "start": round(self.start, 3),
            "end": None if self.end is None else round(self.end, 3), "max_score": round(self.max_score, 3),
            "path": [[round(v, 3) for v in p] for p in self.path],
        }
        if self.attributes:
            out["attributes"] = self.attributes
        if self.snapshot:
            out["snapshot"] = self.snapshot
        return out


ROW_FIELDS = tuple(Event.__dataclass_fields__)


@dataclass
class EventChange:
    """What the rules engine tells the rest of the appliance after one frame."""

    change: Literal["open", "update", "close"]
    event: Event
    # Set when this frame gave the event its best score so far: the snapshot should come from it.
    best_box_px: tuple[float, float, float, float] | None = None
    # The wall clock of the frame this change came from (its capture), when a frame made it (not at a stream's end).
    captured_at: float | None = None
    # When that frame passed each stage on its way here (wall clock): "queued" for the detector, "detected" (its
    # result ready), "ruled" (this change made); where an alert's time goes (`vigia bench notify`).
    stages: dict[str, float] = field(default_factory=dict)


def decimate(path: list[tuple[float, float, float]]) -> list[tuple[float, float, float]]:
    """Keep a path short: drop every other interior point until it fits, ends kept."""
    while len(path) > MAX_PATH_POINTS:
        path = path[:1] + path[1:-1:2] + path[-1:]
    return path
