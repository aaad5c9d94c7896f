"""Alerts as signed JSON POSTs (vigia.kit.webhooks: the appliance's scheme, so one receiver checks both).

Headers: X-Vigia-Timestamp, X-Vigia-Signature, Idempotency-Key (the note's key, the same on every try),
X-Vigia-Attempt. A 2xx answer delivers; anything else fails the try. The body is Note.payload(): its `ack.url`
takes a POST of `{"token": ack.token}` and acknowledges the alert.
"""
from __future__ import annotations

import asyncio
import json

import psycopg
import requests

from vigia.central.alerts.channels.message import DeliveryFailed, Note
from vigia.central.alerts.config import WebhookSettings
from vigia.kit.webhooks import signed_headers


class WebhookChannel:
    def __init__(self, settings: WebhookSettings):
        self.settings = settings

    async def send(self, conn: psycopg.AsyncConnection, note: Note, attempt: int = 1) -> str:
        return await asyncio.to_thread(self._post, note, attempt)

    def _post(self, note: Note, attempt: int) -> str:
        body = json.dumps(note.payload(), separators=(",", ":")).encode()
        headers = {"Content-Type": "application/json", "User-Agent": "Vigia central",
                   **signed_headers(self.settings.secret, body), "Idempotency-Key": note.key,
                   "X-Vigia-Attempt": str(attempt)}
        try:
            reply = requests.post(self.settings.url, data=body, headers=headers, timeout=self.settings.timeout_s,
                                  allow_redirects=False, verify=self.settings.ca_file or True)
        except requests.RequestException as exc:
            raise DeliveryFailed(f"{type(exc).__name__}: {exc}"[:300]) from None
        if not 200 <= reply.status_code < 300:
            raise DeliveryFailed(f"HTTP {reply.status_code}: {reply.text[:200].strip()}")
        return f"HTTP {reply.status_code}"
