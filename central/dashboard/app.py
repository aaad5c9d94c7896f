"""The fleet dashboard (`vigia central dashboard`): an aiohttp application over central's PostgreSQL.

    POST /dashboard/api/v1/login {"username", "password"}, POST logout, GET me
    GET  /dashboard/api/v1/devices                 every device: online, last seen, cameras' health, site
    PUT  /dashboard/api/v1/devices/{id}/site        {"site"} (operator)
    GET  /dashboard/api/v1/events?device&site&camera&label&since&until&page   50 a page, newest first
    GET  /dashboard/api/v1/events/{device}/{event}/thumbnail   the JPEG from the media bucket (when configured)
    GET  /dashboard/api/v1/counts?days             events per device (and its site) per UTC day
    GET  /dashboard/api/v1/users, POST users        (admin)
    GET  /dashboard/api/v1/live                     WebSocket: {"type": "events" | "device", ...}
    GET  /dashboard/api/v1/openapi.json             this API's OpenAPI document (`openapi.py`)
    GET  /dashboard/...                             the front end (central/web/dist)

Security as in the guards' UI (`vigia.local_ui.server`): every route but login and the front end's
files needs a session cookie (HttpOnly, Secure, SameSite=Strict) or is 401; state-changing requests
carry X-CSRF-Token (403); roles viewer < operator < admin (403); bad input is a 400 naming it. Logins: a
username locks after `max_failures` wrong passwords, a client address (the peer: no trusted proxies here) after
`remote_max_failures` failures in `remote_window` (429 with Retry-After; counted in PostgreSQL, every instance).

Live updates: the ingest NOTIFYs `vigia_ingest` when a batch commits (`vigia.central.ingest.batches`); each
dashboard instance LISTENs on a connection of its own, reads what the batch applied and pushes it to
its WebSockets, so every instance sees every device's events, whichever ingest instance took them.
"""
from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import json
import logging
import os
import re
import signal
import ssl
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

import psycopg
from aiohttp import WSMsgType, web
from botocore.exceptions import ClientError
from psycopg.rows import dict_row
from psycopg_pool import AsyncConnectionPool

from vigia.central.dashboard import accounts
from vigia.central.dashboard.openapi import serve_openapi
from vigia.central.dashboard.schema import migrate as migrate_dashboard
from vigia.central.ingest.batches import NOTIFY_CHANNEL
from vigia.central.ingest.schema import migrate as migrate_ingest
from vigia.local_ui.common import (
    EVENT_ID,
    ApiError,
    check_csrf,
    int_param,
    json_body,
    json_error,
    only_fields,
    query_params,
    security_headers,
    text_param,
    time_param,
)
from vigia.sync.protocol import DEVICE_ID_PATTERN, LATEST

if TYPE_CHECKING:
    from vigia.central.ingest.media import MediaSettings

log = logging.getLogger(__name__)

PREFIX = "/dashboard"
API_PREFIX = f"{PREFIX}/api/v1"
COOKIE = "vigia_dashboard_session"
PAGE = 50                        # events a page
MAX_BODY = 64 * 1024
DIST_ENV = "VIGIA_DASHBOARD_DIST"
SITE = re.compile(r"^[^\x00-\x1f]{1,64}$")
PUBLIC = frozenset({("POST", f"{API_PREFIX}/login"), ("GET", f"{PREFIX}/{{path}}"), ("GET", PREFIX)})
# The front end loads only from this origin (no inline script or style, no eval).
POLICY = ("default-src 'self'; img-src 'self'; connect-src 'self'; style-src 'self'; script-src 'self'; "
          "base-uri 'none'; form-action 'self'; frame-ancestors 'none'")

