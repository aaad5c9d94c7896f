"""What every route of the fleet dashboard shares: its settings, per-application state, the session, rows as JSON."""
from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from aiohttp import web
from psycopg_pool import AsyncConnectionPool

from vigia.central.dashboard import accounts
from vigia.kit.http import require_role

if TYPE_CHECKING:
    from vigia.central.dashboard.sso import RelyingParty
    from vigia.central.dashboard.sso_config import SsoSettings
    from vigia.central.ingest.media import MediaSettings

PREFIX = "/dashboard"
API_PREFIX = f"{PREFIX}/api/v1"
COOKIE = "vigia_dashboard_session"
MAX_BODY = 64 * 1024
LOGIN_SLOTS = 2                  # password checks at once (scrypt: 16 MiB each)


@dataclass(frozen=True)
class DashboardSettings:
    dsn: str
    online_minutes: float = 5.0     # a device seen (a batch applied) within this is online
    pool_size: int = 4
    sessions: accounts.SessionPolicy = field(default_factory=accounts.SessionPolicy)
    logins: accounts.LoginPolicy = field(default_factory=accounts.LoginPolicy)
    media: MediaSettings | None = None   # the bucket thumbnails are read from; None: no thumbnails
    read_dsn: str | None = None     # the event list and counts may read a hot standby (prefer-standby); None: dsn
    sso: SsoSettings | None = None  # OpenID Connect single sign-on (vigia.central.dashboard.sso); None: passwords only
    admin_totp: bool = False        # admins must have a TOTP second factor (a session of one without it may only enrol)
    model_signing_dir: Path | None = None  # central's CA folder (its model-signing.key): admins approve models; None: not


@dataclass
class Dashboard:
    """Per-application state."""

    settings: DashboardSettings
    pool: AsyncConnectionPool
    sockets: set[web.WebSocketResponse] = field(default_factory=set)
    login_slots: asyncio.Semaphore = field(default_factory=lambda: asyncio.Semaphore(LOGIN_SLOTS))
    s3: object | None = None  # boto3 S3 client, when settings.media is set
    read_pool: AsyncConnectionPool | None = None  # for read-only pages, when settings.read_dsn is set
    sso: RelyingParty | None = None  # when settings.sso is set

    @property
    def reads(self) -> AsyncConnectionPool:
        """The pool of read-only pages: the standby's when there is one (a moment behind the primary)."""
        return self.read_pool or self.pool

    @property
    def online_within(self) -> dt.timedelta:
        return dt.timedelta(minutes=self.settings.online_minutes)

    async def broadcast(self, message: dict) -> None:
        text = json.dumps(message)
        for ws in list(self.sockets):
            with contextlib.suppress(ConnectionError, RuntimeError):
                await ws.send_str(text)


DASHBOARD = web.AppKey("vigia_dashboard", Dashboard)
SESSION = web.RequestKey("vigia_dashboard_session", accounts.Session)


def require(request: web.Request, role: str = "viewer") -> accounts.Session:
    """The request's session if its role may do what `role` may (403 otherwise)."""
    return require_role(accounts.ROLES, request[SESSION], role)


def session_json(session: accounts.Session) -> dict:
    return {"username": session.username, "role": session.role, "csrf_token": session.csrf_token,
            "expires_at": session.expires_at.timestamp(), "totp_enrolment_required": session.must_enrol_totp}


def json_row(row: dict) -> dict:
    """A row as JSON: times as epoch seconds."""
    out = {}
    for key, value in row.items():
        if isinstance(value, dt.datetime):
            value = value.timestamp()
        elif hasattr(value, "is_finite"):  # Decimal from extract(epoch ...)
            value = float(value)
        out[key] = value
    return out
