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
from vigia.appliance.transactions import write_transaction

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


def save_layout(path: str | Path, camera: str, layout: dict, username: str, previous: dict | None = None) -> int:
    """Save (or replace) a camera's layout, as its newest version; `previous`, the layout it replaces, is kept as
    the first version when the camera has none yet (the config file's). The new version's id."""
    now = time.time()
    with database(path) as db, write_transaction(db.conn):
        if previous is not None and db.execute("select 1 from camera_layout_versions where camera = ? limit 1",
                                               [camera]).fetchone() is None:
            db.execute("insert into camera_layout_versions (camera, layout, saved_at, saved_by) values (?, ?, ?, ?)",
                       [camera, json.dumps(previous), now, "(before the first save: the config file's)"])
        version = db.execute("insert into camera_layout_versions (camera, layout, saved_at, saved_by) "
                             "values (?, ?, ?, ?)", [camera, json.dumps(layout), now, username]).lastrowid
        db.execute("insert into camera_layouts (camera, layout, updated_at, updated_by) values (?, ?, ?, ?) "
                   "on conflict (camera) do update set layout = excluded.layout, "
                   "updated_at = excluded.updated_at, updated_by = excluded.updated_by",
                   [camera, json.dumps(layout), now, username])
    return version


def privacy_polygons(path: str | Path, camera: Camera | None, name: str) -> list[list[tuple[float, float]]]:
    """The privacy masks of camera `name` as polygons, for tools that run beside the appliance (the CLI): the layout
    saved from the UI when it has masks, else the config file's `camera` (None: not in the config file)."""
    saved = saved_layouts(path).get(name)
    if saved is not None and "privacy_masks" in saved.layout:
        return [[tuple(point) for point in mask["polygon"]] for mask in saved.layout["privacy_masks"]]
    return [list(mask.polygon) for mask in camera.privacy_masks] if camera is not None else []


def layout_versions(path: str | Path, camera: str) -> list[dict]:
    """The camera's saved layouts, newest first: id, when, by whom, and the names in each."""
    with database(path) as db:
        rows = list(db.query("select id, layout, saved_at, saved_by from camera_layout_versions where camera = ? "
                             "order by id desc", [camera]))
    out = []
    for row in rows:
        layout = json.loads(row["layout"])
        out.append({"id": row["id"], "saved_at": row["saved_at"], "saved_by": row["saved_by"],
                    **{name: [item["name"] for item in layout.get(name, [])]
                       for name in ("zones", "lines", "rules", "privacy_masks")}})
    return out


def layout_version(path: str | Path, camera: str, version: int) -> dict | None:
    """One saved layout of the camera (zones, lines, rules), or None."""
    with database(path) as db:
        row = db.execute("select layout from camera_layout_versions where camera = ? and id = ?",
                         [camera, version]).fetchone()
    return json.loads(row[0]) if row else None


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
