"""Short-lived signed links to an event's snapshot, for webhook receivers and push notifications that cannot log in,
and the tokens that let a push notification's Acknowledge button act for its user.

A link is `<http.public_url>/api/v1/links/snapshot/<event id>?expires=<epoch s>&sig=<hex>`, the signature an
HMAC-SHA256, with the device's link key (`<data_dir>/keys/links.key`, made at first use), over the event id and
the expiry. The appliance's server checks it (vigia.local_ui.event_routes) and serves the JPEG until it expires.

An acknowledge token is `<subscription id>.<expiry>.<hex>`, an HMAC with the same key over the event id, the push
subscription it was sent to and the expiry: it acknowledges that event as that subscription's user, while the
subscription lasts (a logout ends it) and until it expires (vigia.local_ui.push_routes).
"""
from __future__ import annotations

import hashlib
import hmac
import re
import time
from pathlib import Path
from urllib.parse import urlencode

from vigia.appliance.encryption import load_or_create_key

ROUTE = "/api/v1/links/snapshot/{id}"


def link_key_file(data_dir: Path) -> Path:
    return data_dir / "keys" / "links.key"


def load_link_key(data_dir: Path) -> bytes:
    """The device's link key, made on first use (0600, like the media key)."""
    return load_or_create_key(link_key_file(data_dir))


def _signature(key: bytes, event_id: str, expires: int) -> str:
    return hmac.new(key, f"snapshot:{event_id}:{expires}".encode(), hashlib.sha256).hexdigest()


def snapshot_link(key: bytes, public_url: str, event_id: str, ttl_s: float, now: float | None = None) -> tuple[str, int]:
    """(the link, its expiry in epoch seconds)."""
    expires = int((time.time() if now is None else now) + ttl_s)
    query = urlencode({"expires": expires, "sig": _signature(key, event_id, expires)})
    return f"{public_url}{ROUTE.format(id=event_id)}?{query}", expires


def check_link(key: bytes, event_id: str, expires: str | None, signature: str | None, now: float | None = None) -> str | None:
    """None when the link is genuine and not expired, else why not."""
    if not expires or not signature or not expires.isdigit():
        return "a snapshot link needs expires and sig"
    if not hmac.compare_digest(_signature(key, event_id, int(expires)), signature):
        return "the link's signature does not match"
    if int(expires) < (time.time() if now is None else now):
        return "the link has expired"
    return None


ACK_TOKEN = re.compile(r"^([0-9]{1,18})\.([0-9]{1,12})\.([0-9a-f]{64})$")


def _ack_signature(key: bytes, event_id: str, subscription_id: int, expires: int) -> str:
    return hmac.new(key, f"ack:{event_id}:{subscription_id}:{expires}".encode(), hashlib.sha256).hexdigest()


def ack_token(key: bytes, event_id: str, subscription_id: int, ttl_s: float, now: float | None = None) -> str:
    """A token that acknowledges `event_id` as the user of the subscription it was sent to, for `ttl_s`."""
    expires = int((time.time() if now is None else now) + ttl_s)
    return f"{subscription_id}.{expires}.{_ack_signature(key, event_id, subscription_id, expires)}"


def check_ack_token(key: bytes, event_id: str, token: object, now: float | None = None) -> tuple[int | None, str | None]:
    """(the subscription id, None) for a genuine token not expired, else (None, why not)."""
    match = ACK_TOKEN.fullmatch(token) if isinstance(token, str) else None
    if match is None:
        return None, "not an acknowledge token"
    subscription_id, expires, signature = int(match[1]), int(match[2]), match[3]
    if not hmac.compare_digest(_ack_signature(key, event_id, subscription_id, expires), signature):
        return None, "the token's signature does not match"
    if expires < (time.time() if now is None else now):
        return None, "the token has expired"
    return subscription_id, None
