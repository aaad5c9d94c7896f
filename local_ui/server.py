"""The guards' API: an aiohttp application over the appliance's database and media (`/api/v1/`).

Security properties (the tests in tests/test_local_api.py check each):
- Every route but `/healthz`, `/metrics`, `POST /api/v1/login`, the setup wizard's first step
  (`GET /api/v1/setup`, `POST /api/v1/setup/claim`) and those a signed token authorises (snapshot links,
  `POST /api/v1/push/ack`) needs a live session (401); while the device is
  unclaimed (setup mode) every other route answers 403 "setup not finished".
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
import logging
import math
import time
from importlib.metadata import version

from aiohttp import web
from prometheus_client import CONTENT_TYPE_LATEST

from vigia.appliance.config import Config
from vigia.appliance.outbox import backlog
from vigia.kit.http import (
    ApiError,
    clear_session_cookie,
    error_middleware,
    int_param,
    json_body,
    login_credentials,
    only_fields,
    query_params,
    route_of,
    security_headers,
    session_middleware,
    set_session_cookie,
)
from vigia.local_ui import (
    accounts,
    camera_routes,
    data_subject_routes,
    event_routes,
    frontend,
    live_routes,
    privacy_routes,
    push_routes,
    setup_routes,
    totp_routes,
)
from vigia.local_ui.common import (
    API,
    COOKIE,
    MAX_AUDIT,
    MAX_BODY,
    SESSION,
    Api,
    ApplianceView,
    remote_address,
    require,
    session_json,
)
from vigia.local_ui.live import LiveHub
from vigia.local_ui.openapi import openapi_document
from vigia.sync.identity import identity_folder, load_identity

log = logging.getLogger(__name__)

VERSION = version("vigia")  # of the release running (installed from its wheel)
PUBLIC = frozenset({("GET", "/healthz"), ("GET", "/metrics"), ("POST", "/api/v1/login"),
                    ("GET", frontend.ROUTE)})  # the front end's files are the login page


def create_app(appliance: ApplianceView, config: Config) -> web.Application:
    """The appliance's HTTP application: the guards' API, `/healthz` and `/metrics`."""
    http = config.http
    api = Api(appliance, config, appliance.media_key,
              accounts.SessionPolicy(max_age=http.session_max_age, idle=http.session_idle),
              accounts.LoginPolicy(max_failures=http.login_max_failures, lockout=http.login_lockout,
                                   remote_max_failures=http.login_remote_max_failures))
    middlewares = [error_middleware(log, "the appliance log"), session_middleware(SESSION, _is_public, _session)]
    app = web.Application(middlewares=middlewares, client_max_size=MAX_BODY)
    app[API] = api
    app.on_response_prepare.append(security_headers("/api/"))
    app.on_startup.append(_start_live)
    app.on_shutdown.append(_close_live)
    app.on_cleanup.append(_stop_live)
    routes = app.router
    routes.add_get("/healthz", healthz, allow_head=False)
    routes.add_get("/metrics", metrics, allow_head=False)
    routes.add_post("/api/v1/login", login)
    routes.add_post("/api/v1/logout", logout)
    routes.add_get("/api/v1/me", me, allow_head=False)
    event_routes.add_routes(app)
    camera_routes.add_routes(app)
    live_routes.add_routes(app)
    push_routes.add_routes(app)
    setup_routes.add_routes(app)
    privacy_routes.add_routes(app)       # exports for disclosure, the signage notice
    data_subject_routes.add_routes(app)  # data-subject requests, the audit chain
    totp_routes.add_routes(app)          # the second step of a login, TOTP enrolment
    routes.add_get("/api/v1/sync", sync_status, allow_head=False)
    routes.add_get("/api/v1/users", users, allow_head=False)
    routes.add_post("/api/v1/users", create_user)
    routes.add_get("/api/v1/audit", audit_log, allow_head=False)
    routes.add_get("/api/v1/openapi.json", openapi, allow_head=False)
    frontend.add_routes(app)
    return app


async def _start_live(app: web.Application) -> None:
    api = app[API]
    api.hub = LiveHub(asyncio.get_running_loop())
    api.appliance.add_sink(api.hub)


async def _close_live(app: web.Application) -> None:
    await app[API].hub.close_all()


async def _stop_live(app: web.Application) -> None:
    api = app[API]
    api.appliance.remove_sink(api.hub)


def _is_public(request: web.Request) -> bool:
    route = route_of(request)
    return (route in PUBLIC or route in setup_routes.PUBLIC or route in event_routes.PUBLIC or route in push_routes.PUBLIC
            or route in totp_routes.PUBLIC)


async def _session(request: web.Request) -> accounts.Session | None:
    """The request's live session; 403 in setup mode (only the wizard's first step answers), and for an admin who
    must enrol a second factor first (`http.admin_totp: required`), but on the enrolment's routes."""
    api = request.app[API]
    if not await setup_routes.is_claimed(api):
        raise ApiError(403, "setup not finished: claim the device first (the setup wizard)")
    session = await api.db(accounts.session_for, request.cookies.get(COOKIE), api.sessions,
                           admin_totp=api.config.http.admin_totp == "required")
    if session is not None and session.must_enrol_totp and route_of(request) not in totp_routes.ENROLMENT:
        raise ApiError(403, "enrol a second factor (TOTP) first: admins must have one")
    return session


