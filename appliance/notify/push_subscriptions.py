"""The guards' Web Push subscriptions (migration 10): each belongs to the user logged in when the browser subscribed.

A subscription is what the browser's PushManager gives: the push service's `endpoint` URL, the browser's P-256
public key (`p256dh`) and its 16-byte `auth` secret, both base64url. The same endpoint subscribed again (another
user on the same phone, new keys) replaces the old row. A user's subscriptions go when the user logs out or changes
password (vigia.local_ui.accounts), and one the push service says is gone (404, 410) is removed by the sender.

`push_sent` marks which subscriptions a queued notification has reached: a retry after a failure for one phone
reaches only the phones that did not get it yet.
"""
from __future__ import annotations

import base64
import binascii
import ipaddress
import sqlite3
import time
from dataclasses import dataclass
from urllib.parse import urlsplit

from vigia.appliance.transactions import write_transaction

MAX_ENDPOINT = 2048   # characters of an endpoint URL
MAX_PER_USER = 20     # subscriptions one user may hold (phones and browsers): the oldest go past it


@dataclass(frozen=True)
class Subscription:
    id: int
    username: str
    endpoint: str
    p256dh: str
    auth: str
    created_at: float

    def info(self) -> dict:
        """As pywebpush takes it (and PushSubscription.toJSON() gives it)."""
        return {"endpoint": self.endpoint, "keys": {"p256dh": self.p256dh, "auth": self.auth}}


class SubscriptionError(ValueError):
    """A subscription that cannot be used (the message says why)."""


def b64url_decode(text: str) -> bytes:
    """Base64url with or without padding (browsers send it without)."""
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def check_subscription(endpoint: object, p256dh: object, auth: object) -> None:
    """SubscriptionError unless these are a push subscription's: an https endpoint (http only to this machine: a
    relay or a test), a P-256 public key (65 bytes, uncompressed) and a 16-byte auth secret."""
    if not isinstance(endpoint, str) or not endpoint or len(endpoint) > MAX_ENDPOINT:
        raise SubscriptionError(f"endpoint must be a URL of at most {MAX_ENDPOINT} characters")
    parts = urlsplit(endpoint)
    if not parts.hostname or parts.scheme not in ("https", "http") or (parts.scheme == "http" and not _loopback(parts.hostname)):
        raise SubscriptionError("endpoint must be an https:// URL (http:// only to this machine)")
    for name, value, size in (("p256dh", p256dh, 65), ("auth", auth, 16)):
        if not isinstance(value, str):
            raise SubscriptionError(f"keys.{name} must be a base64url string")
        try:
            raw = b64url_decode(value)
        except (binascii.Error, ValueError):
            raise SubscriptionError(f"keys.{name} is not base64url") from None
        if len(raw) != size or (name == "p256dh" and raw[0] != 4):
            point = " (an uncompressed P-256 point)" if name == "p256dh" else ""
            raise SubscriptionError(f"keys.{name} must be {size} bytes{point}")


def _loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def _subscription(row) -> Subscription:
    return Subscription(*row)


COLUMNS = "id, username, endpoint, p256dh, auth, created_at"


def subscribe(conn: sqlite3.Connection, username: str, endpoint: str, p256dh: str, auth: str,
              now: float | None = None) -> Subscription:
    """Keep `username`'s subscription (checked first); an endpoint already known is taken over with its new keys."""
    check_subscription(endpoint, p256dh, auth)
    now = time.time() if now is None else now
    with write_transaction(conn):
        old = conn.execute("SELECT id FROM push_subscriptions WHERE endpoint = ?", [endpoint]).fetchone()
        if old is not None:
            _delete(conn, [old[0]])
        row = conn.execute(f"INSERT INTO push_subscriptions (username, endpoint, p256dh, auth, created_at) "
                           f"VALUES (?, ?, ?, ?, ?) RETURNING {COLUMNS}", [username, endpoint, p256dh, auth, now]).fetchall()[0]
        extra = conn.execute("SELECT id FROM push_subscriptions WHERE username = ? ORDER BY id DESC LIMIT -1 OFFSET ?",
                             [username, MAX_PER_USER]).fetchall()
        _delete(conn, [i for (i,) in extra])
    return _subscription(row)


def unsubscribe(conn: sqlite3.Connection, username: str, endpoint: str) -> bool:
    """Forget `username`'s subscription of `endpoint`; False when the user had none."""
    with write_transaction(conn):
        row = conn.execute("SELECT id FROM push_subscriptions WHERE username = ? AND endpoint = ?",
                           [username, endpoint]).fetchone()
        if row is not None:
            _delete(conn, [row[0]])
    return row is not None


def remove_user(conn: sqlite3.Connection, username: str) -> int:
    """Forget all of `username`'s subscriptions (logout, password change); how many there were."""
    with write_transaction(conn):
        ids = [i for (i,) in conn.execute("SELECT id FROM push_subscriptions WHERE username = ?", [username]).fetchall()]
        _delete(conn, ids)
    return len(ids)


def remove(conn: sqlite3.Connection, subscription_id: int) -> None:
    """Forget one subscription (its push service says it is gone)."""
    with write_transaction(conn):
        _delete(conn, [subscription_id])


def _delete(conn: sqlite3.Connection, ids: list[int]) -> None:
    for subscription_id in ids:
        conn.execute("DELETE FROM push_subscriptions WHERE id = ?", [subscription_id])
        conn.execute("DELETE FROM push_sent WHERE subscription_id = ?", [subscription_id])


def user_subscriptions(conn: sqlite3.Connection, username: str) -> list[Subscription]:
    rows = conn.execute(f"SELECT {COLUMNS} FROM push_subscriptions WHERE username = ? ORDER BY id", [username])
    return [_subscription(row) for row in rows.fetchall()]


def find(conn: sqlite3.Connection, subscription_id: int) -> Subscription | None:
    row = conn.execute(f"SELECT {COLUMNS} FROM push_subscriptions WHERE id = ?", [subscription_id]).fetchone()
    return None if row is None else _subscription(row)


def not_reached(conn: sqlite3.Connection, notification_id: int) -> list[Subscription]:
    """The subscriptions the queued notification has not reached yet, oldest first."""
    rows = conn.execute(f"SELECT {COLUMNS} FROM push_subscriptions s WHERE NOT EXISTS (SELECT 1 FROM push_sent p "
                        f"WHERE p.notification_id = ? AND p.subscription_id = s.id) ORDER BY id", [notification_id])
    return [_subscription(row) for row in rows.fetchall()]


def mark_reached(conn: sqlite3.Connection, notification_id: int, subscription_id: int, now: float | None = None) -> None:
    """The push service took the notification for this subscription: never sent to it again."""
    with write_transaction(conn):
        conn.execute("INSERT OR IGNORE INTO push_sent (notification_id, subscription_id, at) VALUES (?, ?, ?)",
                     [notification_id, subscription_id, time.time() if now is None else now])


def forget_marks(conn: sqlite3.Connection, sink: str) -> int:
    """Drop the marks of notifications no longer waiting in `sink`'s queue (delivered, dropped, pruned)."""
    with write_transaction(conn):
        return conn.execute("DELETE FROM push_sent WHERE notification_id NOT IN (SELECT id FROM notifications "
                            "WHERE sink = ? AND delivered_at IS NULL)", [sink]).rowcount
