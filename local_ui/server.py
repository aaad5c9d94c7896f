"""The guards' API: an aiohttp application over the appliance's database and media (`/api/v1/`).

Security properties (the tests in tests/test_local_api.py check each):
- Every route but `/healthz`, `/metrics` and `POST /api/v1/login` needs a live session (401).
- The session is the `vigia_session` cookie (HttpOnly, Secure, SameSite=Strict, Path=/); login
  always issues a new one and ends the one presented.
- Every state-changing request (POST, PUT, PATCH, DELETE) but login carries `X-CSRF-Token`, the
  session's token that login (and `GET /api/v1/me`) returns (403 otherwise); JSON bodies must be
  `application/json` (415), which a cross-site form cannot send.
- Roles: guard < installer < admin (403 below the route's role).
- Bad input is a 400 with a message, never a 500. Path parameters are event ids looked up in the
  database, never parts of a file path; media paths from the database must stay inside the data
  directory.
- Every change is written to the audit log. Tokens, passwords and keys are never logged.
- Clips are served with HTTP range requests, decrypting only the 64 KiB chunks a range touches.
"""
from __future__ import annotations

import asyncio
import hmac
import ipaddress
import logging
import math
import os
import re
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any, Protocol, TypeVar

from aiohttp import web
from prometheus_client import CONTENT_TYPE_LATEST

from vigia.appliance.config import Config, Record
from vigia.appliance.encryption import EncryptedReader, MediaCryptoError, load_or_create_key, open_media
from vigia.appliance.events import Event
from vigia.appliance.export import ExportError, event_clip
from vigia.appliance.storage import connect, list_events
from vigia.local_ui import accounts
from vigia.local_ui.openapi import openapi_document

log = logging.getLogger(__name__)

COOKIE = "vigia_session"
CSRF_HEADER = "X-CSRF-Token"
MAX_BODY = 64 * 1024            # bytes of a request body
MAX_EVENTS = 200                # events per page
MAX_AUDIT = 500                 # audit entries per page
PIECE = 256 * 1024              # bytes of a clip read and sent at a time
LOGIN_SLOTS = 2                 # password checks at once (16 MiB of scrypt each)
EVENT_ID = re.compile(r"^[0-9A-Z]{26}$")  # a ULID
PUBLIC = frozenset({("GET", "/healthz"), ("GET", "/metrics"), ("POST", "/api/v1/login")})
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS", "TRACE"})

T = TypeVar("T")


class ApplianceView(Protocol):
    """What the API needs of the running appliance (`vigia.appliance.runtime.Appliance`)."""

    def camera_states(self) -> dict[str, dict]: ...

    def metrics_exposition(self) -> bytes: ...

    def media_integrity_error(self) -> None: ...


@dataclass
class Api:
    """Per-application state: no module-level mutable state."""

    appliance: ApplianceView
    config: Config
    key: bytes | None = field(repr=False)
    sessions: accounts.SessionPolicy
    logins: accounts.LoginPolicy
    clip_lock: asyncio.Lock = field(default_factory=asyncio.Lock)  # one clip assembled at a time
    login_slots: asyncio.Semaphore = field(default_factory=lambda: asyncio.Semaphore(LOGIN_SLOTS))

    async def db(self, fn: Callable[..., T], *args: Any, **kwargs: Any) -> T:
        """`fn(db, *args, **kwargs)` on a connection of its own, in a worker thread."""
        def run() -> T:
            db = connect(self.config.storage.database)
            try:
                return fn(db, *args, **kwargs)
            finally:
                db.conn.close()
        return await asyncio.to_thread(run)


API = web.AppKey("vigia_api", Api)
SESSION = web.RequestKey("vigia_session", accounts.Session)


class ApiError(Exception):
    """An error answer: status, message for the client, extra headers."""

    def __init__(self, status: int, message: str, headers: dict[str, str] | None = None):
        super().__init__(message)
        self.status = status
        self.message = message
        self.headers = headers or {}


