"""Alerts as Expo push notifications to the phones signed in with the Vigia app (FCM/APNs through Expo's push
service: https://docs.expo.dev/push-notifications/sending-notifications/).

`expo` reaches every registered phone, `expo:NAME` those of one user. The request is Expo's: a JSON array of
messages (at most 100 a request) POSTed to the push API, `Authorization: Bearer` when an access token is set. Expo
answers a ticket per message, in order: a ticket `DeviceNotRegistered` means the app is gone from that phone, so its
token is deleted; any other error fails the try (tried again later, all phones again: a notification may then arrive
twice on a phone, with the same `data.key`, and the app shows it once). The message's category lets the app offer
Acknowledge on the notification itself; `data` is Note.payload() (its `ack` token acknowledges without a sign-in).
"""
from __future__ import annotations

import asyncio
import json

import psycopg
import requests

from vigia.central.alerts.channels.message import DeliveryFailed, Note
from vigia.central.alerts.config import ExpoSettings

CATEGORY = "vigia-alert"        # the app's notification category with the Acknowledge action
BATCH = 100                     # Expo's limit of messages a request


class ExpoChannel:
    def __init__(self, settings: ExpoSettings, username: str | None):
        self.settings, self.username = settings, username

    async def send(self, conn: psycopg.AsyncConnection, note: Note, attempt: int = 1) -> str:
        cursor = await conn.execute("SELECT token FROM expo_push_tokens WHERE %(user)s::text IS NULL OR username = %(user)s"
                                    " ORDER BY token", {"user": self.username})
        tokens = [row[0] for row in await cursor.fetchall()]
        reached, gone, failures = 0, [], []
        for start in range(0, len(tokens), BATCH):
            batch = tokens[start:start + BATCH]
            tickets = await asyncio.to_thread(self._post, [message(token, note) for token in batch])
            for token, ticket in zip(batch, tickets, strict=True):
                if ticket.get("status") == "ok":
                    reached += 1
                elif (ticket.get("details") or {}).get("error") == "DeviceNotRegistered":
                    gone.append(token)
                else:
                    failures.append(f"{ticket.get('message') or ticket}"[:120])
        if gone:
            await conn.execute("DELETE FROM expo_push_tokens WHERE token = ANY(%s)", [gone])
        if failures:
            raise DeliveryFailed(f"reached {reached}, {len(failures)} failed: " + "; ".join(failures)[:300])
        return f"reached {reached}" + (f", {len(gone)} unregistered removed" if gone else "")

    def _post(self, messages: list[dict]) -> list[dict]:
        headers = {"Accept": "application/json", "Accept-Encoding": "gzip, deflate", "Content-Type": "application/json"}
        if self.settings.access_token:
            headers["Authorization"] = f"Bearer {self.settings.access_token}"
        try:
            reply = requests.post(self.settings.url, data=json.dumps(messages, separators=(",", ":")), headers=headers,
                                  timeout=self.settings.timeout_s, allow_redirects=False)
        except requests.RequestException as exc:
            raise DeliveryFailed(f"{type(exc).__name__}: {exc}"[:300]) from None
        if reply.status_code != 200:
            raise DeliveryFailed(f"HTTP {reply.status_code}: {reply.text[:200].strip()}")
        try:
            tickets = reply.json()["data"]
        except (ValueError, KeyError, TypeError):
            raise DeliveryFailed(f"not an Expo push answer: {reply.text[:200].strip()}") from None
        if not isinstance(tickets, list) or len(tickets) != len(messages):
            raise DeliveryFailed(f"Expo answered {len(tickets) if isinstance(tickets, list) else 'no'} tickets"
                                 f" for {len(messages)} messages")
        return tickets


def message(token: str, note: Note) -> dict:
    """One Expo push message of a note."""
    raised = note.change == "raised"
    sent = {"to": token, "title": note.title, "body": note.alert.summary, "data": note.payload(),
            "priority": "high" if raised else "normal", "channelId": "alerts", "ttl": 3600}
    return sent | ({"sound": "default", "categoryId": CATEGORY} if raised else {})
