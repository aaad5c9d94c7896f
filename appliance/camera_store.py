"""The cameras and layouts saved from the UI, beside the config file's: the `setup_cameras` table (cameras
added in the setup wizard) and `camera_layouts` (zones, lines and rules drawn for a camera)."""
from __future__ import annotations

import json
import logging
import time
from dataclasses import dataclass
from pathlib import Path

from vigia.appliance.config import Camera, ConfigError, with_layout
from vigia.appliance.storage import database

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class SavedLayout:
    """A camera's zones, lines and rules as saved from the UI (`vigia.appliance.config.camera_layout`)."""

    camera: str
    layout: dict
    updated_by: str


def saved_cameras(path: str | Path) -> list[Camera]:
    """The cameras saved from the setup wizard, oldest first; a damaged one is logged and left out."""
    with database(path) as db:
        rows = list(db.query("select name, camera from setup_cameras order by updated_at"))
    cameras = []
    for row in rows:
        try:
            cameras.append(Camera.model_validate_json(row["camera"]))
        except ValueError as exc:
            log.error("camera %s saved by the setup wizard is damaged, skipped: %s", row["name"], exc)
    return cameras


def save_camera(path: str | Path, camera: Camera, username: str) -> None:
    """Save (or replace, by name) a camera from the setup wizard."""
    with database(path) as db:
        db.execute("insert into setup_cameras (name, camera, updated_at, updated_by) values (?, ?, ?, ?) "
                   "on conflict (name) do update set camera = excluded.camera, "
                   "updated_at = excluded.updated_at, updated_by = excluded.updated_by",
                   [camera.name, camera.model_dump_json(), time.time(), username])


def saved_layouts(path: str | Path) -> dict[str, SavedLayout]:
    """The layouts saved from the UI, by camera name."""
    with database(path) as db:
        rows = list(db.query("select camera, layout, updated_by from camera_layouts"))
    return {row["camera"]: SavedLayout(row["camera"], json.loads(row["layout"]), row["updated_by"]) for row in rows}


def save_layout(path: str | Path, camera: str, layout: dict, username: str) -> None:
    """Save (or replace) a camera's layout."""
    with database(path) as db:
        db.execute("insert into camera_layouts (camera, layout, updated_at, updated_by) values (?, ?, ?, ?) "
                   "on conflict (camera) do update set layout = excluded.layout, "
                   "updated_at = excluded.updated_at, updated_by = excluded.updated_by",
                   [camera, json.dumps(layout), time.time(), username])


def with_saved_layouts(cameras: list[Camera], path: str | Path) -> list[Camera]:
    """The cameras with the layouts saved from the UI in place of their config file's zones, lines and rules
    (a saved layout that no longer validates is logged and skipped)."""
    stored = saved_layouts(path)
    result = []
    for camera in cameras:
        saved = stored.get(camera.name)
        if saved is not None:
            try:
                camera = with_layout(camera, saved.layout, source=f"saved layout of {camera.name}")
                log.info("camera %s: zones, lines and rules as %s saved them from the UI", camera.name, saved.updated_by)
            except ConfigError as exc:
                log.error("%s; using the config file's instead", exc)
        result.append(camera)
    return result
