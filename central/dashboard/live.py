"""Live updates: the ingest NOTIFYs `vigia_ingest` when a batch commits (`vigia.central.ingest.batches`); each
dashboard instance LISTENs on a connection of its own, reads what the batch applied and pushes it to its
WebSockets, so every instance sees every device's events, whichever ingest instance took them.

    GET /dashboard/api/v1/live   WebSocket: {"type": "hello" | "events" | "device", ...}
"""
from __future__ import annotations

import asyncio
import json
import logging

import psycopg
from aiohttp import WSMsgType, web

from vigia.central.dashboard import queries
from vigia.central.dashboard.common import API_PREFIX, DASHBOARD, SESSION, Dashboard, json_row
from vigia.central.ingest.batches import NOTIFY_CHANNEL
from vigia.kit.http import ApiError

log = logging.getLogger(__name__)


def add_routes(app: web.Application) -> None:
    app.router.add_get(f"{API_PREFIX}/live", live, allow_head=False)
    app.on_shutdown.append(close_sockets)


async def listen(dashboard: Dashboard) -> None:
    """LISTEN for committed batches (reconnecting when the connection drops) and push what they applied."""
    delay = 0.5
    while True:
        try:
            async with await psycopg.AsyncConnection.connect(dashboard.settings.dsn, autocommit=True) as conn:
                await conn.execute(f"LISTEN {NOTIFY_CHANNEL}")
                delay = 0.5
                async for notice in conn.notifies():
                    await _push(dashboard, json.loads(notice.payload))
        except (psycopg.Error, OSError) as exc:
            log.warning("dashboard lost its LISTEN connection (%s); again in %.1f s", exc, delay)
            await asyncio.sleep(delay)
            delay = min(delay * 2, 30.0)


async def _push(dashboard: Dashboard, applied: dict) -> None:
    """Send the events a batch applied, then its device's new state, to every WebSocket."""
    if not dashboard.sockets:
        return
    async with dashboard.pool.connection() as conn:
        new_events = await queries.applied_events(conn, applied["device_id"], applied["first_seq"], applied["last_seq"])
    if new_events:
        await dashboard.broadcast({"type": "events", "events": [json_row(e) for e in new_events]})
    await push_device(dashboard, applied["device_id"])


async def push_device(dashboard: Dashboard, device_id: str) -> None:
    """A device's current state to this instance's WebSockets."""
    async with dashboard.pool.connection() as conn:
        found = await queries.devices(conn, dashboard.online_within, device_id)
    if found:
        await dashboard.broadcast({"type": "device", "device": json_row(found[0])})


async def live(request: web.Request) -> web.StreamResponse:
    """The WebSocket of live updates (same-origin pages only)."""
    origin = request.headers.get("Origin")
    if origin is not None and origin.split("://", 1)[-1] != request.host:
        raise ApiError(403, "cross-origin WebSocket refused")
    dashboard = request.app[DASHBOARD]
    ws = web.WebSocketResponse(heartbeat=30)
    await ws.prepare(request)
    dashboard.sockets.add(ws)
    try:
        await ws.send_str(json.dumps({"type": "hello", "username": request[SESSION].username}))
        async for message in ws:  # the client sends nothing; reading keeps the connection's state current
            if message.type == WSMsgType.ERROR:
                break
    finally:
        dashboard.sockets.discard(ws)
    return ws


async def close_sockets(app: web.Application) -> None:
    for ws in list(app[DASHBOARD].sockets):
        await ws.close(code=1001, message=b"server shutting down")