def create_app(appliance: ApplianceView, config: Config) -> web.Application:
    """The appliance's HTTP application: the guards' API, `/healthz` and `/metrics`."""
    http, storage = config.http, config.storage
    key = load_or_create_key(storage.media_key) if storage.encrypt or storage.media_key.exists() else None
    api = Api(appliance, config, key,
              accounts.SessionPolicy(max_age=http.session_max_age, idle=http.session_idle),
              accounts.LoginPolicy(max_failures=http.login_max_failures, lockout=http.login_lockout,
                                   remote_max_failures=http.login_remote_max_failures))
    app = web.Application(middlewares=[_errors, _authenticate], client_max_size=MAX_BODY)
    app[API] = api
    app.on_response_prepare.append(_security_headers)
    routes = app.router
    routes.add_get("/healthz", healthz, allow_head=False)
    routes.add_get("/metrics", metrics, allow_head=False)
    routes.add_post("/api/v1/login", login)
    routes.add_post("/api/v1/logout", logout)
    routes.add_get("/api/v1/me", me, allow_head=False)
    routes.add_get("/api/v1/events", events, allow_head=False)
    routes.add_get("/api/v1/events/{id}", event, allow_head=False)
    routes.add_post("/api/v1/events/{id}/keep", keep_event)
    routes.add_get("/api/v1/events/{id}/snapshot", snapshot, allow_head=False)
    routes.add_get("/api/v1/events/{id}/clip", clip, allow_head=False)
    routes.add_get("/api/v1/cameras", cameras, allow_head=False)
    routes.add_get("/api/v1/users", users, allow_head=False)
    routes.add_post("/api/v1/users", create_user)
    routes.add_get("/api/v1/audit", audit_log, allow_head=False)
    routes.add_get("/api/v1/openapi.json", openapi, allow_head=False)
    return app


# -- middleware -------------------------------------------------------------------------------


def _json_error(status: int, message: str, headers: dict[str, str] | None = None) -> web.Response:
    return web.json_response({"error": message}, status=status, headers=headers)


@web.middleware
async def _errors(request: web.Request, handler) -> web.StreamResponse:
    """Every error as JSON `{"error": ...}`; an unexpected one is logged and answered 500 without details."""
    try:
        return await handler(request)
    except ApiError as exc:
        return _json_error(exc.status, exc.message, exc.headers)
    except web.HTTPException as exc:
        if exc.status < 400:
            raise
        keep = {name: value for name, value in exc.headers.items() if name in ("Allow", "Retry-After")}
        return _json_error(exc.status, exc.reason, keep)
    except (asyncio.CancelledError, ConnectionResetError):
        raise
    except Exception:
        log.exception("%s %s failed", request.method, request.rel_url.path)
        return _json_error(500, "internal error (see the appliance log)")


@web.middleware
async def _authenticate(request: web.Request, handler) -> web.StreamResponse:
    """Session (401) and CSRF token (403) for everything but the public routes."""
    resource = request.match_info.route.resource
    if (request.method, resource.canonical if resource is not None else None) in PUBLIC:
        return await handler(request)
    api = request.app[API]
    session = await api.db(accounts.session_for, request.cookies.get(COOKIE), api.sessions)
    if session is None:
        raise ApiError(401, "login required")
    if request.method not in SAFE_METHODS:
        sent = request.headers.get(CSRF_HEADER, "")
        if not hmac.compare_digest(sent.encode("utf-8", "replace"), session.csrf_token.encode()):
            raise ApiError(403, f"missing or wrong {CSRF_HEADER} header")
    request[SESSION] = session
    return await handler(request)


async def _security_headers(request: web.Request, response: web.StreamResponse) -> None:
    headers = response.headers
    headers.setdefault("X-Content-Type-Options", "nosniff")
    headers.setdefault("X-Frame-Options", "DENY")
    headers.setdefault("Referrer-Policy", "no-referrer")
    headers.setdefault("Content-Security-Policy", "default-src 'none'; frame-ancestors 'none'")
    if request.path.startswith("/api/"):
        headers.setdefault("Cache-Control", "no-store")


