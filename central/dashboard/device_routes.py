"""The fleet's devices.

    GET  /dashboard/api/v1/devices                 every device: online, last seen, cameras' health, site
    GET  /dashboard/api/v1/devices/{id}?days        one device: the same, its metrics roll-ups of the last days
                                                    (each camera's frames and events per period, backlog, disk,
                                                    version, model), its cameras' layouts, the commands sent
    PUT  /dashboard/api/v1/devices/{id}/site        {"site"} (operator)
"""
from __future__ import annotations

import logging
import re
import time

from aiohttp import web

from vigia.central.dashboard import queries
from vigia.central.dashboard.common import API_PREFIX, DASHBOARD, json_row, require
from vigia.central.dashboard.live import push_device
from vigia.kit.http import ApiError, int_param, json_body, only_fields, query_params
from vigia.sync.protocol import DEVICE_ID_PATTERN

log = logging.getLogger(__name__)

SITE = re.compile(r"^[^\x00-\x1f]{1,64}$")
COMMANDS_SHOWN = 50


def add_routes(app: web.Application) -> None:
    app.router.add_get(f"{API_PREFIX}/devices", devices, allow_head=False)
    app.router.add_get(f"{API_PREFIX}/devices/{{device_id}}", device, allow_head=False)
    app.router.add_put(f"{API_PREFIX}/devices/{{device_id}}/site", set_site)


def device_id_param(request: web.Request) -> str:
    device_id = request.match_info["device_id"]
    if not re.fullmatch(DEVICE_ID_PATTERN, device_id):
        raise ApiError(400, "not a device id (lower-case letters, digits and -)")
    return device_id


async def devices(request: web.Request) -> web.Response:
    require(request)
    query_params(request, set())
    dashboard = request.app[DASHBOARD]
    async with dashboard.pool.connection() as conn:
        rows = await queries.devices(conn, dashboard.online_within)
    return web.json_response({"devices": [json_row(r) for r in rows],
                              "online_minutes": dashboard.settings.online_minutes})


async def device(request: web.Request) -> web.Response:
    require(request)
    device_id = device_id_param(request)
    days = int_param(query_params(request, {"days"}), "days", 7, 1, 31)
    dashboard = request.app[DASHBOARD]
    async with dashboard.pool.connection() as conn:
        found = await queries.devices(conn, dashboard.online_within, device_id)
        if not found:
            raise ApiError(404, f"no device {device_id!r}")
        history = await queries.metrics_history(conn, device_id, time.time() - days * 86400)
        layouts = await queries.camera_layouts(conn, device_id)
        commands = await queries.device_commands(conn, device_id, COMMANDS_SHOWN)
    return web.json_response({"device": json_row(found[0]), "days": days, "metrics": history, "layouts": layouts,
                              "commands": [json_row(c) for c in commands],
                              "online_minutes": dashboard.settings.online_minutes})


async def set_site(request: web.Request) -> web.Response:
    session = require(request, "operator")
    device_id = device_id_param(request)
    body = await json_body(request, required=True)
    only_fields(body, {"site"}, "field")
    site = body.get("site")
    if not isinstance(site, str) or not SITE.fullmatch(site):
        raise ApiError(400, "site must be 1 to 64 characters, no control characters")
    dashboard = request.app[DASHBOARD]
    async with dashboard.pool.connection() as conn:
        if not await queries.set_site(conn, device_id, site):
            raise ApiError(404, f"no device {device_id!r}")
    log.info("%s put device %s in site %r", session.username, device_id, site)
    await push_device(dashboard, device_id)  # this instance's WebSockets; others see it on their next load
    return web.json_response({"device_id": device_id, "site": site})
