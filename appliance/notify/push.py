"""Web Push: each event opening of a rule with `notify: [push]` to every subscribed phone and browser.

One queue (`push`); each notification goes to every subscription (vigia.appliance.notify.push_subscriptions) as its
own request to that subscription's push service: the payload encrypted for it (RFC 8291, aes128gcm), signed with
the device's VAPID key (RFC 8292, vigia.appliance.notify.vapid), with `TTL`, `Urgency` (high for alerts) and `Topic`
(the event id: a push service holding an undelivered copy replaces it rather than keeping two).

A 2xx answer marks the subscription reached for that notification; 404 or 410 says the subscription is gone (the
browser unsubscribed, the app was removed): it is deleted and logged. Any other answer or no answer is a failed try:
the notification is tried again with backoff (vigia.appliance.notify.delivery), and the retry reaches only the
subscriptions not reached yet, so no phone gets it twice.

The payload is small JSON the service worker shows (local_ui/web/public/sw.js): `title`, `body`, `event`,
`camera`, `alert`, `url` (the event's page), `image` (a signed snapshot link, relative to the appliance, which
works without a session until it expires) and `ack` (`url` and `token`: acknowledges the event as the
subscription's user without a session, vigia.appliance.notify.links.ack_token).
"""
from __future__ import annotations

import json
import logging
import sqlite3
from dataclasses import dataclass, field
from pathlib import Path

import requests
from py_vapid import Vapid
from pywebpush import WebPushException, webpush

from vigia.appliance.config import Push
from vigia.appliance.notify import push_subscriptions as subscriptions
from vigia.appliance.notify.links import ack_token, snapshot_link
from vigia.appliance.notify.queue import Queued, Result
from vigia.appliance.storage import connect

log = logging.getLogger(__name__)

SINK = "push"
ACK_ROUTE = "/api/v1/push/ack"
GONE = frozenset({404, 410})  # the push service no longer knows the subscription


def payload(message: dict, subscription_id: int, link_key: bytes, ttl_s: float, snapshot: bool) -> dict:
    """What one subscription's notification says (`message`: vigia.appliance.notify.routing.event_message)."""
    event = message["event"]
    what = f"{event['label']} in {event['zone']}" if event["zone"] else event["label"]
    image = snapshot_link(link_key, "", event["id"], ttl_s)[0] if snapshot else None
    return {
        "title": f"{'ALERT: ' if event['alert'] else ''}{event['rule']}", "body": f"{what} ({event['camera']})",
        "event": event["id"], "camera": event["camera"], "alert": event["alert"], "started_at": event["started_at"],
        "captured_at": message.get("captured_at"), "url": f"/#/events/{event['id']}", "image": image,
        "ack": {"url": ACK_ROUTE, "token": ack_token(link_key, event["id"], subscription_id, ttl_s)},
    }


@dataclass
class PushTransport:
    """Deliveries to the subscribed browsers (a Transport of vigia.appliance.notify.delivery)."""

    settings: Push
    database: Path
    vapid: Vapid
    link_key: bytes
    sink: str = SINK
    _conn: sqlite3.Connection | None = field(default=None, init=False)
    _http: requests.Session = field(default_factory=requests.Session, init=False)

    def maintain(self) -> None:
        """Nothing to keep up: a request per subscription."""

    def close(self) -> None:
        if self._conn is not None:
            self._conn.close()
            self._conn = None
        self._http.close()

    def deliver(self, items: list[Queued]) -> list[Result]:
        if self._conn is None:
            self._conn = connect(self.database).conn
        subscriptions.forget_marks(self._conn, self.sink)
        results = []
        for item in items:
            result = self._send(self._conn, item)
            results.append(result)
            if result.outcome == "failed":
                break
        return results

    def _send(self, conn: sqlite3.Connection, item: Queued) -> Result:
        message = json.loads(item.body)
        reached, gone, failures = 0, 0, []
        for subscription in subscriptions.not_reached(conn, item.id):
            body = payload(message, subscription.id, self.link_key, self.settings.link_ttl_s, item.snapshot is not None)
            status, why = self._post(subscription, body, message["event"])
            if status is not None and 200 <= status < 300:
                subscriptions.mark_reached(conn, item.id, subscription.id)
                reached += 1
            elif status in GONE:
                subscriptions.remove(conn, subscription.id)
                log.info("push subscription %d of %s removed: its push service answered %d (gone)",
                         subscription.id, subscription.username, status)
                gone += 1
            else:
                failures.append(f"subscription {subscription.id}: {why}")
        detail = f"reached {reached}" + (f", {gone} gone (removed)" if gone else "")
        if failures:
            return Result(item, "failed", f"{detail}, {len(failures)} failed: " + "; ".join(failures))
        return Result(item, "delivered", detail)

    def _post(self, subscription: subscriptions.Subscription, body: dict, event: dict) -> tuple[int | None, str]:
        """(the push service's status or None, what went wrong)."""
        headers = {"Urgency": "high" if event["alert"] else "normal", "Topic": event["id"]}
        try:
            reply = webpush(subscription.info(), json.dumps(body, separators=(",", ":")), vapid_private_key=self.vapid,
                            vapid_claims={"sub": self.settings.subject}, ttl=self.settings.ttl_s,
                            timeout=self.settings.timeout_s, headers=headers, requests_session=self._http)
        except WebPushException as exc:
            if exc.response is None:
                return None, exc.message
            answer = exc.response.text[:200].strip()
            return exc.response.status_code, f"HTTP {exc.response.status_code}" + (f": {answer}" if answer else "")
        except requests.RequestException as exc:
            return None, f"{type(exc).__name__}: {exc}"
        return reply.status_code, f"HTTP {reply.status_code}"
