"""The app's part of the REST API (user tokens: the mobile app), under /api/v1:

    GET    /me                           who the token is of: user, role, scopes
    GET    /alerts?state=open|all        central's alerts, open first, newest first          alerts:read
    GET    /alerts/{alert_id}            one alert with its comments and audit trail        alerts:read
    POST   /alerts/{alert_id}/ack        acknowledge (audited as the user, via app)         alerts:write
    POST   /alerts/{alert_id}/comments   {"body"}: comment on the alert                     alerts:write
    PUT    /push-tokens                  {"token"}: this phone's Expo push token, for the user's alerts
    DELETE /push-tokens                  {"token"}: no more pushes to it (also at logout: revocation removes it)

Acknowledging here is the same as in the dashboard (one row in central_alerts): it stops the escalation and shows
acknowledged everywhere central's alerts are shown. Central's alerts are central's own (devices, cameras, backlog,
disk, false alarms); the appliances' rule alerts are acknowledged on the appliance (central relays no acks).
"""
from __future__ import annotations

import re

from aiohttp import web

from vigia.central.alerts import store
from vigia.central.api.common import API, API_PREFIX, MAX_PAGE, PAGE, PRINCIPAL
from vigia.central.api.oauth import require_scope
from vigia.kit.http import ApiError, int_param, json_body, only_fields, query_params

ME_PATH = "/me"
ALERTS_PATH = "/alerts"
ALERT_PATH = "/alerts/{alert_id}"
ACK_PATH = "/alerts/{alert_id}/ack"
COMMENTS_PATH = "/alerts/{alert_id}/comments"
PUSH_TOKENS_PATH = "/push-tokens"
ROUTES = (ME_PATH, ALERTS_PATH, ALERT_PATH, ACK_PATH, COMMENTS_PATH, PUSH_TOKENS_PATH)
MAX_COMMENT = 2000
EXPO_TOKEN = re.compile(r"^(Exponent|Expo)PushToken\[[A-Za-z0-9_-]{10,200}\]$")


def add_routes(app: web.Application) -> None:
    r = app.router
    r.add_get(API_PREFIX + ME_PATH, me, allow_head=False)
    r.add_get(API_PREFIX + ALERTS_PATH, alerts, allow_head=False)
    r.add_get(API_PREFIX + ALERT_PATH, one_alert, allow_head=False)
    r.add_post(API_PREFIX + ACK_PATH, acknowledge)
    r.add_post(API_PREFIX + COMMENTS_PATH, comment)
    r.add_put(API_PREFIX + PUSH_TOKENS_PATH, add_push_token)
    r.add_delete(API_PREFIX + PUSH_TOKENS_PATH, remove_push_token)


def _user(request: web.Request):
    principal = request[PRINCIPAL]
    if principal.username is None:
        raise ApiError(403, "this needs a user's token (sign in with the app), not a client's")
    return principal


def _alert_id(request: web.Request) -> int:
    text = request.match_info["alert_id"]
    if not text.isdigit() or len(text) > 18:
        raise ApiError(400, "alert_id: a positive integer")
    return int(text)


async def me(request: web.Request) -> web.Response:
    principal = _user(request)
    return web.json_response({"username": principal.username, "role": principal.role,
                              "scopes": sorted(principal.scopes)})


async def alerts(request: web.Request) -> web.Response:
    require_scope(request[PRINCIPAL], "alerts:read")
    query = query_params(request, {"state", "limit"})
    state = query.get("state", "open")
    if state not in ("open", "all"):
        raise ApiError(400, "state must be open or all")
    limit = int_param(query, "limit", PAGE, 1, MAX_PAGE)
    async with request.app[API].pool.connection() as conn:
        found = await store.list_alerts(conn, state == "all", limit)
    return web.json_response({"items": [a.as_json() for a in found]})


async def one_alert(request: web.Request) -> web.Response:
    require_scope(request[PRINCIPAL], "alerts:read")
    alert_id = _alert_id(request)
    async with request.app[API].pool.connection() as conn:
        alert = await store.get_alert(conn, alert_id)
        if alert is None:
            raise ApiError(404, "no such alert")
        return web.json_response({**alert.as_json(), "comments": await comments(conn, alert_id),
                                  "audit": await store.audit_trail(conn, alert_id)})


async def acknowledge(request: web.Request) -> web.Response:
    principal = _user(request)
    require_scope(principal, "alerts:write")
    alert_id = _alert_id(request)
    async with request.app[API].pool.connection() as conn:
        alert, done = await store.acknowledge(conn, alert_id, principal.username, "app")
    if alert is None:
        raise ApiError(404, "no such alert")
    return web.json_response({"alert": alert.as_json(), "acknowledged": done})


async def comment(request: web.Request) -> web.Response:
    principal = _user(request)
    require_scope(principal, "alerts:write")
    alert_id = _alert_id(request)
    body = await json_body(request, required=True)
    only_fields(body, {"body"}, "field")
    text = body.get("body")
    if not isinstance(text, str) or not text.strip() or len(text) > MAX_COMMENT:
        raise ApiError(400, f"body: the comment's text, 1 to {MAX_COMMENT} characters")
    async with request.app[API].pool.connection() as conn:
        if await store.get_alert(conn, alert_id) is None:
            raise ApiError(404, "no such alert")
        cursor = await conn.execute("INSERT INTO central_alert_comments (alert_id, username, body) VALUES (%s, %s, %s)"
                                    " RETURNING id, extract(epoch FROM at)", [alert_id, principal.username, text.strip()])
        comment_id, at = await cursor.fetchone()
    return web.json_response({"id": comment_id, "username": principal.username, "body": text.strip(), "at": float(at)},
                             status=201)


async def comments(conn, alert_id: int) -> list[dict]:
    cursor = await conn.execute("SELECT id, username, body, extract(epoch FROM at) FROM central_alert_comments"
                                " WHERE alert_id = %s ORDER BY id", [alert_id])
    return [{"id": i, "username": u, "body": b, "at": float(a)} for i, u, b, a in await cursor.fetchall()]


async def _push_token(request: web.Request) -> tuple[object, str]:
    principal = _user(request)
    body = await json_body(request, required=True)
    only_fields(body, {"token"}, "field")
    token = body.get("token")
    if not isinstance(token, str) or not EXPO_TOKEN.fullmatch(token):
        raise ApiError(400, "token: an Expo push token, ExponentPushToken[...]")
    return principal, token


async def add_push_token(request: web.Request) -> web.Response:
    principal, token = await _push_token(request)
    async with request.app[API].pool.connection() as conn:
        await conn.execute("INSERT INTO expo_push_tokens (token, username, grant_id) VALUES (%s, %s, %s)"
                           " ON CONFLICT (token) DO UPDATE SET username = EXCLUDED.username, grant_id = EXCLUDED.grant_id",
                           [token, principal.username, principal.grant_id])
    return web.json_response({"token": token, "registered": True})


async def remove_push_token(request: web.Request) -> web.Response:
    principal, token = await _push_token(request)
    async with request.app[API].pool.connection() as conn:
        cursor = await conn.execute("DELETE FROM expo_push_tokens WHERE token = %s AND username = %s",
                                    [token, principal.username])
    return web.json_response({"token": token, "registered": False, "removed": cursor.rowcount > 0})
