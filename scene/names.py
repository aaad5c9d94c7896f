"""The names a configuration may use: of cameras, zones, lines and rules, and of object classes."""
from __future__ import annotations

from vigia.inference.coco import COCO_CLASSES

NAME_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$"


def check_classes(classes: list[str] | None) -> list[str] | None:
    """A pydantic field validator: every class is a COCO name (None: the detector's classes)."""
    if classes is None:
        return None
    unknown = [c for c in classes if c not in COCO_CLASSES]
    if unknown:
        raise ValueError(f"unknown class {', '.join(map(repr, unknown))} (known: person, car, truck, ... the COCO names)")
    return classes