# -- helpers ----------------------------------------------------------------------------------


def _session(request: web.Request, role: str = "guard") -> accounts.Session:
    session = request[SESSION]
    if not accounts.role_allows(session.role, role):
        raise ApiError(403, f"this needs the {role} role")
    return session


def _remote(request: web.Request) -> str | None:
    """The client's address; a trusted proxy's X-Forwarded-For (last entry) names it."""
    peer = request.remote
    if peer is not None and peer in request.app[API].config.http.trusted_proxies:
        forwarded = request.headers.get("X-Forwarded-For", "").split(",")[-1].strip()
        try:
            return str(ipaddress.ip_address(forwarded))
        except ValueError:
            pass
    return peer


async def _json_body(request: web.Request, *, required: bool) -> dict:
    if not request.can_read_body:
        if required:
            raise ApiError(400, "a JSON object body is required")
        return {}
    if request.content_type != "application/json":
        raise ApiError(415, "send the body as application/json")
    try:
        body = await request.json()
    except ValueError:  # JSONDecodeError, UnicodeDecodeError
        raise ApiError(400, "the body is not valid JSON") from None
    if not isinstance(body, dict):
        raise ApiError(400, "the body must be a JSON object")
    return body


def _only(mapping, allowed: set[str], what: str) -> None:
    unknown = sorted(set(mapping) - allowed)
    if unknown:
        raise ApiError(400, f"unknown {what} {', '.join(map(repr, unknown))} (known: {', '.join(sorted(allowed))})")


def _query(request: web.Request, allowed: set[str]) -> dict[str, str]:
    query = request.query
    _only(query, allowed, "query parameter")
    for name in query:
        if len(query.getall(name)) > 1:
            raise ApiError(400, f"query parameter {name!r} given more than once")
    return dict(query)


def _int(query: dict[str, str], name: str, default: int | None, low: int, high: int) -> int | None:
    text = query.get(name)
    if text is None:
        return default
    if not re.fullmatch(r"\d{1,12}", text) or not low <= int(text) <= high:
        raise ApiError(400, f"{name} must be a whole number from {low} to {high}")
    return int(text)


def _time(query: dict[str, str], name: str) -> float | None:
    """Epoch seconds, or ISO 8601 with a UTC offset."""
    text = query.get(name)
    if text is None:
        return None
    try:
        value = float(text)
    except ValueError:
        try:
            when = datetime.fromisoformat(text)
        except ValueError:
            raise ApiError(400, f"{name} must be epoch seconds or ISO 8601 with an offset (2026-11-25T14:30:00+01:00)") from None
        if when.tzinfo is None:
            raise ApiError(400, f"{name}: give the UTC offset (2026-11-25T14:30:00Z or +01:00)")
        value = when.timestamp()
    if not math.isfinite(value):
        raise ApiError(400, f"{name} must be a finite number")
    return value


def _text(query: dict[str, str], name: str) -> str | None:
    text = query.get(name)
    if text is not None and not 1 <= len(text) <= 64:
        raise ApiError(400, f"{name} must be 1 to 64 characters")
    return text


def _event_id(request: web.Request) -> str:
    event_id = request.match_info["id"]
    if not EVENT_ID.fullmatch(event_id):
        raise ApiError(400, "not an event id (26 characters, digits and capital letters)")
    return event_id


def _media_path(api: Api, stored: str | os.PathLike) -> Path:
    """A media file named in the database, refused if it lies outside the data directory."""
    root = api.config.storage.data_dir.resolve()
    path = (root / stored).resolve()
    if not path.is_relative_to(root):
        log.error("refused a media path outside the data directory: %s", stored)
        raise ApiError(404, "media not found")
    return path


