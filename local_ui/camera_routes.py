"""Camera routes of the guards' API: states, the current frame, and the zone editor's layout with its versions."""
from __future__ import annotations

import asyncio
import logging

from aiohttp import web

from vigia.appliance.camera_store import layout_version, layout_versions
from vigia.appliance.config import ConfigError, camera_layout
from vigia.appliance.privacy.notice import camera_retention
from vigia.kit.http import ApiError, json_body
from vigia.local_ui import accounts
from vigia.local_ui.common import API, Api, remote_address, require
from vigia.local_ui.live import Client, encode_jpeg

log = logging.getLogger(__name__)

FRAME_WAIT_S = 3.0   # how long GET .../frame waits for the camera's next analysed frame


def add_routes(app: web.Application) -> None:
    routes = app.router
    routes.add_get("/api/v1/cameras", cameras, allow_head=False)
    routes.add_get("/api/v1/cameras/{name}/frame", frame, allow_head=False)
    routes.add_get("/api/v1/cameras/{name}/layout", layout, allow_head=False)
    routes.add_put("/api/v1/cameras/{name}/layout", save_layout)
    routes.add_get("/api/v1/cameras/{name}/layout/versions", versions, allow_head=False)
    routes.add_post("/api/v1/cameras/{name}/layout/versions/{version}/restore", restore_version)


def camera_list(api: Api) -> list[dict]:
    """The configured cameras and their connection states (never their URLs: they hold passwords)."""
    states = api.appliance.camera_states()
    sizes = api.hub.frame_sizes if api.hub is not None else {}
    out = []
    for camera in api.config.cameras:
        state = states.get(camera.name) or {"state": "starting" if camera.enabled else "disabled",
                                            "since": None, "last_error": None, "last_frame_at": None,
                                            "behind": False, "frames_undecoded": 0}
        width, height = sizes.get(camera.name, (None, None))
        out.append({"name": camera.name, "enabled": camera.enabled, "recording": camera.record.mode,
                    "width": width, "height": height, "retention": camera_retention(camera, api.config.storage),
                    "privacy_masks": len(camera.privacy_masks), **state})
    return out


async def cameras(request: web.Request) -> web.Response:
    require(request)
    return web.json_response({"cameras": camera_list(request.app[API])})


def _camera(api: Api, request: web.Request):
    name = request.match_info["name"]
    camera = next((c for c in api.config.cameras if c.name == name), None)
    if camera is None:
        raise ApiError(404, f"no camera {name!r}")
    return camera


async def frame(request: web.Request) -> web.Response:
    """The camera's next analysed frame as JPEG (what the zone editor draws over)."""
    api = request.app[API]
    require(request)
    camera = _camera(api, request)
    hub = api.hub
    waiter = Client()
    hub.add(waiter)
    hub.watch(waiter, [camera.name], "full")

    async def next_frame():
        while camera.name not in hub.frames:
            waiter.wake.clear()
            await waiter.wake.wait()
        return hub.frames[camera.name]

    try:
        live = await asyncio.wait_for(next_frame(), FRAME_WAIT_S)
    except asyncio.TimeoutError:
        raise ApiError(404, f"no frame from camera {camera.name!r} in the last {FRAME_WAIT_S:g} s "
                            "(it is offline, or not yet started)") from None
    finally:
        hub.remove(waiter)
    jpeg = await asyncio.to_thread(encode_jpeg, live.frame, 1280)
    return web.Response(body=jpeg, content_type="image/jpeg")


def _layout_json(camera, sizes: dict) -> dict:
    width, height = sizes.get(camera.name, (None, None))
    return {"camera": camera.name, "width": width, "height": height, **camera_layout(camera)}


async def layout(request: web.Request) -> web.Response:
    api = request.app[API]
    require(request)
    return web.json_response(_layout_json(_camera(api, request), api.hub.frame_sizes))


async def save_layout(request: web.Request) -> web.Response:
    """Replace a camera's zones, lines and rules (installer): validated, saved, applied without a restart."""
    api = request.app[API]
    session = require(request, "installer")
    camera = _camera(api, request)
    body = await json_body(request, required=True)
    return await _apply(request, camera.name, body, session.username, "layout_saved", {})


async def versions(request: web.Request) -> web.Response:
    """Every layout the camera had, newest first (installer)."""
    api = request.app[API]
    require(request, "installer")
    camera = _camera(api, request)
    listed = await asyncio.to_thread(layout_versions, api.config.storage.database, camera.name)
    return web.json_response({"camera": camera.name, "versions": listed})


async def restore_version(request: web.Request) -> web.Response:
    """Make an earlier layout the camera's again (installer): applied like a save, itself a new version."""
    api = request.app[API]
    session = require(request, "installer")
    camera = _camera(api, request)
    text = request.match_info["version"]
    if not text.isdigit():
        raise ApiError(400, "version must be a whole number (an id from .../layout/versions)")
    layout = await asyncio.to_thread(layout_version, api.config.storage.database, camera.name, int(text))
    if layout is None:
        raise ApiError(404, f"camera {camera.name!r} has no layout version {text}")
    return await _apply(request, camera.name, layout, session.username, "layout_restored", {"version": int(text)})


async def _apply(request: web.Request, name: str, layout, username: str, action: str, details: dict) -> web.Response:
    """Apply `layout` to camera `name`, audit it as `action`, tell every screen."""
    api = request.app[API]
    try:
        saved = await asyncio.to_thread(api.appliance.apply_layout, name, layout, username)
    except ConfigError as exc:
        raise ApiError(400, "; ".join(map(str, exc.issues))) from None
    except KeyError:
        raise ApiError(404, f"no camera {name!r}") from None
    names = {key: [item["name"] for item in saved[key]] for key in ("zones", "lines", "rules", "privacy_masks")}
    await api.db(accounts.audit, action, username=username, target=name, remote=remote_address(request),
                 details=details | names)
    log.info("%s %s the zones, lines and rules of camera %s", username,
             "restored" if action == "layout_restored" else "saved", name)
    result = {"camera": name, **saved}
    api.hub.broadcast({"type": "layout", "camera": name, "layout": result})
    return web.json_response(_layout_json(next(c for c in api.config.cameras if c.name == name), api.hub.frame_sizes))
