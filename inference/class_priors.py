"""What the tracker may assume about a detector's classes, known by name.

Two facts the boxes alone do not give at 5 updates/s: how far an object of a class can move
between two detections, and which classes a small detector swaps on one object from frame to
frame (a van is a car, then a truck, then a bus). Classes not named here get neither.
"""
from __future__ import annotations

from dataclasses import dataclass

# Top speed crossing the view, in the box's larger side per second: a sprinter does 7 m/s
# at 1.75 m tall (4), a cyclist 10 m/s over ~1.8 m (6), a car 130 km/h over its 4.5 m length
# (8); motorcycles, buses and trucks are given the car's (a bound, not an estimate).
TOP_SPEED = {"person": 4.0, "bicycle": 6.0, "motorcycle": 8.0, "car": 8.0, "bus": 8.0, "truck": 8.0}
CONFUSED = (("car", "bus", "truck"),)


@dataclass(frozen=True)
class ClassPriors:
    max_speed: dict[int, float]        # class id -> top speed, larger sides per second
    class_groups: list[list[int]]      # class ids matched as one

    def tracker_params(self) -> dict:
        return {"max_speed": self.max_speed, "class_groups": self.class_groups}


def class_priors(class_names: list[str]) -> ClassPriors:
    ids = {name: i for i, name in enumerate(class_names)}
    groups = [[ids[name] for name in group if name in ids] for group in CONFUSED]
    return ClassPriors(
        max_speed={ids[name]: speed for name, speed in TOP_SPEED.items() if name in ids},
        class_groups=[group for group in groups if len(group) > 1],
    )