def _event_json(event: Event, keep: bool) -> dict:
    base = f"/api/v1/events/{event.id}"
    return {
        "id": event.id, "camera": event.camera, "rule": event.rule, "kind": event.kind, "zone": event.zone,
        "label": event.label, "track_id": event.track_id, "start": event.start, "end": event.end,
        "started_at": event.started_at, "ended_at": event.ended_at, "max_score": event.max_score,
        "box": list(event.box), "alert": event.alert, "path": [list(p) for p in event.path],
        "attributes": event.attributes, "keep": keep,
        "snapshot_url": f"{base}/snapshot" if event.snapshot else None, "clip_url": f"{base}/clip",
    }


def _session_json(session: accounts.Session) -> dict:
    return {"username": session.username, "role": session.role, "csrf_token": session.csrf_token,
            "expires_at": session.expires_at}


# -- public routes ----------------------------------------------------------------------------


async def healthz(request: web.Request) -> web.Response:
    return web.json_response({"status": "ok", "cameras": request.app[API].appliance.camera_states()})


async def metrics(request: web.Request) -> web.Response:
    return web.Response(body=request.app[API].appliance.metrics_exposition(),
                        headers={"Content-Type": CONTENT_TYPE_LATEST})


async def login(request: web.Request) -> web.Response:
    api = request.app[API]
    body = await _json_body(request, required=True)
    _only(body, {"username", "password"}, "field")
    username, password = body.get("username"), body.get("password")
    if not isinstance(username, str) or not isinstance(password, str) or not username or not password:
        raise ApiError(400, "give username and password, both strings")
    if len(username) > 64 or len(password) > accounts.MAX_PASSWORD:
        raise ApiError(400, "username or password too long")
    remote = _remote(request)
    async with api.login_slots:
        outcome = await api.db(accounts.login, username, password, remote, logins=api.logins,
                               sessions=api.sessions, replaces=request.cookies.get(COOKIE))
    if outcome.status == "invalid":
        log.info("failed login from %s", remote)
        raise ApiError(401, "wrong username or password")
    if outcome.status != "ok":
        log.warning("login refused from %s: %s", remote, outcome.status)
        raise ApiError(429, "too many failed logins: try again later",
                       {"Retry-After": str(math.ceil(outcome.retry_after or api.logins.lockout))})
    log.info("%s logged in from %s", outcome.session.username, remote)
    response = web.json_response(_session_json(outcome.session))
    response.set_cookie(COOKIE, outcome.token, max_age=int(api.sessions.max_age), path="/",
                        secure=True, httponly=True, samesite="Strict")
    return response


# -- session routes ---------------------------------------------------------------------------


async def logout(request: web.Request) -> web.Response:
    api = request.app[API]
    session = _session(request)
    await api.db(accounts.logout, session, _remote(request))
    response = web.json_response({"logged_out": True})
    response.del_cookie(COOKIE, path="/", secure=True, httponly=True, samesite="Strict")
    return response


async def me(request: web.Request) -> web.Response:
    return web.json_response(_session_json(_session(request)))


async def events(request: web.Request) -> web.Response:
    """Newest first; the next page is `until` = the last event's `started_at` (`next`)."""
    api = request.app[API]
    _session(request)
    query = _query(request, {"camera", "label", "since", "until", "limit"})
    camera, label = _text(query, "camera"), _text(query, "label")
    since, until = _time(query, "since"), _time(query, "until")
    limit = _int(query, "limit", 50, 1, MAX_EVENTS)

    def read(db) -> tuple[list[Event], dict[str, int]]:
        found = list_events(db, camera=camera, label=label, since=since, until=until, limit=limit)
        ids = [e.id for e in found]
        keeps = dict(db.execute(f"select id, keep from events where id in ({', '.join('?' * len(ids))})", ids)) if ids else {}
        return found, keeps

    found, keeps = await api.db(read)
    page = {"events": [_event_json(e, bool(keeps.get(e.id))) for e in found],
            "next": {"until": found[-1].started_at} if len(found) == limit else None}
    return web.json_response(page)


async def event(request: web.Request) -> web.Response:
    api = request.app[API]
    _session(request)
    event_id = _event_id(request)
    rows = await api.db(lambda db: list(db.query("select * from events where id = ?", [event_id])))
    if not rows:
        raise ApiError(404, f"no event {event_id}")
    return web.json_response(_event_json(Event.from_row(rows[0]), bool(rows[0]["keep"])))