DEVICES_SQL = """
    SELECT d.device_id, s.site, left(d.identity_id, 8) AS short_id, d.high_water, d.enrolled_at, d.revoked_at,
           d.last_seen_at,
           coalesce(d.last_seen_at > now() - %(online)s, false) AS online,
           coalesce((SELECT jsonb_agg(r.body || jsonb_build_object('received_at', extract(epoch FROM r.received_at))
                                      ORDER BY r.key)
                     FROM device_records r WHERE r.device_id = d.device_id AND r.kind = 'camera_health'),
                    '[]'::jsonb) AS cameras,
           (SELECT r.body FROM device_records r WHERE r.device_id = d.device_id AND r.kind = 'metrics'
            ORDER BY r.received_at DESC, r.seq DESC LIMIT 1) AS metrics
    FROM devices d LEFT JOIN dashboard_device_sites s USING (device_id)
    WHERE %(device)s::text IS NULL OR d.device_id = %(device)s
    ORDER BY d.device_id"""

EVENT_COLUMNS = """e.device_id, s.site, e.event_id AS id, e.camera, e.rule, e.kind, e.zone, e.label, e.alert,
    e.max_score, extract(epoch FROM e.started_at) AS started_at, extract(epoch FROM e.ended_at) AS ended_at,
    extract(epoch FROM e.received_at) AS received_at, e.snapshot IS NOT NULL AS has_snapshot,
    EXISTS (SELECT 1 FROM media_objects m WHERE m.device_id = e.device_id AND m.event_id = e.event_id
            AND m.kind = 'thumbnail') AS has_thumbnail"""

EVENTS_SQL = f"""
    SELECT {EVENT_COLUMNS}
    FROM events e LEFT JOIN dashboard_device_sites s USING (device_id)
    WHERE (%(device)s::text IS NULL OR e.device_id = %(device)s)
      AND (%(site)s::text IS NULL OR s.site = %(site)s)
      AND (%(camera)s::text IS NULL OR e.camera = %(camera)s)
      AND (%(label)s::text IS NULL OR e.label = %(label)s)
      AND (%(since)s::float8 IS NULL OR e.started_at >= to_timestamp(%(since)s))
      AND (%(until)s::float8 IS NULL OR e.started_at < to_timestamp(%(until)s))
    ORDER BY e.started_at DESC, e.device_id, e.event_id
    LIMIT %(limit)s OFFSET %(offset)s"""

APPLIED_SQL = f"""
    SELECT {EVENT_COLUMNS}
    FROM events e LEFT JOIN dashboard_device_sites s USING (device_id)
    WHERE e.device_id = %s AND e.seq BETWEEN %s AND %s
    ORDER BY e.started_at DESC"""

COUNTS_SQL = """
    SELECT to_char(date_trunc('day', e.started_at AT TIME ZONE 'UTC'), 'YYYY-MM-DD') AS day, e.device_id, s.site,
           count(*) AS events, count(*) FILTER (WHERE e.alert) AS alerts
    FROM events e LEFT JOIN dashboard_device_sites s USING (device_id)
    WHERE e.started_at >= date_trunc('day', now() AT TIME ZONE 'UTC') AT TIME ZONE 'UTC' - %s
    GROUP BY 1, 2, 3 ORDER BY 1 DESC, 2"""


@dataclass(frozen=True)
class DashboardSettings:
    dsn: str
    online_minutes: float = 5.0     # a device seen (a batch applied) within this is online
    pool_size: int = 4
    sessions: accounts.SessionPolicy = field(default_factory=accounts.SessionPolicy)
    logins: accounts.LoginPolicy = field(default_factory=accounts.LoginPolicy)
    media: MediaSettings | None = None   # the bucket thumbnails are read from; None: no thumbnails


@dataclass
class Dashboard:
    """Per-application state."""

    settings: DashboardSettings
    pool: AsyncConnectionPool
    sockets: set[web.WebSocketResponse] = field(default_factory=set)
    login_slots: asyncio.Semaphore = field(default_factory=lambda: asyncio.Semaphore(2))  # scrypt: 16 MiB each
    s3: object | None = None  # boto3 S3 client, when settings.media is set

    async def broadcast(self, message: dict) -> None:
        text = json.dumps(message)
        for ws in list(self.sockets):
            with contextlib.suppress(ConnectionError, RuntimeError):
                await ws.send_str(text)