# -- public routes ----------------------------------------------------------------------------


async def healthz(request: web.Request) -> web.Response:
    """Up, the version running (a software update's health check waits for the new one) and the cameras' states."""
    return web.json_response({"status": "ok", "version": VERSION, "cameras": request.app[API].appliance.camera_states()})


async def metrics(request: web.Request) -> web.Response:
    """Prometheus' text format; with `http.metrics_token`, only for a request bearing it."""
    api = request.app[API]
    token = api.config.http.metrics_token
    if token is not None:
        scheme, _, given = request.headers.get("Authorization", "").partition(" ")
        if scheme.lower() != "bearer" or not hmac.compare_digest(given.strip().encode(), token.encode()):
            raise ApiError(401, "GET /metrics needs Authorization: Bearer <the config's http.metrics_token>")
    return web.Response(body=api.appliance.metrics_exposition(), headers={"Content-Type": CONTENT_TYPE_LATEST})


async def login(request: web.Request) -> web.Response:
    api = request.app[API]
    username, password = await login_credentials(request)
    remote = remote_address(request)
    async with api.login_slots:
        outcome = await api.db(accounts.login, username, password, remote, logins=api.logins,
                               sessions=api.sessions, replaces=request.cookies.get(COOKIE),
                               admin_totp=api.config.http.admin_totp == "required")
    if outcome.status == "invalid":
        log.info("failed login from %s", remote)
        raise ApiError(401, "wrong username or password")
    if outcome.status in ("locked", "throttled"):
        log.warning("login refused from %s: %s", remote, outcome.status)
        raise ApiError(429, "too many failed logins: try again later",
                       {"Retry-After": str(math.ceil(outcome.retry_after or api.logins.lockout))})
    if outcome.status == "second_factor":  # no session yet: POST /api/v1/login/totp with the challenge and a code
        return web.json_response({"second_factor": "totp", "challenge": outcome.token}, status=202)
    log.info("%s logged in from %s", outcome.session.username, remote)
    response = web.json_response(session_json(outcome.session))
    set_session_cookie(response, COOKIE, outcome.token, api.sessions.max_age, "/")
    return response


# -- session routes ---------------------------------------------------------------------------


async def logout(request: web.Request) -> web.Response:
    api = request.app[API]
    session = require(request)
    await api.db(accounts.logout, session, remote_address(request))
    response = web.json_response({"logged_out": True})
    clear_session_cookie(response, COOKIE, "/")
    return response


async def me(request: web.Request) -> web.Response:
    return web.json_response(session_json(require(request)))


async def sync_status(request: web.Request) -> web.Response:
    """Whether the appliance is enrolled with central, and what waits in its outbox."""
    api = request.app[API]
    require(request)
    identity = load_identity(identity_folder(api.config.storage.data_dir))
    waiting = await api.db(lambda db: backlog(db.conn))
    return web.json_response({
        "enrolled": identity is not None, "central_url": identity.central_url if identity else None,
        "backlog": waiting.records, "by_kind": waiting.by_kind, "oldest_at": waiting.oldest_created_at,
        "dropped": waiting.dropped, "dead_letters": waiting.dead_letters,
    })


async def users(request: web.Request) -> web.Response:
    api = request.app[API]
    require(request, "admin")
    now = time.time()
    found = await api.db(accounts.list_users)
    return web.json_response({"users": [
        {"username": u.username, "role": u.role, "created_at": u.created_at,
         "locked": u.locked_until is not None and u.locked_until > now} for u in found]})


async def create_user(request: web.Request) -> web.Response:
    api = request.app[API]
    session = require(request, "admin")
    body = await json_body(request, required=True)
    only_fields(body, {"username", "password", "role"}, "field")
    try:
        user = await api.db(accounts.add_user, body.get("username"), body.get("password"), body.get("role"),
                            actor=session.username, remote=remote_address(request))
    except accounts.UserExists as exc:
        raise ApiError(409, str(exc)) from None
    except accounts.AccountError as exc:
        raise ApiError(400, str(exc)) from None
    log.info("%s created user %s (%s)", session.username, user.username, user.role)
    return web.json_response({"username": user.username, "role": user.role, "created_at": user.created_at}, status=201)


async def audit_log(request: web.Request) -> web.Response:
    """Newest first; the next page is `before` = the last entry's id."""
    api = request.app[API]
    require(request, "admin")
    query = query_params(request, {"limit", "before"})
    limit = int_param(query, "limit", 100, 1, MAX_AUDIT)
    before = int_param(query, "before", None, 1, 2**53)
    entries = await api.db(accounts.audit_entries, limit=limit, before=before)
    return web.json_response({"entries": entries,
                              "next": {"before": entries[-1]["id"]} if len(entries) == limit else None})


async def openapi(request: web.Request) -> web.Response:
    require(request)
    return web.json_response(openapi_document())