async def keep_event(request: web.Request) -> web.Response:
    """Mark an event kept (legal hold: retention never deletes it or its footage) or not."""
    api = request.app[API]
    session = _session(request, "guard")
    event_id = _event_id(request)
    body = await _json_body(request, required=False)
    _only(body, {"keep"}, "field")
    keep = body.get("keep", True)
    if not isinstance(keep, bool):
        raise ApiError(400, "keep must be true or false")
    remote = _remote(request)

    def mark(db) -> bool:
        with db.atomic():
            row = db.execute("select keep from events where id = ?", [event_id]).fetchone()
            if row is None:
                return False
            db.execute("update events set keep = ? where id = ?", [int(keep), event_id])
            accounts.audit(db, "event_keep" if keep else "event_unkeep", username=session.username,
                           target=event_id, remote=remote, details={"keep": keep, "was": bool(row[0])})
            return True

    if not await api.db(mark):
        raise ApiError(404, f"no event {event_id}")
    return web.json_response({"id": event_id, "keep": keep})


def _read_snapshot(path: Path, key: bytes | None) -> bytes:
    with open_media(path, key) as media:
        if isinstance(media, EncryptedReader) and not media.complete:
            raise MediaCryptoError(f"{path}: incomplete (a finished snapshot must be complete)")
        return media.read()


async def snapshot(request: web.Request) -> web.Response:
    api = request.app[API]
    _session(request)
    event_id = _event_id(request)
    row = await api.db(lambda db: db.execute("select snapshot from events where id = ?", [event_id]).fetchone())
    if row is None:
        raise ApiError(404, f"no event {event_id}")
    if not row[0]:
        raise ApiError(404, "this event has no snapshot")
    path = _media_path(api, row[0])
    try:
        data = await asyncio.to_thread(_read_snapshot, path, api.key)
    except FileNotFoundError:
        raise ApiError(404, "the snapshot file is gone (retention, or a crash before it was written)") from None
    except MediaCryptoError as exc:
        api.appliance.media_integrity_error()
        log.error("snapshot of event %s: %s", event_id, exc)
        raise ApiError(500, "the snapshot cannot be decrypted (damaged, or not this device's key)") from None
    return web.Response(body=data, content_type="image/jpeg")


def byte_range(header: str | None, size: int) -> tuple[int, int] | None:
    """[start, end) of a single `Range: bytes=...` header, None to send everything; ApiError 416 if unsatisfiable.

    Other units and multiple ranges are ignored (the whole file is sent, as RFC 9110 allows);
    a malformed bytes range is refused.
    """
    if header is None:
        return None
    unit, _, spec = header.partition("=")
    if unit.strip().lower() != "bytes" or "," in spec:
        return None
    match = re.fullmatch(r"\s*(\d*)\s*-\s*(\d*)\s*", spec)
    first, last = (match[1], match[2]) if match else ("", "")
    if first:
        start = int(first)
        end = size if not last else min(int(last) + 1, size)
        if start < size and (not last or int(last) >= start):
            return start, end
    elif last and int(last) > 0 and size > 0:
        return max(0, size - int(last)), size
    raise ApiError(416, f"range not satisfiable: the clip has {size} bytes", {"Content-Range": f"bytes */{size}"})


def _read_at(media, position: int, count: int) -> bytes:
    media.seek(position)
    return media.read(count)


