"""What every route of the guards' API shares: per-application state, errors, request parsing.

Request helpers raise `ApiError`, which the server's error middleware answers as
`{"error": message}` with the status: bad input is a 400 naming what is wrong, never a 500.
"""
from __future__ import annotations

import asyncio
import hmac
import ipaddress
import logging
import math
import os
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol, TypeVar

from aiohttp import web

from vigia.appliance.config import Camera, Config
from vigia.appliance.events import Event
from vigia.appliance.storage import database
from vigia.local_ui import accounts

if TYPE_CHECKING:
    from vigia.appliance.sinks import EventSink
    from vigia.local_ui.live import LiveHub

log = logging.getLogger(__name__)

COOKIE = "vigia_session"
CSRF_HEADER = "X-CSRF-Token"
MAX_BODY = 64 * 1024            # bytes of a request body
LOGIN_SLOTS = 2                 # password checks at once (16 MiB of scrypt each)
EVENT_ID = re.compile(r"^[0-9A-Z]{26}$")  # a ULID

T = TypeVar("T")


class ApplianceView(Protocol):
    """What the API needs of the running appliance (`vigia.app.appliance.Appliance`)."""

    def camera_states(self) -> dict[str, dict]: ...

    def metrics_exposition(self) -> bytes: ...

    def media_integrity_error(self) -> None: ...

    def flush_events(self) -> None: ...

    def add_sink(self, sink: EventSink) -> None: ...

    def remove_sink(self, sink: EventSink) -> None: ...

    def apply_layout(self, camera: str, layout: dict, username: str) -> dict: ...

    def add_camera(self, camera: Camera, username: str) -> None: ...


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
    hub: LiveHub | None = None  # set when the application starts (it needs the running loop)
    claimed: bool = False       # the device has an owner (vigia.local_ui.setup_routes.is_claimed)
    claim_failures: dict[str, list[float]] = field(default_factory=dict)  # remote -> wrong claim codes (monotonic)

    async def db(self, fn: Callable[..., T], *args: Any, **kwargs: Any) -> T:
        """`fn(db, *args, **kwargs)` on a connection of its own, in a worker thread."""
        def run() -> T:
            with database(self.config.storage.database) as db:
                return fn(db, *args, **kwargs)
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


def json_error(status: int, message: str, headers: dict[str, str] | None = None) -> web.Response:
    return web.json_response({"error": message}, status=status, headers=headers)


# -- helpers ----------------------------------------------------------------------------------


def require(request: web.Request, role: str = "guard") -> accounts.Session:
    session = request[SESSION]
    if not accounts.role_allows(session.role, role):
        raise ApiError(403, f"this needs the {role} role")
    return session


def remote_address(request: web.Request) -> str | None:
    """The client's address; a trusted proxy's X-Forwarded-For (last entry) names it."""
    peer = request.remote
    if peer is not None and peer in request.app[API].config.http.trusted_proxies:
        forwarded = request.headers.get("X-Forwarded-For", "").split(",")[-1].strip()
        try:
            return str(ipaddress.ip_address(forwarded))
        except ValueError:
            pass
    return peer


async def json_body(request: web.Request, *, required: bool) -> dict:
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


def only_fields(mapping, allowed: set[str], what: str) -> None:
    unknown = sorted(set(mapping) - allowed)
    if unknown:
        raise ApiError(400, f"unknown {what} {', '.join(map(repr, unknown))} (known: {', '.join(sorted(allowed))})")


def query_params(request: web.Request, allowed: set[str]) -> dict[str, str]:
    query = request.query
    only_fields(query, allowed, "query parameter")
    for name in query:
        if len(query.getall(name)) > 1:
            raise ApiError(400, f"query parameter {name!r} given more than once")
    return dict(query)


def int_param(query: dict[str, str], name: str, default: int | None, low: int, high: int) -> int | None:
    text = query.get(name)
    if text is None:
        return default
    if not re.fullmatch(r"\d{1,12}", text) or not low <= int(text) <= high:
        raise ApiError(400, f"{name} must be a whole number from {low} to {high}")
    return int(text)


def time_param(query: dict[str, str], name: str) -> float | None:
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
            raise ApiError(400, f"{name}: give the UTC offset (2026-11-25T14:30:00Z or +01:00)") from None
        value = when.timestamp()
    if not math.isfinite(value):
        raise ApiError(400, f"{name} must be a finite number")
    return value


def text_param(query: dict[str, str], name: str) -> str | None:
    text = query.get(name)
    if text is not None and not 1 <= len(text) <= 64:
        raise ApiError(400, f"{name} must be 1 to 64 characters")
    return text


def event_id_param(request: web.Request) -> str:
    event_id = request.match_info["id"]
    if not EVENT_ID.fullmatch(event_id):
        raise ApiError(400, "not an event id (26 characters, digits and capital letters)")
    return event_id


def media_path(api: Api, stored: str | os.PathLike) -> Path:
    """A media file named in the database, refused if it lies outside the data directory."""
    root = api.config.storage.data_dir.resolve()
    path = (root / stored).resolve()
    if not path.is_relative_to(root):
        log.error("refused a media path outside the data directory: %s", stored)
        raise ApiError(404, "media not found")
    return path


def event_json(event: Event, keep: bool = False, acknowledged_at: float | None = None,
               acknowledged_by: str | None = None) -> dict:
    base = f"/api/v1/events/{event.id}"
    return {
        "id": event.id, "camera": event.camera, "rule": event.rule, "kind": event.kind, "zone": event.zone,
        "label": event.label, "track_id": event.track_id, "start": event.start, "end": event.end,
        "started_at": event.started_at, "ended_at": event.ended_at, "max_score": event.max_score,
        "box": list(event.box), "alert": event.alert, "path": [list(p) for p in event.path],
        "attributes": event.attributes, "keep": keep,
        "acknowledged_at": acknowledged_at, "acknowledged_by": acknowledged_by,
        "snapshot_url": f"{base}/snapshot" if event.snapshot else None, "clip_url": f"{base}/clip",
    }


def row_json(row: dict) -> dict:
    """An `events` row as the API shows it."""
    return event_json(Event.from_row(row), bool(row["keep"]), row["acknowledged_at"], row["acknowledged_by"])


def session_json(session: accounts.Session) -> dict:
    return {"username": session.username, "role": session.role, "csrf_token": session.csrf_token,
            "expires_at": session.expires_at}


SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS", "TRACE"})


def check_csrf(request: web.Request, csrf_token: str) -> None:
    """A state-changing request must carry the session's token in X-CSRF-Token (403 otherwise)."""
    if request.method not in SAFE_METHODS:
        sent = request.headers.get(CSRF_HEADER, "")
        if not hmac.compare_digest(sent.encode("utf-8", "replace"), csrf_token.encode()):
            raise ApiError(403, f"missing or wrong {CSRF_HEADER} header")


def security_headers(api_prefix: str):
    """An on_response_prepare hook: no sniffing, no framing, no referrer, nothing loaded by an API
    answer (pages set their own Content-Security-Policy first), API answers never cached."""
    async def add(request: web.Request, response: web.StreamResponse) -> None:
        headers = response.headers
        headers.setdefault("X-Content-Type-Options", "nosniff")
        headers.setdefault("X-Frame-Options", "DENY")
        headers.setdefault("Referrer-Policy", "no-referrer")
        headers.setdefault("Content-Security-Policy", "default-src 'none'; frame-ancestors 'none'")
        if request.path.startswith(api_prefix):
            headers.setdefault("Cache-Control", "no-store")
    return add
