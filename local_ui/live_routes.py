"""`GET /api/v1/live`: the WebSocket of the guards' screens (messages: vigia.local_ui.live).

Authentication is the session cookie, as for every route; a handshake whose `Origin` is not this
server is refused (cross-site WebSocket hijacking). The session is checked again every
SESSION_CHECK_S: a logged-out or expired session closes the socket (code 4401).
"""
from __future__ import annotations

import asyncio
import json
import logging
import time
from urllib.parse import urlsplit

from aiohttp import WSMsgType, web

from vigia.kit.http import ULID, ApiError, query_params
from vigia.local_ui import accounts
from vigia.local_ui.access_audit import record_access
from vigia.local_ui.camera_routes import camera_list
from vigia.local_ui.common import API, COOKIE, Api, require, row_json
from vigia.local_ui.live import FRAME_WIDTHS, Client

log = logging.getLogger(__name__)

SESSION_CHECK_S = 30.0
ALERTS_WINDOW_S = 24 * 3600.0   # unacknowledged alerts older than this are not pushed on connect
MAX_ALERTS = 50
MAX_MISSED = 200
MAX_WATCHED = 64


def add_routes(app: web.Application) -> None:
    app.router.add_get("/api/v1/live", live, allow_head=False)


def _same_origin(request: web.Request) -> bool:
    origin = request.headers.get("Origin")
    if origin is None:  # not a browser: the cookie is the proof
        return True
    return urlsplit(origin).netloc.lower() == request.host.lower()


def _hello(db, after: str | None) -> dict:
    alerts = db.query("select * from events where alert = 1 and acknowledged_at is null and started_at >= ? "
                      "order by started_at desc limit ?", [time.time() - ALERTS_WINDOW_S, MAX_ALERTS])
    missed = db.query("select * from events where id > ? order by id limit ?", [after, MAX_MISSED]) if after else []
    return {"alerts": [row_json(r) for r in alerts], "missed": [row_json(r) for r in missed]}


async def live(request: web.Request) -> web.StreamResponse:
    api = request.app[API]
    session = require(request)
    if not _same_origin(request):
        raise ApiError(403, "WebSocket from another origin refused")
    after = query_params(request, {"after"}).get("after")
    if after is not None and not ULID.fullmatch(after):
        raise ApiError(400, "after must be an event id")
    ws = web.WebSocketResponse(heartbeat=20, max_msg_size=16 * 1024)
    await ws.prepare(request)
    hub = api.hub
    client = Client(socket=ws)
    hub.add(client)  # before the database is read: nothing falls between the two
    watched: set[str] = set()
    began = time.time()
    reader = asyncio.create_task(_read(ws, api, client, lambda cameras: _watching(request, session.username, watched,
                                                                                  cameras)))
    try:
        hello = await api.db(_hello, after)
        await ws.send_json({"type": "hello", "cameras": camera_list(api), **hello})
        await _send_loop(ws, api, client, request.cookies.get(COOKIE), reader)
    except (ConnectionResetError, asyncio.CancelledError):
        pass
    finally:
        reader.cancel()
        hub.remove(client)
        if watched:
            await record_access(request, session.username, "live_view_end", None,
                                {"cameras": sorted(watched), "seconds": round(time.time() - began, 1)})
        if not ws.closed:
            await ws.close()
    return ws


async def _send_loop(ws: web.WebSocketResponse, api: Api, client: Client, token: str | None,
                     reader: asyncio.Task) -> None:
    hub = api.hub
    next_check = time.monotonic() + SESSION_CHECK_S
    while not ws.closed and not reader.done():
        try:
            await asyncio.wait_for(client.wake.wait(), timeout=max(0.0, next_check - time.monotonic()))
        except asyncio.TimeoutError:
            pass
        client.wake.clear()
        if time.monotonic() >= next_check:
            next_check = time.monotonic() + SESSION_CHECK_S
            if await api.db(accounts.session_for, token, api.sessions) is None:
                await ws.close(code=4401, message=b"session ended")
                return
        if client.overflowed:
            log.warning("a live client fell too far behind: disconnected (it catches up when it reconnects)")
            await ws.close(code=4408, message=b"too slow: reconnect")
            return
        while not client.messages.empty():
            await ws.send_str(client.messages.get_nowait())
        for camera, frame in hub.due_frames(client):
            data = await hub.frame_message(camera, frame, client.view)
            client.sent[camera] = frame.seq
            await ws.send_bytes(data)


async def _watching(request: web.Request, username: str, watched: set[str], cameras: list[str]) -> None:
    """Audit the cameras a live session starts watching (each once per session)."""
    new = sorted(set(cameras) - watched)
    if new:
        watched.update(new)
        await record_access(request, username, "live_view", ",".join(new), {"cameras": new})


async def _read(ws: web.WebSocketResponse, api: Api, client: Client, on_watch) -> None:
    """Messages from the browser: only `watch` (which cameras' frames to send, at which size)."""
    known = {c.name for c in api.config.cameras}
    try:
        await _read_messages(ws, api, client, known, on_watch)
    finally:
        client.wake.set()  # the send loop ends with the connection


async def _read_messages(ws: web.WebSocketResponse, api: Api, client: Client, known: set[str], on_watch) -> None:
    async for message in ws:
        if message.type != WSMsgType.TEXT:
            continue
        try:
            request = json.loads(message.data)
            if not isinstance(request, dict) or request.get("type") != "watch":
                raise ValueError('send {"type": "watch", "cameras": [...], "size": "grid"|"full"}')
            cameras, size = request.get("cameras", []), request.get("size", "grid")
            if not isinstance(cameras, list) or len(cameras) > MAX_WATCHED or not all(c in known for c in cameras):
                raise ValueError(f"cameras must be a list of at most {MAX_WATCHED} camera names")
            if size not in FRAME_WIDTHS:
                raise ValueError(f"size must be one of {', '.join(FRAME_WIDTHS)}")
        except ValueError as exc:  # json.JSONDecodeError included
            await ws.send_json({"type": "error", "error": str(exc)})
            continue
        await on_watch(cameras)
        api.hub.watch(client, cameras, size)
