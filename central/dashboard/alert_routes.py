"""Central alerts on the dashboard (vigia.central.alerts): the list, acknowledging, and browsers' push subscriptions.

    GET    /dashboard/api/v1/alerts?all=1                 open alerts, newest first (all=1: resolved ones too)
    POST   /dashboard/api/v1/alerts/{id}/ack               acknowledge (operator; audited as the user, via dashboard)
    GET    /dashboard/api/v1/alerts/ack?token=             (no login) the acknowledge link's page: what the alert
                                                           is, and a button that posts the token
    POST   /dashboard/api/v1/alerts/ack                    (no login) {"token"} as JSON or a form: acknowledge
                                                           (audited as `link`, via the notification's channel)
    GET    /dashboard/api/v1/alerts/push/key               the VAPID public key browsers subscribe with
    POST   /dashboard/api/v1/alerts/push/subscriptions     {"endpoint", "keys": {"p256dh", "auth"}}: this user's
    DELETE /dashboard/api/v1/alerts/push/subscriptions     {"endpoint"}
"""
from __future__ import annotations

import html
import logging
from urllib.parse import urlsplit

from aiohttp import web

from vigia.central.alerts import delivery, store
from vigia.central.alerts.links import check_ack_token, stored_key
from vigia.central.alerts.subscriptions import subscribe, unsubscribe
from vigia.central.dashboard.common import API_PREFIX, DASHBOARD, require
from vigia.kit.http import ApiError, int_param, json_body, only_fields, query_params
from vigia.kit.vapid import application_server_key, vapid_from_pem

log = logging.getLogger(__name__)

ACK = f"{API_PREFIX}/alerts/ack"
PUBLIC = frozenset({("GET", ACK), ("POST", ACK)})
PAGE_POLICY = "default-src 'none'; form-action 'self'; frame-ancestors 'none'"
LISTED = 500


def add_routes(app: web.Application) -> None:
    r = app.router
    r.add_get(f"{API_PREFIX}/alerts", alerts, allow_head=False)
    r.add_get(ACK, ack_page, allow_head=False)
    r.add_post(ACK, ack_with_token)
    r.add_post(f"{API_PREFIX}/alerts/{{alert_id}}/ack", ack_in_dashboard)
    r.add_get(f"{API_PREFIX}/alerts/push/key", push_key, allow_head=False)
    r.add_post(f"{API_PREFIX}/alerts/push/subscriptions", add_subscription)
    r.add_delete(f"{API_PREFIX}/alerts/push/subscriptions", remove_subscription)


async def alerts(request: web.Request) -> web.Response:
    require(request)
    everything = int_param(query_params(request, {"all"}), "all", 0, 0, 1)
    async with request.app[DASHBOARD].pool.connection() as conn:
        rows = await store.list_alerts(conn, bool(everything), LISTED)
        listed = [a.as_json() | {"deliveries": await delivery.deliveries(conn, a.id)} for a in rows]
    return web.json_response({"alerts": listed, "open": sum(a["resolved_at"] is None for a in listed)})


async def ack_in_dashboard(request: web.Request) -> web.Response:
    session = require(request, "operator")
    text = request.match_info["alert_id"]
    if not text.isdigit() or len(text) > 18:
        raise ApiError(400, "alert_id: not an alert id")
    async with request.app[DASHBOARD].pool.connection() as conn:
        alert, done = await store.acknowledge(conn, int(text), session.username, "dashboard")
    if alert is None:
        raise ApiError(404, f"no alert {text}")
    if done:
        log.info("alert %d acknowledged by %s in the dashboard", alert.id, session.username)
    return web.json_response({"alert": alert.as_json(), "acknowledged": done})


