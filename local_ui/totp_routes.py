"""The TOTP second factor's routes (`vigia.local_ui.totp`):

    POST /api/v1/login/totp {"challenge", "code"}   the second step of a login (no session yet)
    GET  /api/v1/me/totp                            whether the user has one, recovery codes left
    POST /api/v1/me/totp/enrol                      a new secret: text, otpauth URI, QR code (SVG), shown once
    POST /api/v1/me/totp/confirm {"code"}           turns it on; the recovery codes, shown once

An admin who must enrol (`http.admin_totp: required`) may use only these, `GET /api/v1/me` and logout (`ENROLMENT`).
"""
from __future__ import annotations

import logging
import math

from aiohttp import web

from vigia.kit.api_schema import body, fields
from vigia.kit.http import ApiError, json_body, only_fields, set_session_cookie
from vigia.kit.passwords import TOKEN_PATTERN
from vigia.kit.totp import CODE, RECOVERY_CODE
from vigia.local_ui import totp
from vigia.local_ui.common import API, COOKIE, remote_address, require, session_json

log = logging.getLogger(__name__)

ISSUER = "Vigia"
PUBLIC = frozenset({("POST", "/api/v1/login/totp")})
ENROLMENT = frozenset({("GET", "/api/v1/me"), ("POST", "/api/v1/logout"), ("GET", "/api/v1/me/totp"),
                       ("POST", "/api/v1/me/totp/enrol"), ("POST", "/api/v1/me/totp/confirm")})
SECOND_FACTOR = {"type": "string", "description": "the 6-digit code of the authenticator app, or a recovery code",
                 "anyOf": [{"pattern": CODE.pattern}, {"pattern": RECOVERY_CODE.pattern}]}


def add_routes(app: web.Application) -> None:
    routes = app.router
    routes.add_post("/api/v1/login/totp", login_code)
    routes.add_get("/api/v1/me/totp", status, allow_head=False)
    routes.add_post("/api/v1/me/totp/enrol", enrol)
    routes.add_post("/api/v1/me/totp/confirm", confirm)


def _text(body: dict, name: str, pattern) -> str:
    value = body.get(name)
    if not isinstance(value, str) or not pattern.fullmatch(value):
        raise ApiError(400, f"{name}: " + ("the challenge the login answered" if name == "challenge"
                                           else "6 digits, or a recovery code (XXXXX-XXXXX)"))
    return value


async def login_code(request: web.Request) -> web.Response:
    api = request.app[API]
    body = await json_body(request, required=True)
    only_fields(body, {"challenge", "code"}, "field")
    challenge = _text(body, "challenge", TOKEN_PATTERN)
    code = body.get("code")
    if not isinstance(code, str) or not (CODE.fullmatch(code) or RECOVERY_CODE.fullmatch(code)):
        raise ApiError(400, "code: 6 digits, or a recovery code (XXXXX-XXXXX)")
    remote = remote_address(request)
    outcome = await api.db(totp.complete_login, challenge, code, remote, logins=api.logins, sessions=api.sessions)
    if outcome.status == "invalid":
        log.info("failed second factor from %s", remote)
        raise ApiError(401, "wrong or used code, or the login has expired (log in again)")
    if outcome.status != "ok":
        log.warning("second factor refused from %s: %s", remote, outcome.status)
        raise ApiError(429, "too many failed logins: try again later",
                       {"Retry-After": str(math.ceil(outcome.retry_after or api.logins.lockout))})
    log.info("%s logged in with a second factor from %s", outcome.session.username, remote)
    response = web.json_response(session_json(outcome.session))
    set_session_cookie(response, COOKIE, outcome.token, api.sessions.max_age, "/")
    return response


async def status(request: web.Request) -> web.Response:
    api = request.app[API]
    session = require(request)
    found = await api.db(totp.status, session.username)
    return web.json_response({"enabled": found.enabled, "pending": found.pending,
                              "recovery_codes_left": found.recovery_codes_left})


async def enrol(request: web.Request) -> web.Response:
    api = request.app[API]
    session = require(request)
    started = await api.db(totp.begin_enrolment, session.username, ISSUER, remote_address(request))
    if started is None:
        raise ApiError(409, "a second factor is already on (an admin resets it: vigia users totp-reset NAME)")
    log.info("%s started a TOTP enrolment", session.username)
    return web.json_response({"secret": started.secret, "otpauth_uri": started.uri, "qr_svg": started.qr_svg})


async def confirm(request: web.Request) -> web.Response:
    api = request.app[API]
    session = require(request)
    body = await json_body(request, required=True)
    only_fields(body, {"code"}, "field")
    code = _text(body, "code", CODE)
    codes = await api.db(totp.confirm_enrolment, session.username, code, remote_address(request))
    if codes is None:
        raise ApiError(422, "code: not the authenticator's current code (or no enrolment started)")
    log.info("%s turned a TOTP second factor on", session.username)
    return web.json_response({"enabled": True, "recovery_codes": codes})


def openapi_paths(errors, json_ref, csrf: dict, public: list) -> dict:
    """These routes' part of the OpenAPI document (`errors`, `json_ref`: the document's own helpers)."""
    status_schema = {"type": "object", "required": ["enabled", "pending", "recovery_codes_left"], "properties": {
        "enabled": {"type": "boolean"}, "pending": {"type": "boolean"}, "recovery_codes_left": {"type": "integer"}}}
    return {
        "/api/v1/login/totp": {"post": {
            "summary": "the second step of a login: the challenge POST /api/v1/login answered (202) and a TOTP code or "
                       "a recovery code; sets the vigia_session cookie (wrong codes count as failed logins)",
            "security": public,
            "requestBody": body(fields(["challenge", "code"], challenge={"type": "string", "pattern": TOKEN_PATTERN.pattern},
                                       code=SECOND_FACTOR)),
            "responses": {"200": {"description": "logged in", "content": json_ref("Session")},
                          **errors(400, 401, 415, 429)}}},
        "/api/v1/me/totp": {"get": {
            "summary": "whether the user's logins ask for a TOTP code, and recovery codes left",
            "responses": {"200": {"description": "ok", "content": {"application/json": {"schema": status_schema}}},
                          **errors(401)}}},
        "/api/v1/me/totp/enrol": {"post": {
            "summary": "start a TOTP enrolment: a new secret as text, otpauth URI and QR code (SVG), shown only now "
                       "(audited)", "parameters": [csrf],
            "responses": {"200": {"description": "the secret", "content": {"application/json": {"schema": {
                "type": "object", "required": ["secret", "otpauth_uri", "qr_svg"], "properties": {
                    "secret": {"type": "string"}, "otpauth_uri": {"type": "string"},
                    "qr_svg": {"type": "string", "description": "an SVG document"}}}}}},
                          **errors(401, 403, 409)}}},
        "/api/v1/me/totp/confirm": {"post": {
            "summary": "turn the second factor on with a first code: the recovery codes, shown only now (audited)",
            "parameters": [csrf], "requestBody": body(fields(["code"], code={"type": "string", "pattern": CODE.pattern})),
            "responses": {"200": {"description": "on", "content": {"application/json": {"schema": {
                "type": "object", "required": ["enabled", "recovery_codes"], "properties": {
                    "enabled": {"type": "boolean"},
                    "recovery_codes": {"type": "array", "items": {"type": "string"}}}}}}},
                          **errors(400, 401, 403, 415, 422)}}},
    }