async def clip(request: web.Request) -> web.StreamResponse:
    """The event's clip (pre- and post-roll included) as MP4, with range requests."""
    api = request.app[API]
    _session(request)
    event_id = _event_id(request)
    row = await api.db(lambda db: db.execute("select camera from events where id = ?", [event_id]).fetchone())
    if row is None:
        raise ApiError(404, f"no event {event_id}")
    record = next((c.record for c in api.config.cameras if c.name == row[0]), Record())
    storage = api.config.storage
    async with api.clip_lock:
        try:
            made = await asyncio.to_thread(event_clip, storage.database, storage.data_dir, api.key, event_id, record)
        except ExportError as exc:
            raise ApiError(404, str(exc)) from None
        except MediaCryptoError as exc:
            api.appliance.media_integrity_error()
            log.error("clip of event %s: %s", event_id, exc)
            raise ApiError(500, "the footage cannot be decrypted (damaged, or not this device's key)") from None
    path = _media_path(api, made)
    media = await asyncio.to_thread(open_media, path, api.key)
    try:
        size = media.size if isinstance(media, EncryptedReader) else os.fstat(media.fileno()).st_size
        # No validators are sent, so an If-Range can never match: the whole clip then (RFC 9110).
        span = byte_range(None if "If-Range" in request.headers else request.headers.get("Range"), size)
        start, end = span or (0, size)
        headers = {"Accept-Ranges": "bytes", "Content-Type": "video/mp4", "Content-Length": str(end - start),
                   "Content-Disposition": f'inline; filename="{event_id}.mp4"'}
        if span:
            headers["Content-Range"] = f"bytes {start}-{end - 1}/{size}"
        response = web.StreamResponse(status=206 if span else 200, headers=headers)
        await response.prepare(request)
        position = start
        while position < end:
            try:
                data = await asyncio.to_thread(_read_at, media, position, min(PIECE, end - position))
            except MediaCryptoError as exc:  # headers are sent: all that is left is to cut the connection
                api.appliance.media_integrity_error()
                log.error("clip of event %s: %s", event_id, exc)
                if request.transport is not None:
                    request.transport.close()
                return response
            await response.write(data)
            position += len(data)
        await response.write_eof()
        return response
    finally:
        media.close()


async def cameras(request: web.Request) -> web.Response:
    """The configured cameras and their connection states (never their URLs: they hold passwords)."""
    api = request.app[API]
    _session(request)
    states = api.appliance.camera_states()
    out = []
    for camera in api.config.cameras:
        state = states.get(camera.name) or {"state": "starting" if camera.enabled else "disabled",
                                            "since": None, "last_error": None, "last_frame_at": None}
        out.append({"name": camera.name, "enabled": camera.enabled, "recording": camera.record.mode, **state})
    return web.json_response({"cameras": out})


async def users(request: web.Request) -> web.Response:
    api = request.app[API]
    _session(request, "admin")
    now = time.time()
    found = await api.db(accounts.list_users)
    return web.json_response({"users": [
        {"username": u.username, "role": u.role, "created_at": u.created_at,
         "locked": u.locked_until is not None and u.locked_until > now} for u in found]})


async def create_user(request: web.Request) -> web.Response:
    api = request.app[API]
    session = _session(request, "admin")
    body = await _json_body(request, required=True)
    _only(body, {"username", "password", "role"}, "field")
    try:
        user = await api.db(accounts.add_user, body.get("username"), body.get("password"), body.get("role"),
                            actor=session.username, remote=_remote(request))
    except accounts.UserExists as exc:
        raise ApiError(409, str(exc)) from None
    except accounts.AccountError as exc:
        raise ApiError(400, str(exc)) from None
    log.info("%s created user %s (%s)", session.username, user.username, user.role)
    return web.json_response({"username": user.username, "role": user.role, "created_at": user.created_at}, status=201)


async def audit_log(request: web.Request) -> web.Response:
    """Newest first; the next page is `before` = the last entry's id."""
    api = request.app[API]
    _session(request, "admin")
    query = _query(request, {"limit", "before"})
    limit = _int(query, "limit", 100, 1, MAX_AUDIT)
    before = _int(query, "before", None, 1, 2**53)
    entries = await api.db(accounts.audit_entries, limit=limit, before=before)
    return web.json_response({"entries": entries,
                              "next": {"before": entries[-1]["id"]} if len(entries) == limit else None})


async def openapi(request: web.Request) -> web.Response:
    _session(request)
    return web.json_response(openapi_document())