DASHBOARD = web.AppKey("vigia_dashboard", Dashboard)
SESSION = web.RequestKey("vigia_dashboard_session", accounts.Session)


def dist_dir() -> Path:
    return Path(os.environ.get(DIST_ENV) or Path(__file__).parents[1] / "web" / "dist")


def create_app(settings: DashboardSettings) -> web.Application:
    app = web.Application(middlewares=[_errors, _authenticate], client_max_size=MAX_BODY)
    app.on_response_prepare.append(security_headers(f"{PREFIX}/api/"))
    app.cleanup_ctx.append(_lifecycle(settings))
    app.on_shutdown.append(_close_sockets)
    r = app.router
    r.add_post(f"{API_PREFIX}/login", login)
    r.add_post(f"{API_PREFIX}/logout", logout)
    r.add_get(f"{API_PREFIX}/me", me, allow_head=False)
    r.add_get(f"{API_PREFIX}/devices", devices, allow_head=False)
    r.add_put(f"{API_PREFIX}/devices/{{device_id}}/site", set_site)
    r.add_get(f"{API_PREFIX}/events", events, allow_head=False)
    r.add_get(f"{API_PREFIX}/events/{{device_id}}/{{event_id}}/thumbnail", thumbnail, allow_head=False)
    r.add_get(f"{API_PREFIX}/counts", counts, allow_head=False)
    r.add_get(f"{API_PREFIX}/users", users, allow_head=False)
    r.add_post(f"{API_PREFIX}/users", create_user)
    r.add_get(f"{API_PREFIX}/live", live, allow_head=False)
    r.add_get(f"{API_PREFIX}/openapi.json", serve_openapi, allow_head=False)
    r.add_get(f"{PREFIX}/{{path:(?!api/).*}}", serve_file, allow_head=False)
    r.add_get(PREFIX, to_front_end, allow_head=False)
    return app


def _lifecycle(settings: DashboardSettings):
    async def lifecycle(app: web.Application):
        pool = AsyncConnectionPool(settings.dsn, min_size=1, max_size=settings.pool_size, open=False,
                                   kwargs={"autocommit": True})
        await pool.open(wait=True, timeout=30)
        async with pool.connection() as conn:
            await migrate_ingest(conn)
            await migrate_dashboard(conn)
        dashboard = app[DASHBOARD] = Dashboard(settings, pool)
        if settings.media is not None:
            from vigia.central.ingest.media import s3_client

            dashboard.s3 = s3_client(settings.media)
        listener = asyncio.create_task(_listen(dashboard))
        yield
        listener.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await listener
        await pool.close()
    return lifecycle


async def _close_sockets(app: web.Application) -> None:
    for ws in list(app[DASHBOARD].sockets):
        await ws.close(code=1001, message=b"server shutting down")


# -- live updates -----------------------------------------------------------------------------


async def _listen(dashboard: Dashboard) -> None:
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
    async with dashboard.pool.connection() as conn, conn.cursor(row_factory=dict_row) as cursor:
        await cursor.execute(APPLIED_SQL, [applied["device_id"], applied["first_seq"], applied["last_seq"]])
        new_events = await cursor.fetchall()
    if new_events:
        await dashboard.broadcast({"type": "events", "events": [_json_row(e) for e in new_events]})
    await _push_device(dashboard, applied["device_id"])


async def _push_device(dashboard: Dashboard, device_id: str) -> None:
    async with dashboard.pool.connection() as conn, conn.cursor(row_factory=dict_row) as cursor:
        await cursor.execute(DEVICES_SQL, _device_params(dashboard, device_id))
        device = await cursor.fetchone()
    if device is not None:
        await dashboard.broadcast({"type": "device", "device": _json_row(device)})


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


# -- middleware -------------------------------------------------------------------------------


