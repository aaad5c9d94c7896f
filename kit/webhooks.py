"""Webhook signatures, shared by the appliance's webhooks and central's alerts (one scheme, one receiver).

`X-Vigia-Timestamp` is the epoch seconds when the request was sent; `X-Vigia-Signature` is `sha256=` and the hex
HMAC-SHA256, keyed with the destination's secret, of the timestamp, a dot and the body as sent. A receiver checks
both with `verify_signature`: the signature matches the raw body, and the timestamp is within `TOLERANCE_S`.
"""
from __future__ import annotations

import hashlib
import hmac
import time

TIMESTAMP_HEADER = "X-Vigia-Timestamp"
SIGNATURE_HEADER = "X-Vigia-Signature"
TOLERANCE_S = 300        # a receiver refuses signatures older (or newer) than this: a replayed request fails


def signature(secret: str, timestamp: str, body: bytes) -> str:
    """The `X-Vigia-Signature` value of `body` sent at `timestamp` (its header's text)."""
    digest = hmac.new(secret.encode(), timestamp.encode() + b"." + body, hashlib.sha256).hexdigest()
    return f"sha256={digest}"


def verify_signature(secret: str, timestamp: str | None, body: bytes, signed: str | None, now: float | None = None,
                     tolerance_s: float = TOLERANCE_S) -> bool:
    """What a receiver does: the signature matches the raw body and the timestamp is recent."""
    if not timestamp or not signed or not timestamp.isdigit():
        return False
    if abs((time.time() if now is None else now) - int(timestamp)) > tolerance_s:
        return False
    return hmac.compare_digest(signature(secret, timestamp, body), signed)


def signed_headers(secret: str, body: bytes, now: float | None = None) -> dict[str, str]:
    """The timestamp and signature headers of `body` sent now."""
    timestamp = str(int(time.time() if now is None else now))
    return {TIMESTAMP_HEADER: timestamp, SIGNATURE_HEADER: signature(secret, timestamp, body)}
