"""Webhooks: each notification as a signed JSON POST to one destination's URL.

Headers of every request:
- `X-Vigia-Timestamp`: epoch seconds when it was sent;
- `X-Vigia-Signature`: `sha256=` and the hex HMAC-SHA256, keyed with the destination's `secret`, of the timestamp,
  a dot and the body as sent (`f"{timestamp}.".encode() + body`): `vigia.kit.webhooks.verify_signature` is how a
  receiver checks it;
- `Idempotency-Key`: the notification's key (also `key` in the body), the same on every try;
- `X-Vigia-Attempt`: 1 for the first try, then 2, 3 ...

Any 2xx answer delivers it; anything else (another status, no answer within `timeout_s`, no connection) is a
failed try, tried again with backoff (vigia.appliance.notify.delivery). Redirects are not followed. The connection
is kept open between requests (no new TCP and TLS handshake per alert); a kept one the receiver closed meanwhile is
opened again for the same request.

The body is the event's message (vigia.appliance.notify.routing.event_message) with `snapshot`: with
`snapshot: inline`, `{"content_type": "image/jpeg", "base64": ...}` once the snapshot is written (an event's best
view settles about a second after it opens, so an opening sent at once often has none yet: its closing has it);
with `snapshot: link`, `{"url": ..., "expires_at": ...}` (vigia.appliance.notify.links); else, or when there is
none, null.
"""
from __future__ import annotations

import base64
import http.client
import json
import ssl
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit

from vigia.appliance.config import Webhook
from vigia.appliance.encryption import MediaCryptoError
from vigia.appliance.notify.links import snapshot_link
from vigia.appliance.notify.queue import Queued, Result
from vigia.appliance.notify.snapshots import read_snapshot
from vigia.kit.webhooks import signed_headers

MAX_ANSWER = 65536  # bytes of a receiver's answer read (the rest: the connection is closed)


@dataclass
class WebhookTransport:
    """Deliveries to one webhook destination (a Transport of vigia.appliance.notify.delivery)."""

    name: str
    settings: Webhook
    data_dir: Path
    media_key: bytes | None = None     # to read encrypted snapshots (inline)
    link_key: bytes | None = None      # to sign snapshot links (link)
    public_url: str | None = None

    def __post_init__(self) -> None:
        self.sink = f"webhook:{self.name}"
        parts = urlsplit(self.settings.url)
        self._https = parts.scheme == "https"
        self._host, self._port = parts.hostname, parts.port
        self._target = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
        self._tls = ssl.create_default_context(cafile=self.settings.ca_file) if self._https else None
        self._connection: http.client.HTTPConnection | None = None  # kept open between requests

    def maintain(self) -> None:
        """Nothing to keep up: the connection is opened when a request needs it."""

    def close(self) -> None:
        if self._connection is not None:
            self._connection.close()
            self._connection = None

    def deliver(self, items: list[Queued]) -> list[Result]:
        results = []
        for item in items:
            result = self._post(item)
            results.append(result)
            if result.outcome == "failed":
                break
        return results

    def body(self, item: Queued) -> bytes:
        message = json.loads(item.body)
        message["snapshot"] = self._snapshot(item, message)
        return json.dumps(message, separators=(",", ":")).encode()

    def _post(self, item: Queued) -> Result:
        try:
            body = self.body(item)
        except (OSError, MediaCryptoError) as exc:  # the snapshot could not be read: the message goes without it
            message = json.loads(item.body) | {"snapshot": None}
            body = json.dumps(message, separators=(",", ":")).encode()
            note = f"; snapshot left out: {exc}"
        else:
            note = ""
        headers = {"Content-Type": "application/json", "User-Agent": "Vigia", **signed_headers(self.settings.secret, body),
                   "Idempotency-Key": item.key, "X-Vigia-Attempt": str(item.attempts + 1)}
        try:
            reply, answer = self._request(body, headers)
        except (OSError, http.client.HTTPException) as exc:
            self.close()
            return Result(item, "failed", f"{type(exc).__name__}: {exc}{note}")
        detail = f"HTTP {reply.status}" + (f": {answer}" if answer and not 200 <= reply.status < 300 else "") + note
        return Result(item, "delivered" if 200 <= reply.status < 300 else "failed", detail)

    def _request(self, body: bytes, headers: dict) -> tuple[http.client.HTTPResponse, str]:
        """POST on the kept connection; once more on a new one when the kept one was closed by the other side (the
        receiver may see the request twice: the idempotency key tells)."""
        stale = self._connection is not None
        while True:
            if self._connection is None:
                self._connection = (
                    http.client.HTTPSConnection(self._host, self._port, timeout=self.settings.timeout_s, context=self._tls)
                    if self._https else http.client.HTTPConnection(self._host, self._port, timeout=self.settings.timeout_s))
            try:
                self._connection.request("POST", self._target, body=body, headers=headers)
                reply = self._connection.getresponse()
            except (ConnectionError, http.client.RemoteDisconnected, http.client.BadStatusLine):
                self.close()
                if not stale:
                    raise
                stale = False
                continue
            answer = reply.read(MAX_ANSWER).decode("utf-8", "replace").strip()[:300]
            if reply.will_close or not reply.isclosed():   # closing, or an answer too long to read through
                self.close()
            return reply, answer

    def _snapshot(self, item: Queued, message: dict) -> dict | None:
        mode = self.settings.snapshot
        if item.snapshot is None or mode == "none":
            return None
        if mode == "link":
            url, expires = snapshot_link(self.link_key, self.public_url, message["event"]["id"], self.settings.link_ttl_s)
            return {"url": url, "expires_at": expires}
        # No wait here, at the head of the queue: a closing is queued once its snapshot is written (NotifyWriter).
        data = read_snapshot(self.data_dir / item.snapshot, self.media_key)
        return None if data is None else {"content_type": "image/jpeg", "base64": base64.b64encode(data).decode()}
