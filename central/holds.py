"""Legal holds at central: a device's, a site's or an event's rows kept past retention, and its objects past the
bucket's lifecycle. Placing and releasing a hold is audited (`legal_hold_audit`); `vigia central hold add|list|release`.

A site is the dashboard's (`dashboard_device_sites`); an event is named by its event id. The bucket's lifecycle rules
(vigia.central.ingest.media.lifecycle_rules) stay as they are: they expire objects by their `vigia-kind` tag, so a
held object's tags are replaced by `vigia-hold=true` and `vigia-held-kind=<kind>` (`MediaStore.set_hold`), which no
rule selects; released, it gets its `vigia-kind` tag back and the lifecycle takes it as before. `tag_held_objects`
brings the bucket in line with the holds: at `hold add` and `hold release` (given the bucket), and at every
retention run (vigia.central.retention); an object uploaded while a hold covers it is tagged as it is recorded
(vigia.central.ingest.media).
"""
from __future__ import annotations

import asyncio
import datetime as dt
import logging
from dataclasses import dataclass

import psycopg
from psycopg.rows import class_row
from psycopg.types.json import Jsonb

from vigia.central.ingest.media import MediaStore
from vigia.central.ingest.schema import held

log = logging.getLogger(__name__)

SCOPES = ("device", "site", "event")


class HoldError(ValueError):
    """A hold that cannot be placed or released, said plainly."""


@dataclass(frozen=True)
class Hold:
    id: int
    scope: str
    target: str
    reason: str
    created_by: str
    created_at: dt.datetime
    released_by: str | None
    released_at: dt.datetime | None


TARGET_EXISTS = {
    "device": "SELECT EXISTS (SELECT 1 FROM devices WHERE device_id = %s)",
    "site": "SELECT EXISTS (SELECT 1 FROM dashboard_device_sites WHERE site = %s)",
    "event": "SELECT EXISTS (SELECT 1 FROM events WHERE event_id = %s)",
}
HOLD_COLUMNS = "id, scope, target, reason, created_by, created_at, released_by, released_at"


async def place(conn: psycopg.AsyncConnection, scope: str, target: str, reason: str, by: str) -> Hold:
    """A new hold on an existing device, site or event; audited."""
    if scope not in SCOPES:
        raise HoldError(f"a hold is on a device, a site or an event, not {scope!r}")
    if not reason.strip():
        raise HoldError("give the reason for the hold (a case number, a request): --reason")
    async with conn.transaction():
        cursor = await conn.execute(TARGET_EXISTS[scope], [target])
        if not (await cursor.fetchone())[0]:
            where = {"device": "enrolled devices", "site": "the dashboard's sites", "event": "central's events"}[scope]
            raise HoldError(f"no {scope} {target!r} among {where}")
        cursor = conn.cursor(row_factory=class_row(Hold))
        await cursor.execute(f"INSERT INTO legal_holds (scope, target, reason, created_by) VALUES (%s, %s, %s, %s)"
                             f" RETURNING {HOLD_COLUMNS}", [scope, target, reason, by])
        hold = await cursor.fetchone()
        await conn.execute("INSERT INTO legal_hold_audit (hold_id, action, actor, detail) VALUES (%s, 'placed', %s, %s)",
                           [hold.id, by, Jsonb({"scope": scope, "target": target, "reason": reason})])
    log.info("legal hold %d placed on %s %s by %s", hold.id, scope, target, by)
    return hold


async def release(conn: psycopg.AsyncConnection, hold_id: int, by: str, reason: str) -> Hold:
    """End an active hold; audited. Its rows and objects go at the next retention run (and lifecycle pass)."""
    async with conn.transaction():
        cursor = conn.cursor(row_factory=class_row(Hold))
        await cursor.execute(f"UPDATE legal_holds SET released_by = %s, released_at = now() WHERE id = %s"
                             f" AND released_at IS NULL RETURNING {HOLD_COLUMNS}", [by, hold_id])
        hold = await cursor.fetchone()
        if hold is None:
            raise HoldError(f"no active legal hold {hold_id} (`vigia central hold list --all` shows them all)")
        await conn.execute("INSERT INTO legal_hold_audit (hold_id, action, actor, detail) VALUES (%s, 'released', %s, %s)",
                           [hold_id, by, Jsonb({"reason": reason})])
    log.info("legal hold %d on %s %s released by %s", hold.id, hold.scope, hold.target, by)
    return hold


async def holds(conn: psycopg.AsyncConnection, include_released: bool = False) -> list[Hold]:
    cursor = conn.cursor(row_factory=class_row(Hold))
    await cursor.execute(f"SELECT {HOLD_COLUMNS} FROM legal_holds"
                         f"{'' if include_released else ' WHERE released_at IS NULL'} ORDER BY id")
    return await cursor.fetchall()


@dataclass(frozen=True)
class Tagging:
    held: int       # objects tagged as held now
    released: int   # objects given their lifecycle tag back
    missing: int    # objects no longer in the bucket (expired before the hold, or deleted)


async def tag_held_objects(conn: psycopg.AsyncConnection, store: MediaStore) -> Tagging:
    """Tag the objects of held rows as held, and those of released holds back; `media_objects.held` follows."""
    cursor = await conn.execute(f"SELECT device_id, key, kind, {held('m')} FROM media_objects m"
                                f" WHERE m.held IS DISTINCT FROM {held('m')}")
    counts = {True: 0, False: 0, None: 0}
    for device_id, key, kind, hold in await cursor.fetchall():
        found = await asyncio.to_thread(store.set_hold, key, kind, hold)
        if not found:
            counts[None] += 1
            log.warning("%s is not in the bucket any more: not tagged", key)
        counts[hold] += found
        await conn.execute("UPDATE media_objects SET held = %s WHERE device_id = %s AND key = %s", [hold, device_id, key])
    return Tagging(counts[True], counts[False], counts[None])