async def ack_page(request: web.Request) -> web.Response:
    token = query_params(request, {"token"}).get("token")
    async with request.app[DASHBOARD].pool.connection() as conn:
        alert_id, _channel, why = check_ack_token(await stored_key(conn, "ack"), token)
        alert = None if alert_id is None else await store.get_alert(conn, alert_id)
    if alert is None:
        return _page(403, "Acknowledge", f"<p>{html.escape(why or 'no such alert')}</p>")
    state = ("resolved" if alert.resolved_at else f"acknowledged by {alert.acked_by}" if alert.acked_at else "open")
    form = ("" if alert.acked_at or alert.resolved_at else
            f'<form method="post" action="{html.escape(urlsplit(str(request.url)).path)}">'
            f'<input type="hidden" name="token" value="{html.escape(token)}">'
            '<button type="submit">Acknowledge</button></form>')
    return _page(200, f"Alert {alert.id}", f"<p>{html.escape(alert.summary)}</p><p>Level {alert.level}, {state}.</p>{form}")


async def ack_with_token(request: web.Request) -> web.Response:
    form = request.content_type == "application/x-www-form-urlencoded"
    if form:
        posted = await request.post()
        only_fields(posted, {"token"}, "field")
        token = posted.get("token")
    else:
        body = await json_body(request, required=True)
        only_fields(body, {"token"}, "field")
        token = body.get("token")
    async with request.app[DASHBOARD].pool.connection() as conn:
        alert_id, channel, why = check_ack_token(await stored_key(conn, "ack"), token)
        if alert_id is None:
            if form:
                return _page(403, "Acknowledge", f"<p>{html.escape(why)}</p>")
            raise ApiError(403, f"token: {why}")
        alert, done = await store.acknowledge(conn, alert_id, "link", channel)
    if alert is None:
        raise ApiError(404, f"no alert {alert_id}")
    if done:
        log.info("alert %d acknowledged through a %s link", alert.id, channel)
    if form:
        state = "acknowledged" if done else "resolved already" if alert.resolved_at else "acknowledged already"
        return _page(200, f"Alert {alert.id}", f"<p>{html.escape(alert.summary)}</p><p>{state}.</p>")
    return web.json_response({"alert": alert.as_json(), "acknowledged": done})


async def push_key(request: web.Request) -> web.Response:
    require(request)
    async with request.app[DASHBOARD].pool.connection() as conn:
        pem = await stored_key(conn, "vapid")
    return web.json_response({"application_server_key": application_server_key(vapid_from_pem(pem, "vapid key"))})


async def add_subscription(request: web.Request) -> web.Response:
    session = require(request)
    body = await json_body(request, required=True)
    only_fields(body, {"endpoint", "keys", "expirationTime"}, "field")
    endpoint, keys = body.get("endpoint"), body.get("keys")
    if not isinstance(endpoint, str) or urlsplit(endpoint).scheme not in ("https", "http") or len(endpoint) > 2000:
        raise ApiError(400, "endpoint: the push service's URL")
    if not isinstance(keys, dict) or not all(isinstance(keys.get(k), str) and 0 < len(keys[k]) <= 200
                                             for k in ("p256dh", "auth")):
        raise ApiError(400, "keys: {p256dh, auth} as the browser gives them")
    async with request.app[DASHBOARD].pool.connection() as conn:
        subscription_id = await subscribe(conn, session.username, endpoint, keys["p256dh"], keys["auth"])
    log.info("%s subscribed a browser to central alerts (push subscription %d)", session.username, subscription_id)
    return web.json_response({"id": subscription_id}, status=201)


async def remove_subscription(request: web.Request) -> web.Response:
    session = require(request)
    body = await json_body(request, required=True)
    only_fields(body, {"endpoint"}, "field")
    endpoint = body.get("endpoint")
    if not isinstance(endpoint, str):
        raise ApiError(400, "endpoint: the subscription's URL")
    async with request.app[DASHBOARD].pool.connection() as conn:
        removed = await unsubscribe(conn, session.username, endpoint)
    return web.json_response({"removed": removed})


def _page(status: int, title: str, body: str) -> web.Response:
    text = (f'<!doctype html><html lang="en"><meta charset="utf-8"><meta name="viewport" content="width=device-width">'
            f"<title>{html.escape(title)} - Vigia</title><h1>{html.escape(title)}</h1>{body}</html>")
    return web.Response(status=status, text=text, content_type="text/html", headers={"Content-Security-Policy": PAGE_POLICY})
