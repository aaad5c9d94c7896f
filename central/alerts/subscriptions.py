"""Dashboard users' browsers subscribed to alert pushes (central_alert_push_subscriptions): one row per endpoint,
owned by a user (deleted with the user, and when the user logs out or changes password: `remove_user`)."""
from __future__ import annotations

from dataclasses import dataclass

import psycopg


@dataclass(frozen=True)
class Subscription:
    id: int
    username: str
    endpoint: str
    p256dh: str
    auth: str

    def info(self) -> dict:
        return {"endpoint": self.endpoint, "keys": {"p256dh": self.p256dh, "auth": self.auth}}


async def subscribe(conn: psycopg.AsyncConnection, username: str, endpoint: str, p256dh: str, auth: str) -> int:
    """A user's browser subscribed (the same endpoint again: its keys and owner replaced); returns its id."""
    cursor = await conn.execute(
        "INSERT INTO central_alert_push_subscriptions (username, endpoint, p256dh, auth) VALUES (%s, %s, %s, %s) "
        "ON CONFLICT (endpoint) DO UPDATE SET username = EXCLUDED.username, p256dh = EXCLUDED.p256dh, "
        "auth = EXCLUDED.auth RETURNING id", [username, endpoint, p256dh, auth])
    return (await cursor.fetchone())[0]


async def unsubscribe(conn: psycopg.AsyncConnection, username: str, endpoint: str) -> bool:
    cursor = await conn.execute("DELETE FROM central_alert_push_subscriptions WHERE username = %s AND endpoint = %s",
                                [username, endpoint])
    return cursor.rowcount > 0


async def remove_user(conn: psycopg.AsyncConnection, username: str) -> int:
    """The user's subscriptions, all gone (no alert pushed to a browser whose user logged out); how many."""
    cursor = await conn.execute("DELETE FROM central_alert_push_subscriptions WHERE username = %s", [username])
    return cursor.rowcount


async def subscriptions(conn: psycopg.AsyncConnection, username: str | None) -> list[Subscription]:
    cursor = await conn.execute("SELECT id, username, endpoint, p256dh, auth FROM central_alert_push_subscriptions "
                                "WHERE %(user)s::text IS NULL OR username = %(user)s ORDER BY id", {"user": username})
    return [Subscription(*row) for row in await cursor.fetchall()]
