"""What the tracker may assume about a detector's classes, known by name.

What the boxes alone do not give at 5 updates/s: how far an object of a class can move between
two detections; which classes a small detector swaps on one object from frame to frame (a van
is a car, then a truck, then a bus); and, for vehicles, how quickly their speed changes in the
picture as they come closer. Classes not named here get none of these.
"""
from __future__ import annotations

from dataclasses import dataclass

# Top speed crossing the view, in the box's larger side per second: a sprinter does 7 m/s
# at 1.75 m tall (4), a cyclist 10 m/s over ~1.8 m (6), a car 130 km/h over its 4.5 m length
# (8); motorcycles, buses and trucks are given the car's (a bound, not an estimate).
TOP_SPEED = {"person": 4.0, "bicycle": 6.0, "motorcycle": 8.0, "car": 8.0, "bus": 8.0, "truck": 8.0}
CONFUSED = (("car", "bus", "truck"),)
# Acceleration in the picture, as a multiple of the tracker's (set for walkers): an object coming
# at V from distance Z speeds up in the picture by about (V / Z)^2 of its sizes per second per
# second; a car at 30 m/s, 20 m away, ~2 sizes/s^2, a walker at 1.4 m/s, 5 m away, ~0.1.
ACCEL_SCALE = {"motorcycle": 4.0, "car": 4.0, "bus": 4.0, "truck": 4.0}


@dataclass(frozen=True)
class ClassPriors:
    max_speed: dict[int, float]        # class id -> top speed, larger sides per second
    class_groups: list[list[int]]      # class ids matched as one
    accel_scale: dict[int, float]      # class id -> acceleration noise, times the tracker's default

    def tracker_params(self) -> dict:
        return {"max_speed": self.max_speed, "class_groups": self.class_groups, "accel_scale": self.accel_scale}


def class_priors(class_names: list[str]) -> ClassPriors:
    ids = {name: i for i, name in enumerate(class_names)}
    groups = [[ids[name] for name in group if name in ids] for group in CONFUSED]
    return ClassPriors(
        max_speed={ids[name]: speed for name, speed in TOP_SPEED.items() if name in ids},
        class_groups=[group for group in groups if len(group) > 1],
        accel_scale={ids[name]: scale for name, scale in ACCEL_SCALE.items() if name in ids},
    )
