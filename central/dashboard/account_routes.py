"""Logins, sessions and the dashboard's users.

    POST /dashboard/api/v1/login {"username", "password"} (202 and a challenge for a user with a second factor:
         `totp_routes`), POST logout, GET me
    GET  /dashboard/api/v1/users, POST users        (admin)
"""
from __future__ import annotations

import logging

from aiohttp import web

from vigia.central.dashboard import accounts
from vigia.central.dashboard.common import API_PREFIX, COOKIE, DASHBOARD, PREFIX, require, session_json
from vigia.kit.http import ApiError, clear_session_cookie, json_body, login_credentials, only_fields, set_session_cookie
from vigia.kit.passwords import AccountError, UserExists

log = logging.getLogger(__name__)

PUBLIC = frozenset({("POST", f"{API_PREFIX}/login")})


def add_routes(app: web.Application) -> None:
    r = app.router
    r.add_post(f"{API_PREFIX}/login", login)
    r.add_post(f"{API_PREFIX}/logout", logout)
    r.add_get(f"{API_PREFIX}/me", me, allow_head=False)
    r.add_get(f"{API_PREFIX}/users", users, allow_head=False)
    r.add_post(f"{API_PREFIX}/users", create_user)


async def login(request: web.Request) -> web.Response:
    dashboard = request.app[DASHBOARD]
    if dashboard.settings.sso is not None and not dashboard.settings.sso.password_login:
        raise ApiError(403, "password login is turned off here: sign in with single sign-on")
    username, password = await login_credentials(request)
    # The peer itself: the dashboard has no trusted-proxy setting (behind a TLS proxy, that proxy's address).
    remote = request.remote
    async with dashboard.login_slots, dashboard.pool.connection() as conn:
        outcome = await accounts.login(conn, username, password, remote=remote, logins=dashboard.settings.logins,
                                       sessions=dashboard.settings.sessions, replaces=request.cookies.get(COOKIE),
                                       admin_totp=dashboard.settings.admin_totp)
    if outcome.status == "throttled":
        log.warning("dashboard login refused from %s: too many failures from that address", remote)
        raise ApiError(429, f"too many failed logins from your address: try again in {outcome.retry_after} s",
                       {"Retry-After": str(outcome.retry_after)})
    if outcome.status == "locked":
        log.warning("dashboard login refused from %s: locked", remote)
        raise ApiError(429, "too many failed logins: try again later",
                       {"Retry-After": str(int(dashboard.settings.logins.lockout))})
    if outcome.status == "invalid":
        log.info("failed dashboard login from %s", remote)
        raise ApiError(401, "wrong username or password")
    if outcome.status == "second_factor":  # no session yet: POST login/totp with the challenge and a code
        return web.json_response({"second_factor": "totp", "challenge": outcome.token}, status=202)
    log.info("%s logged in to the dashboard from %s", outcome.session.username, remote)
    response = web.json_response(session_json(outcome.session))
    set_session_cookie(response, COOKIE, outcome.token, dashboard.settings.sessions.max_age, PREFIX)
    return response


async def logout(request: web.Request) -> web.Response:
    session = require(request)
    async with request.app[DASHBOARD].pool.connection() as conn:
        await accounts.logout(conn, session)
    response = web.json_response({"logged_out": True})
    clear_session_cookie(response, COOKIE, PREFIX)
    return response


async def me(request: web.Request) -> web.Response:
    return web.json_response(session_json(require(request)))


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
    except UserExists as exc:
        raise ApiError(409, str(exc)) from None
    except AccountError as exc:
        raise ApiError(400, str(exc)) from None
    log.info("%s created dashboard user %s (%s)", session.username, body["username"], body["role"])
    return web.json_response({"username": body["username"], "role": body["role"]}, status=201)
