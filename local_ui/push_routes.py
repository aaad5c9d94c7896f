"""Web Push routes of the guards' API: the device's VAPID key, the user's subscriptions, and acknowledging from a
notification (vigia.appliance.notify.push).

Subscribing and unsubscribing need the session (and its CSRF token, as every write); a subscription is the
logged-in user's, and the user's logout or password change ends it. `POST /api/v1/push/ack` needs no session: the
notification's token (vigia.appliance.notify.links.ack_token) is its authorisation, for one event, as the user of
the subscription it was sent to, while that subscription lasts and until the token expires.
"""
from __future__ import annotations

import asyncio
import logging

from aiohttp import web

from vigia.appliance.encryption import load_or_create_key
from vigia.appliance.notify import push_subscriptions as subscriptions
from vigia.appliance.notify.links import check_ack_token, link_key_file
from vigia.appliance.notify.push import ACK_ROUTE
from vigia.appliance.notify.vapid import load_vapid
from vigia.kit.http import ULID, ApiError, json_body, only_fields
from vigia.kit.vapid import application_server_key
from vigia.local_ui import accounts
from vigia.local_ui.common import API, remote_address, require
from vigia.local_ui.event_routes import acknowledge_as

log = logging.getLogger(__name__)

ROUTE = "/api/v1/push/subscriptions"
PUBLIC = frozenset({("POST", ACK_ROUTE)})  # the token is its own authorisation


def add_routes(app: web.Application) -> None:
    routes = app.router
    routes.add_get("/api/v1/push/key", vapid_key, allow_head=False)
    routes.add_get(ROUTE, list_subscriptions, allow_head=False)
    routes.add_post(ROUTE, subscribe)
    routes.add_delete(ROUTE, unsubscribe)
    routes.add_post(ACK_ROUTE, acknowledge_by_token)


def _configured(request: web.Request) -> None:
    if request.app[API].config.push is None:
        raise ApiError(404, "web push is not configured on this appliance (no `push:` section)")


def _subscription_json(subscription: subscriptions.Subscription) -> dict:
    return {"id": subscription.id, "endpoint": subscription.endpoint, "created_at": subscription.created_at}


async def vapid_key(request: web.Request) -> web.Response:
    """The key browsers subscribe with (PushManager.subscribe's applicationServerKey)."""
    require(request)
    _configured(request)
    vapid = await asyncio.to_thread(load_vapid, request.app[API].config.storage.data_dir)
    return web.json_response({"application_server_key": application_server_key(vapid)})


async def list_subscriptions(request: web.Request) -> web.Response:
    """The session user's subscriptions."""
    session = require(request)
    found = await request.app[API].db(lambda db: subscriptions.user_subscriptions(db.conn, session.username))
    return web.json_response({"subscriptions": [_subscription_json(s) for s in found]})


async def subscribe(request: web.Request) -> web.Response:
    """A browser's PushSubscription (its toJSON()) for the session user; the same endpoint again replaces it."""
    api = request.app[API]
    session = require(request)
    _configured(request)
    body = await json_body(request, required=True)
    only_fields(body, {"endpoint", "keys", "expirationTime"}, "field")
    keys = body.get("keys")
    if not isinstance(keys, dict):
        raise ApiError(400, "keys must be an object with p256dh and auth")
    only_fields(keys, {"p256dh", "auth"}, "key")
    remote = remote_address(request)

    def add(db) -> subscriptions.Subscription:
        subscription = subscriptions.subscribe(db.conn, session.username, body.get("endpoint"), keys.get("p256dh"),
                                               keys.get("auth"))
        accounts.audit(db, "push_subscribed", username=session.username, target=str(subscription.id), remote=remote)
        return subscription

    try:
        subscription = await api.db(add)
    except subscriptions.SubscriptionError as exc:
        raise ApiError(400, str(exc)) from None
    log.info("%s subscribed a browser to push notifications (subscription %d)", session.username, subscription.id)
    return web.json_response(_subscription_json(subscription), status=201)


async def unsubscribe(request: web.Request) -> web.Response:
    """Forget one of the session user's subscriptions, by endpoint."""
    api = request.app[API]
    session = require(request)
    body = await json_body(request, required=True)
    only_fields(body, {"endpoint"}, "field")
    endpoint = body.get("endpoint")
    if not isinstance(endpoint, str) or not endpoint:
        raise ApiError(400, "endpoint must be the subscription's URL")
    remote = remote_address(request)

    def remove(db) -> bool:
        removed = subscriptions.unsubscribe(db.conn, session.username, endpoint)
        if removed:
            accounts.audit(db, "push_unsubscribed", username=session.username, remote=remote)
        return removed

    return web.json_response({"removed": await api.db(remove)})


async def acknowledge_by_token(request: web.Request) -> web.Response:
    """No session: a notification's Acknowledge button, `{"event": ID, "token": T}`; audited as the user."""
    api = request.app[API]
    body = await json_body(request, required=True)
    only_fields(body, {"event", "token"}, "field")
    event_id = body.get("event")
    if not isinstance(event_id, str) or not ULID.fullmatch(event_id):
        raise ApiError(400, "event must be an event id (26 characters, digits and capital letters)")
    key_file = link_key_file(api.config.storage.data_dir)
    if not key_file.exists():
        raise ApiError(403, "this appliance has sent no push notifications")
    subscription_id, why = check_ack_token(await asyncio.to_thread(load_or_create_key, key_file), event_id, body.get("token"))
    if why:
        raise ApiError(403, why)
    subscription = await api.db(lambda db: subscriptions.find(db.conn, subscription_id))
    if subscription is None:
        raise ApiError(403, "the notification's subscription has ended (its user logged out or changed password)")
    found = await acknowledge_as(api, event_id, subscription.username, remote_address(request), via="push")
    log.info("%s acknowledged event %s from a push notification", subscription.username, event_id)
    return web.json_response(found)