@web.middleware
async def _errors(request: web.Request, handler) -> web.StreamResponse:
    """Every error as JSON `{"error": ...}`; an unexpected one is logged and answered 500 without details."""
    try:
        return await handler(request)
    except ApiError as exc:
        return json_error(exc.status, exc.message, exc.headers)
    except web.HTTPException as exc:
        if exc.status < 400:
            raise
        return json_error(exc.status, exc.reason, {k: v for k, v in exc.headers.items() if k == "Allow"})
    except (asyncio.CancelledError, ConnectionResetError):
        raise
    except Exception:
        log.exception("%s %s failed", request.method, request.rel_url.path)
        return json_error(500, "internal error (see the central log)")


@web.middleware
async def _authenticate(request: web.Request, handler) -> web.StreamResponse:
    """Session (401) and CSRF token (403) for everything but login and the front end's files."""
    resource = request.match_info.route.resource
    if resource is None or (request.method, resource.canonical) in PUBLIC:  # None: no route (404, 405)
        return await handler(request)
    dashboard = request.app[DASHBOARD]
    async with dashboard.pool.connection() as conn:
        session = await accounts.session_for(conn, request.cookies.get(COOKIE), dashboard.settings.sessions)
    if session is None:
        raise ApiError(401, "login required")
    check_csrf(request, session.csrf_token)
    request[SESSION] = session
    return await handler(request)


def require(request: web.Request, role: str = "viewer") -> accounts.Session:
    session = request[SESSION]
    if not accounts.role_allows(session.role, role):
        raise ApiError(403, f"this needs the {role} role")
    return session


def _session_json(session: accounts.Session) -> dict:
    return {"username": session.username, "role": session.role, "csrf_token": session.csrf_token,
            "expires_at": session.expires_at.timestamp()}


def _json_row(row: dict) -> dict:
    """A row as JSON: times as epoch seconds."""
    out = {}
    for key, value in row.items():
        if isinstance(value, dt.datetime):
            value = value.timestamp()
        elif hasattr(value, "is_finite"):  # Decimal from extract(epoch ...)
            value = float(value)
        out[key] = value
    return out


def _device_params(dashboard: Dashboard, device_id: str | None) -> dict:
    return {"online": dt.timedelta(minutes=dashboard.settings.online_minutes), "device": device_id}


# -- routes -----------------------------------------------------------------------------------


async def login(request: web.Request) -> web.Response:
    dashboard = request.app[DASHBOARD]
    body = await json_body(request, required=True)
    only_fields(body, {"username", "password"}, "field")
    username, password = body.get("username"), body.get("password")
    if not isinstance(username, str) or not isinstance(password, str) or not username or not password:
        raise ApiError(400, "give username and password, both strings")
    if len(username) > 64 or len(password) > 1024:
        raise ApiError(400, "username or password too long")
    # The peer itself: the dashboard has no trusted-proxy setting (behind a TLS proxy, that proxy's address).
    remote = request.remote
    async with dashboard.login_slots, dashboard.pool.connection() as conn:
        outcome = await accounts.login(conn, username, password, remote=remote, logins=dashboard.settings.logins,
                                       sessions=dashboard.settings.sessions, replaces=request.cookies.get(COOKIE))
    if outcome.status == "throttled":
        log.warning("dashboard login refused from %s: too many failures from that address", remote)
        raise ApiError(429, f"too many failed logins from your address: try again in {outcome.retry_after} s",
                       {"Retry-After": str(outcome.retry_after)})
    if outcome.status == "locked":
        log.warning("dashboard login refused from %s: locked", remote)
        raise ApiError(429, "too many failed logins: try again later",
                       {"Retry-After": str(int(dashboard.settings.logins.lockout))})
    if outcome.status != "ok":
        log.info("failed dashboard login from %s", remote)
        raise ApiError(401, "wrong username or password")
    log.info("%s logged in to the dashboard from %s", outcome.session.username, remote)
    response = web.json_response(_session_json(outcome.session))
    response.set_cookie(COOKIE, outcome.token, max_age=int(dashboard.settings.sessions.max_age), path=PREFIX,
                        secure=True, httponly=True, samesite="Strict")
    return response


