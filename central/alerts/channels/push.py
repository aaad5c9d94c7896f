"""Alerts by Web Push (RFC 8291 encryption, VAPID: pywebpush) to the browsers dashboard users subscribed.

`push` reaches every subscription, `push:NAME` those of one user. A 404 or 410 from a push service means the
subscription is gone: it is deleted. The try fails when any other subscription failed; the retry sends to all of
them again, with the same `Topic` (the note's key), so a push service still holding the first copy replaces it.
The payload is Note.payload() (its `ack` lets the service worker's Acknowledge action post the token).
"""
from __future__ import annotations

import asyncio
import json
import logging

import psycopg
from pywebpush import WebPushException, webpush

from vigia.central.alerts.channels.message import DeliveryFailed, Note
from vigia.central.alerts.config import PushSettings
from vigia.central.alerts.subscriptions import Subscription, subscriptions
from vigia.kit.vapid import vapid_from_pem

log = logging.getLogger(__name__)

GONE = frozenset({404, 410})


class PushChannel:
    def __init__(self, settings: PushSettings, vapid_pem: bytes, username: str | None):
        self.settings, self.username = settings, username
        self.vapid = vapid_from_pem(vapid_pem, "central_alert_keys.vapid")

    async def send(self, conn: psycopg.AsyncConnection, note: Note, attempt: int = 1) -> str:
        reached, failures = 0, []
        for subscription in await subscriptions(conn, self.username):
            status, why = await asyncio.to_thread(self._post, subscription, note)
            if status is not None and 200 <= status < 300:
                reached += 1
            elif status in GONE:
                await conn.execute("DELETE FROM central_alert_push_subscriptions WHERE id = %s", [subscription.id])
                log.info("alert push subscription %d of %s removed: its push service answered %d (gone)",
                         subscription.id, subscription.username, status)
            else:
                failures.append(f"subscription {subscription.id}: {why}")
        if failures:
            raise DeliveryFailed(f"reached {reached}, {len(failures)} failed: " + "; ".join(failures)[:300])
        return f"reached {reached}"

    def _post(self, subscription: Subscription, note: Note) -> tuple[int | None, str]:
        headers = {"Urgency": "normal" if note.change == "resolved" else "high", "Topic": note.key.replace("-", "")[:32]}
        try:
            reply = webpush(subscription.info(), json.dumps(note.payload(), separators=(",", ":")),
                            vapid_private_key=self.vapid, vapid_claims={"sub": self.settings.subject},
                            ttl=self.settings.ttl_s, timeout=self.settings.timeout_s, headers=headers)
        except WebPushException as exc:
            if exc.response is None:
                return None, exc.message
            return exc.response.status_code, f"HTTP {exc.response.status_code}"
        except OSError as exc:
            return None, f"{type(exc).__name__}: {exc}"
        return reply.status_code, f"HTTP {reply.status_code}"
