"""Commands to devices in PostgreSQL: issued (and audited) by an operator or by central itself, listed.

The routes devices fetch and acknowledge them through are in `vigia.central.ingest.commands`."""
from __future__ import annotations

import psycopg
from psycopg.rows import dict_row
from psycopg.types.json import Jsonb

from vigia.central.ingest.enrolment import check_device_id

KINDS = ("upload_clip", "set_layout", "rotate_credentials", "install_model", "rollback_model", "install_software")
COLUMNS = "id, device_id, kind, body, created_at, created_by, state, acked_at, result"


async def issue(conn: psycopg.AsyncConnection, device_id: str, kind: str, body: dict, created_by: str) -> int:
    """Queue a command for a device (and audit it); returns its id."""
    if kind not in KINDS:
        raise ValueError(f"unknown command {kind!r} (one of {', '.join(KINDS)})")
    async with conn.transaction():
        cursor = await conn.execute(
            "INSERT INTO device_commands (device_id, kind, body, created_by) VALUES (%s, %s, %s, %s) RETURNING id",
            [check_device_id(device_id), kind, Jsonb(body), created_by])
        command_id = (await cursor.fetchone())[0]
        await conn.execute("INSERT INTO command_audit (command_id, device_id, action, actor, detail) "
                           "VALUES (%s, %s, 'issued', %s, %s)", [command_id, device_id, created_by, Jsonb(body)])
    return command_id


async def list_commands(conn: psycopg.AsyncConnection, device_id: str, pending_only: bool = False) -> list[dict]:
    cursor = conn.cursor(row_factory=dict_row)
    await cursor.execute(f"SELECT {COLUMNS} FROM device_commands WHERE device_id = %s"
                         f"{' AND state = %s' if pending_only else ''} ORDER BY id",
                         [device_id, "pending"] if pending_only else [device_id])
    return await cursor.fetchall()
