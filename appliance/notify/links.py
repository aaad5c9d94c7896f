"""Short-lived signed links to an event's snapshot, for webhook receivers that cannot log in.

A link is `<http.public_url>/api/v1/links/snapshot/<event id>?expires=<epoch s>&sig=<hex>`, the signature an
HMAC-SHA256, with the device's link key (`<data_dir>/keys/links.key`, made at first use), over the event id and
the expiry. The appliance's server checks it (vigia.local_ui.event_routes) and serves the JPEG until it expires.
"""
from __future__ import annotations

import hashlib
import hmac
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
