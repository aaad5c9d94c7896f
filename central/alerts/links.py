"""Acknowledge links: the token in a notification that acknowledges its alert without a dashboard session.

A token is `<alert id>.<expiry, epoch s>.<hex HMAC-SHA256>` over the alert and the expiry, keyed with central's
acknowledge key (central_alert_keys, made on first use). The link is
`<public_url>/api/v1/alerts/ack?token=...`: a GET shows a page with an Acknowledge button (mail scanners that
fetch links acknowledge nothing), a POST of the token (form or JSON `{"token"}`) acknowledges, audited as
`link` by the notification's channel. The dashboard checks tokens with the same key.
"""
from __future__ import annotations

import hashlib
import hmac
import re
import secrets
import time
from urllib.parse import urlencode

import psycopg

from vigia.kit.vapid import new_vapid_pem

ACK_ROUTE = "/api/v1/alerts/ack"
TOKEN = re.compile(r"^([0-9]{1,18})\.([0-9]{1,12})\.([a-z0-9-]{1,40})\.([0-9a-f]{64})$")


async def stored_key(conn: psycopg.AsyncConnection, name: str) -> bytes:
    """The key `name` (`ack`: 32 random bytes; `vapid`: a P-256 PEM), made by whichever process asks first."""
    select = "SELECT secret FROM central_alert_keys WHERE name = %s"
    found = await (await conn.execute(select, [name])).fetchone()
    if found is None:
        made = secrets.token_bytes(32) if name == "ack" else new_vapid_pem()
        await conn.execute("INSERT INTO central_alert_keys (name, secret) VALUES (%s, %s) ON CONFLICT DO NOTHING", [name, made])
        found = await (await conn.execute(select, [name])).fetchone()   # another process's, when it made one first
    return bytes(found[0])


def _signature(key: bytes, alert_id: int, expires: int, channel: str) -> str:
    return hmac.new(key, f"alert-ack:{alert_id}:{expires}:{channel}".encode(), hashlib.sha256).hexdigest()


def ack_token(key: bytes, alert_id: int, channel: str, ttl_s: float, now: float | None = None) -> tuple[str, int]:
    """(a token acknowledging `alert_id`, sent through `channel` (its kind: webhook, email, push), its expiry)."""
    expires = int((time.time() if now is None else now) + ttl_s)
    return f"{alert_id}.{expires}.{channel}.{_signature(key, alert_id, expires, channel)}", expires


def ack_link(public_url: str, token: str) -> str:
    return f"{public_url}{ACK_ROUTE}?{urlencode({'token': token})}"


def check_ack_token(key: bytes, token: object, now: float | None = None) -> tuple[int | None, str, str | None]:
    """(the alert id, the channel, None) for a genuine token not expired, else (None, "", why not)."""
    match = TOKEN.fullmatch(token) if isinstance(token, str) else None
    if match is None:
        return None, "", "not an acknowledge token"
    alert_id, expires, channel, signature = int(match[1]), int(match[2]), match[3], match[4]
    if not hmac.compare_digest(_signature(key, alert_id, expires, channel), signature):
        return None, "", "the token's signature does not match"
    if expires < (time.time() if now is None else now):
        return None, "", "the token has expired"
    return alert_id, channel, None
