"""Access to footage through central, audited (`access_audit`): the dashboard's `thumbnail_view` and `clip_view`
(the link to play or download a clip from the bucket), with who, what (device/event), when and from where. The
row is written before the footage is answered: a view that cannot be audited is not served."""
from __future__ import annotations

from psycopg.types.json import Jsonb
from psycopg_pool import AsyncConnectionPool


async def record_access(pool: AsyncConnectionPool, username: str, action: str, target: str, remote: str | None,
                        details: dict | None = None) -> None:
    async with pool.connection() as conn:
        await conn.execute("INSERT INTO access_audit (username, action, target, remote, details) VALUES (%s, %s, %s, %s,"
                           " %s)", [username, action, target, remote, Jsonb(details or {})])
