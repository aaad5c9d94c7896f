"""The dashboard's TOTP second factor routes (`vigia.central.dashboard.totp`):

    POST /dashboard/api/v1/login/totp {"challenge", "code"}   the second step of a login (no session yet)
    GET  /dashboard/api/v1/me/totp                            whether the user has one, recovery codes left
    POST /dashboard/api/v1/me/totp/enrol                      a new secret: text, otpauth URI, QR code (SVG), shown once
    POST /dashboard/api/v1/me/totp/confirm {"code"}           turns it on; the recovery codes, shown once

An admin who must enrol (`vigia central dashboard --admin-totp required`) may use only these, `me` and logout
(`ENROLMENT`).
"""
from __future__ import annotations

import logging

from aiohttp import web

from vigia.central.dashboard import totp
from vigia.central.dashboard.common import API_PREFIX, COOKIE, DASHBOARD, PREFIX, require, session_json
from vigia.kit.http import ApiError, json_body, only_fields, set_session_cookie
from vigia.kit.passwords import TOKEN_PATTERN
from vigia.kit.totp import CODE, RECOVERY_CODE

log = logging.getLogger(__name__)

ISSUER = "Vigia central"
PUBLIC = frozenset({("POST", f"{API_PREFIX}/login/totp")})
ENROLMENT = frozenset({("GET", f"{API_PREFIX}/me"), ("POST", f"{API_PREFIX}/logout"), ("GET", f"{API_PREFIX}/me/totp"),
                       ("POST", f"{API_PREFIX}/me/totp/enrol"), ("POST", f"{API_PREFIX}/me/totp/confirm")})
CODE_HELP = "6 digits, or a recovery code (XXXXX-XXXXX)"


def add_routes(app: web.Application) -> None:
    r = app.router
    r.add_post(f"{API_PREFIX}/login/totp", login_code)
    r.add_get(f"{API_PREFIX}/me/totp", status, allow_head=False)
    r.add_post(f"{API_PREFIX}/me/totp/enrol", enrol)
    r.add_post(f"{API_PREFIX}/me/totp/confirm", confirm)


async def login_code(request: web.Request) -> web.Response:
    dashboard = request.app[DASHBOARD]
    body = await json_body(request, required=True)
    only_fields(body, {"challenge", "code"}, "field")
    challenge, code = body.get("challenge"), body.get("code")
    if not isinstance(challenge, str) or not TOKEN_PATTERN.fullmatch(challenge):
        raise ApiError(400, "challenge: the one the login answered")
    if not isinstance(code, str) or not (CODE.fullmatch(code) or RECOVERY_CODE.fullmatch(code)):
        raise ApiError(400, f"code: {CODE_HELP}")
    remote = request.remote
    async with dashboard.pool.connection() as conn:
        outcome = await totp.complete_login(conn, challenge, code, remote=remote, logins=dashboard.settings.logins,
                                            sessions=dashboard.settings.sessions)
    if outcome.status == "throttled":
        raise ApiError(429, f"too many failed logins from your address: try again in {outcome.retry_after} s",
                       {"Retry-After": str(outcome.retry_after)})
    if outcome.status == "locked":
        log.warning("dashboard second factor refused from %s: locked", remote)
        raise ApiError(429, "too many failed logins: try again later",
                       {"Retry-After": str(int(dashboard.settings.logins.lockout))})
    if outcome.status != "ok":
        log.info("failed dashboard second factor from %s", remote)
        raise ApiError(401, "wrong or used code, or the login has expired (log in again)")
    log.info("%s logged in to the dashboard with a second factor from %s", outcome.session.username, remote)
    response = web.json_response(session_json(outcome.session))
    set_session_cookie(response, COOKIE, outcome.token, dashboard.settings.sessions.max_age, PREFIX)
    return response


async def status(request: web.Request) -> web.Response:
    session = require(request)
    async with request.app[DASHBOARD].pool.connection() as conn:
        found = await totp.status(conn, session.username)
    return web.json_response({"enabled": found.enabled, "pending": found.pending,
                              "recovery_codes_left": found.recovery_codes_left})


async def enrol(request: web.Request) -> web.Response:
    session = require(request)
    async with request.app[DASHBOARD].pool.connection() as conn:
        started = await totp.begin_enrolment(conn, session.username, ISSUER, request.remote)
    if started is None:
        raise ApiError(409, "a second factor is already on (reset it with: vigia central user-totp-reset NAME)")
    log.info("%s started a dashboard TOTP enrolment", session.username)
    return web.json_response({"secret": started.secret, "otpauth_uri": started.uri, "qr_svg": started.qr_svg})


async def confirm(request: web.Request) -> web.Response:
    session = require(request)
    body = await json_body(request, required=True)
    only_fields(body, {"code"}, "field")
    code = body.get("code")
    if not isinstance(code, str) or not CODE.fullmatch(code):
        raise ApiError(400, "code: the authenticator's 6 digits")
    async with request.app[DASHBOARD].pool.connection() as conn:
        codes = await totp.confirm_enrolment(conn, session.username, code, request.remote)
    if codes is None:
        raise ApiError(422, "code: not the authenticator's current code (or no enrolment started)")
    log.info("%s turned a dashboard TOTP second factor on", session.username)
    return web.json_response({"enabled": True, "recovery_codes": codes})