async def logout(request: web.Request) -> web.Response:
    session = require(request)
    async with request.app[DASHBOARD].pool.connection() as conn:
        await accounts.logout(conn, session)
    response = web.json_response({"logged_out": True})
    response.del_cookie(COOKIE, path=PREFIX, secure=True, httponly=True, samesite="Strict")
    return response


async def me(request: web.Request) -> web.Response:
    return web.json_response(_session_json(require(request)))


async def devices(request: web.Request) -> web.Response:
    require(request)
    query_params(request, set())
    dashboard = request.app[DASHBOARD]
    async with dashboard.pool.connection() as conn, conn.cursor(row_factory=dict_row) as cursor:
        await cursor.execute(DEVICES_SQL, _device_params(dashboard, None))
        rows = await cursor.fetchall()
    return web.json_response({"devices": [_json_row(r) for r in rows],
                              "online_minutes": dashboard.settings.online_minutes})


async def set_site(request: web.Request) -> web.Response:
    session = require(request, "operator")
    device_id = request.match_info["device_id"]
    if not re.fullmatch(DEVICE_ID_PATTERN, device_id):
        raise ApiError(400, "not a device id (lower-case letters, digits and -)")
    body = await json_body(request, required=True)
    only_fields(body, {"site"}, "field")
    site = body.get("site")
    if not isinstance(site, str) or not SITE.fullmatch(site):
        raise ApiError(400, "site must be 1 to 64 characters, no control characters")
    dashboard = request.app[DASHBOARD]
    async with dashboard.pool.connection() as conn:
        cursor = await conn.execute(
            "INSERT INTO dashboard_device_sites (device_id, site) SELECT device_id, %s FROM devices"
            " WHERE device_id = %s ON CONFLICT (device_id) DO UPDATE SET site = excluded.site", [site, device_id])
        if cursor.rowcount == 0:
            raise ApiError(404, f"no device {device_id!r}")
    log.info("%s put device %s in site %r", session.username, device_id, site)
    await _push_device(dashboard, device_id)  # this instance's WebSockets; others see it on their next load
    return web.json_response({"device_id": device_id, "site": site})


async def events(request: web.Request) -> web.Response:
    """Newest first, `PAGE` a page; `next_page` is null on the last."""
    require(request)
    query = query_params(request, {"device", "site", "camera", "label", "since", "until", "page"})
    params = {name: text_param(query, name) for name in ("device", "site", "camera", "label")}
    params.update(since=time_param(query, "since"), until=time_param(query, "until"), limit=PAGE + 1)
    for name in ("since", "until"):
        if params[name] is not None and not 0 <= params[name] <= LATEST:
            raise ApiError(400, f"{name} must lie between 1970 and 2200")
    page = int_param(query, "page", 0, 0, 10_000)
    params["offset"] = page * PAGE
    async with request.app[DASHBOARD].pool.connection() as conn, conn.cursor(row_factory=dict_row) as cursor:
        await cursor.execute(EVENTS_SQL, params)
        rows = await cursor.fetchall()
    return web.json_response({"events": [_json_row(r) for r in rows[:PAGE]],
                              "next_page": page + 1 if len(rows) > PAGE else None})


