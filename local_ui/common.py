"""What every route of the guards' API shares: per-application state, the session, the guards' request helpers.

Errors and generic request parsing are the kit's (`vigia.kit.http`): helpers raise `ApiError`, which the
server's error middleware answers as `{"error": message}` with the status.
"""
from __future__ import annotations

import asyncio
import ipaddress
import logging
import os
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol, TypeVar

from aiohttp import web

from vigia.appliance.config import Camera, Config
from vigia.appliance.storage import database
from vigia.kit.http import ULID, ApiError, require_role
from vigia.local_ui import accounts
from vigia.scene.events import Event

if TYPE_CHECKING:
    from vigia.appliance.sinks import EventSink
    from vigia.local_ui.live import LiveHub

log = logging.getLogger(__name__)

COOKIE = "vigia_session"
MAX_BODY = 64 * 1024            # bytes of a request body
MAX_AUDIT = 500                 # audit entries per page
LOGIN_SLOTS = 2                 # password checks at once (16 MiB of scrypt each)

T = TypeVar("T")


class ApplianceView(Protocol):
    """What the API needs of the running appliance (`vigia.app.appliance.Appliance`)."""

    media_key: bytes | None  # reads media at rest (encrypted snapshots and footage)

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


# -- helpers ----------------------------------------------------------------------------------


def require(request: web.Request, role: str = "guard") -> accounts.Session:
    """The request's session if its role may do what `role` may (403 otherwise)."""
    return require_role(accounts.ROLES, request[SESSION], role)


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


def event_id_param(request: web.Request) -> str:
    event_id = request.match_info["id"]
    if not ULID.fullmatch(event_id):
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
            "expires_at": session.expires_at, "totp_enrolment_required": session.must_enrol_totp}

