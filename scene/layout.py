"""What an installer draws on a camera: zones, lines and the rules that watch them, validated.

The appliance's config file (`vigia.appliance.config.Camera`) and central's re-analysis (which gets each
camera's layout from the device, in a `camera_layout` record) read the same models.
"""
from __future__ import annotations

from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from vigia.scene.names import NAME_PATTERN, check_classes
from vigia.scene.rules import Rule, RuleConfig, layout_json

Point = tuple[Annotated[float, Field(ge=0.0, le=1.0)], Annotated[float, Field(ge=0.0, le=1.0)]]


class Zone(BaseModel):
    """A polygon in normalised coordinates (0..1, origin top left)."""

    model_config = ConfigDict(extra="forbid")

    name: str = Field(pattern=NAME_PATTERN)
    polygon: list[Point]
    classes: list[str] | None = None  # None: the detector's classes

    _classes = field_validator("classes")(check_classes)

    @field_validator("polygon")
    @classmethod
    def _polygon_is_area(cls, points: list[tuple[float, float]]) -> list[tuple[float, float]]:
        return check_area(points)


class PrivacyMask(BaseModel):
    """A polygon (normalised, as zones) of the picture that is never analysed and blacked out wherever a person
    sees the camera's footage (vigia.appliance.privacy.masks)."""

    model_config = ConfigDict(extra="forbid")

    name: str = Field(pattern=NAME_PATTERN)
    polygon: list[Point]

    @field_validator("polygon")
    @classmethod
    def _polygon_is_area(cls, points: list[tuple[float, float]]) -> list[tuple[float, float]]:
        return check_area(points)


def check_area(points: list[tuple[float, float]]) -> list[tuple[float, float]]:
    """ValueError unless `points` enclose an area: 3 or more, edges not crossing."""
    if len(points) < 3:
        raise ValueError(f"a polygon needs at least 3 points, got {len(points)}")
    if _self_intersects(points):
        raise ValueError("polygon edges cross each other")
    if abs(polygon_area(points)) < 1e-6:
        raise ValueError("polygon has no area (its points are on one line)")
    return points


class Line(BaseModel):
    """A tripwire from `points[0]` to `points[1]`; left and right are as seen walking from the first to the second."""

    model_config = ConfigDict(extra="forbid")

    name: str = Field(pattern=NAME_PATTERN)
    points: tuple[Point, Point]

    @field_validator("points")
    @classmethod
    def _distinct(cls, points: tuple[tuple[float, float], tuple[float, float]]):
        if points[0] == points[1]:
            raise ValueError("a line needs two different points")
        return points


class CameraLayout(BaseModel):
    """One camera's layout by name: what central's re-analysis runs the camera's own rules with."""

    model_config = ConfigDict(extra="forbid")

    name: str = Field(pattern=NAME_PATTERN)
    zones: list[Zone] = []
    lines: list[Line] = []
    rules: list[Rule] = []
    privacy_masks: list[PrivacyMask] = []

    @model_validator(mode="after")
    def _references(self) -> CameraLayout:
        check_references(self.zones, self.lines, self.rules, self.privacy_masks)
        return self

    def to_json(self) -> dict:
        """As the appliance sends it (rules in the layout API's flat shape)."""
        return self.model_dump(mode="json", include={"name", "zones", "lines", "privacy_masks"}) | {
            "rules": [layout_json(rule) for rule in self.rules]}


def check_references(zones: list[Zone], lines: list[Line], rules: list[RuleConfig],
                     privacy_masks: list[PrivacyMask] = ()) -> None:
    """ValueError when names repeat, or a rule watches a zone or line the camera does not have."""
    zone_names = [z.name for z in zones]
    line_names = [ln.name for ln in lines]
    for kind, names in (("zone", zone_names), ("line", line_names), ("rule", [r.name for r in rules]),
                        ("privacy mask", [m.name for m in privacy_masks])):
        dupes = sorted({n for n in names if names.count(n) > 1})
        if dupes:
            raise ValueError(f"duplicate {kind} name {', '.join(map(repr, dupes))}")
    for rule in rules:
        place = rule.place()
        if place is not None and place.name not in (zone_names if place.shape == "zone" else line_names):
            raise ValueError(f"rule {rule.name!r} names {place.shape} {place.name!r}, which this camera does not have")


def polygon_area(points: list[tuple[float, float]]) -> float:
    """Signed area (shoelace)."""
    return 0.5 * sum(x1 * y2 - x2 * y1 for (x1, y1), (x2, y2) in zip(points, points[1:] + points[:1]))


def _self_intersects(points: list[tuple[float, float]]) -> bool:
    edges = list(zip(points, points[1:] + points[:1]))
    for i, (a, b) in enumerate(edges):
        for j in range(i + 2, len(edges)):
            if i == 0 and j == len(edges) - 1:
                continue  # neighbours through the closing edge
            c, d = edges[j]
            if _segments_cross(a, b, c, d):
                return True
    return False


def _segments_cross(a, b, c, d) -> bool:
    def side(p, q, r):
        return (q[0] - p[0]) * (r[1] - p[1]) - (q[1] - p[1]) * (r[0] - p[0])

    return side(a, b, c) * side(a, b, d) < 0 and side(c, d, a) * side(c, d, b) < 0