async def thumbnail(request: web.Request) -> web.Response:
    """An event's thumbnail, read from the bucket: only objects central checked and recorded (media_objects)."""
    require(request)
    device_id, event_id = request.match_info["device_id"], request.match_info["event_id"]
    if not re.fullmatch(DEVICE_ID_PATTERN, device_id):
        raise ApiError(400, "not a device id (lower-case letters, digits and -)")
    if not EVENT_ID.fullmatch(event_id):
        raise ApiError(400, "not an event id (26 characters, digits and capital letters)")
    dashboard = request.app[DASHBOARD]
    if dashboard.s3 is None:
        raise ApiError(404, "no media bucket is configured (vigia central dashboard --bucket)")
    async with dashboard.pool.connection() as conn:
        cursor = await conn.execute("SELECT key FROM media_objects WHERE device_id = %s AND event_id = %s"
                                    " AND kind = 'thumbnail'", [device_id, event_id])
        row = await cursor.fetchone()
    if row is None:
        raise ApiError(404, "this event has no thumbnail")

    def read() -> bytes:
        return dashboard.s3.get_object(Bucket=dashboard.settings.media.bucket, Key=row[0])["Body"].read()

    try:
        body = await asyncio.to_thread(read)
    except ClientError as exc:
        if exc.response.get("Error", {}).get("Code") in ("NoSuchKey", "404"):
            raise ApiError(404, "the thumbnail has left the bucket (expired)") from None
        raise
    return web.Response(body=body, content_type="image/jpeg", headers={"Cache-Control": "private, max-age=86400"})


async def counts(request: web.Request) -> web.Response:
    """Events (and alerts) per device per UTC day, today and the `days` - 1 before."""
    require(request)
    days = int_param(query_params(request, {"days"}), "days", 7, 1, 366)
    async with request.app[DASHBOARD].pool.connection() as conn, conn.cursor(row_factory=dict_row) as cursor:
        await cursor.execute(COUNTS_SQL, [dt.timedelta(days=days - 1)])
        rows = await cursor.fetchall()
    return web.json_response({"days": days, "counts": rows})


async def users(request: web.Request) -> web.Response:
    require(request, "admin")
    async with request.app[DASHBOARD].pool.connection() as conn:
        return web.json_response({"users": await accounts.list_users(conn)})


async def create_user(request: web.Request) -> web.Response:
    session = require(request, "admin")
    body = await json_body(request, required=True)
    only_fields(body, {"username", "password", "role"}, "field")
    try:
        async with request.app[DASHBOARD].pool.connection() as conn:
            await accounts.add_user(conn, body.get("username"), body.get("password"), body.get("role"))
    except accounts.UserExists as exc:
        raise ApiError(409, str(exc)) from None
    except accounts.AccountError as exc:
        raise ApiError(400, str(exc)) from None
    log.info("%s created dashboard user %s (%s)", session.username, body["username"], body["role"])
    return web.json_response({"username": body["username"], "role": body["role"]}, status=201)


async def to_front_end(_request: web.Request) -> web.Response:
    raise web.HTTPFound(f"{PREFIX}/")


async def serve_file(request: web.Request) -> web.StreamResponse:
    """The front end's files; any other path gets index.html (the app routes on the client)."""
    root = dist_dir().resolve()
    index = root / "index.html"
    if not index.is_file():
        return web.Response(status=503, text="The dashboard is not built: run `make dashboard`.\n",
                            headers={"Content-Security-Policy": POLICY})
    wanted = (root / request.match_info["path"]).resolve()
    if not wanted.is_relative_to(root) or not wanted.is_file():
        wanted = index
    cache = "public, max-age=31536000, immutable" if wanted.parent.name == "assets" else "no-cache"
    return web.FileResponse(wanted, headers={"Cache-Control": cache, "Content-Security-Policy": POLICY})


async def serve(settings: DashboardSettings, host: str, port: int, tls: ssl.SSLContext | None = None) -> None:
    """Serve until SIGTERM or SIGINT (HTTPS when `tls` is given, else plain HTTP behind a TLS proxy)."""
    runner = web.AppRunner(create_app(settings), access_log=None)
    await runner.setup()
    await web.TCPSite(runner, host, port, ssl_context=tls).start()
    log.info("dashboard listening on %s://%s:%d%s/", "https" if tls else "http", host, port, PREFIX)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    try:
        await stop.wait()
    finally:
        await runner.cleanup()
