"""The central part of a data-subject erasure, asked by a device (vigia.sync.erasures): everything central holds of
that device's camera over the window, and of the events the device names.

Removed: the events, their thumbnails and clips (rows and S3 objects), the re-analysis jobs of those events with
their results, verdicts, tracks and found events, the hard-example frames taken from them or from the camera in the
window (rows, objects, and their entries in datasets, whose counts follow), `rejected` records that name the events,
and the event ids in `upload_clip` commands (the command and its audit trail stay, naming no event). Objects go
first, then the rows in one transaction: a failure half-way is repaired by the device asking again (it does, until
answered). A legal hold on the device, its site or one of the events refuses the whole erasure (nothing removed).
The receipt is kept in `privacy_erasures` and answered to the device.
"""
from __future__ import annotations

import asyncio
import datetime as dt
from dataclasses import dataclass

import psycopg
from psycopg.types.json import Jsonb

from vigia.central.ingest.media import MediaStore


class Held(Exception):
    """A legal hold at central covers the erasure."""


@dataclass(frozen=True)
class ErasureRequest:
    request_id: str
    camera: str
    start: float
    end: float
    event_ids: list[str]

    @property
    def window(self) -> tuple[dt.datetime, dt.datetime]:
        return (dt.datetime.fromtimestamp(self.start, dt.timezone.utc),
                dt.datetime.fromtimestamp(self.end, dt.timezone.utc))


HOLDS = """
    SELECT id, scope, target, reason FROM legal_holds h WHERE released_at IS NULL AND (
        (scope = 'device' AND target = %(device)s)
        OR (scope = 'site' AND target IN (SELECT site FROM dashboard_device_sites WHERE device_id = %(device)s))
        OR (scope = 'event' AND target = ANY(%(events)s)))
    ORDER BY id"""


async def _column(conn: psycopg.AsyncConnection, sql: str, params) -> list:
    cursor = await conn.execute(sql, params)
    return [row[0] for row in await cursor.fetchall()]


async def erase(conn: psycopg.AsyncConnection, store: MediaStore | None, device_id: str, request: ErasureRequest) -> dict:
    """Erase and return the receipt; raises Held (and records the refusal) under a legal hold."""
    start, end = request.window
    params = {"device": device_id, "camera": request.camera, "start": start, "end": end}
    events = sorted(set(request.event_ids) | set(await _column(
        conn, "SELECT event_id FROM events WHERE device_id = %(device)s AND camera = %(camera)s"
        " AND started_at < %(end)s AND coalesce(ended_at, started_at) >= %(start)s", params)))
    params["events"] = events
    cursor = await conn.execute(HOLDS, params)
    holds = await cursor.fetchall()
    if holds:
        message = "; ".join(f"legal hold {i} on {scope} {target}: {reason}" for i, scope, target, reason in holds)
        await _record(conn, device_id, request, "refused", {"refused": message})
        await conn.commit()
        raise Held(message)
    jobs = await _column(conn, "SELECT job_id FROM reanalysis_jobs WHERE device_id = %(device)s"
                               " AND event_id = ANY(%(events)s)", params)
    params["jobs"] = jobs
    cursor = await conn.execute(
        "SELECT id, key FROM hard_examples WHERE job_id = ANY(%(jobs)s) OR (device_id = %(device)s"
        " AND camera = %(camera)s AND taken_at >= %(start)s AND taken_at < %(end)s)", params)
    examples = await cursor.fetchall()
    params["examples"] = [i for i, _key in examples]
    media = await _column(conn, "SELECT key FROM media_objects WHERE device_id = %(device)s"
                                " AND event_id = ANY(%(events)s)", params)
    objects = sorted(set(media) | {key for _i, key in examples})
    if objects and store is None:
        raise RuntimeError("objects to erase but no bucket configured")
    deleted = await asyncio.to_thread(store.delete, objects) if objects else []
    async with conn.transaction():
        counts = {}
        datasets = await conn.execute(
            "DELETE FROM dataset_examples WHERE example_id = ANY(%(examples)s) RETURNING name, version", params)
        touched = await datasets.fetchall()
        counts["dataset_entries"] = len(touched)
        for name, version in sorted(set(touched)):
            await conn.execute("UPDATE datasets SET examples = (SELECT count(*) FROM dataset_examples d WHERE"
                               " d.name = %s AND d.version = %s) WHERE name = %s AND version = %s",
                               [name, version, name, version])
        for table, where in (
                ("hard_examples", "id = ANY(%(examples)s)"),
                ("reanalysis_events", "job_id = ANY(%(jobs)s) OR (device_id = %(device)s"
                                      " AND matched_event_id = ANY(%(events)s))"),
                ("reanalysis_tracks", "job_id = ANY(%(jobs)s)"),
                ("reanalysis_verdicts", "job_id = ANY(%(jobs)s) OR (device_id = %(device)s AND event_id = ANY(%(events)s))"),
                ("reanalysis_results", "job_id = ANY(%(jobs)s)"),
                ("reanalysis_jobs", "job_id = ANY(%(jobs)s)"),
                ("media_objects", "device_id = %(device)s AND event_id = ANY(%(events)s)"),
                ("events", "device_id = %(device)s AND event_id = ANY(%(events)s)"),
                ("device_records", "device_id = %(device)s AND kind = 'rejected' AND body->>'key' = ANY(%(events)s)")):
            counts[table] = (await conn.execute(f"DELETE FROM {table} WHERE {where}", params)).rowcount
        counts["upload_clip_commands_scrubbed"] = (await conn.execute(
            "UPDATE device_commands SET body = jsonb_set(body, '{event_id}', '\"(erased)\"') WHERE device_id = %(device)s"
            " AND body->>'event_id' = ANY(%(events)s)", params)).rowcount
        receipt = {"request": request.request_id, "device_id": device_id, "camera": request.camera,
                   "from": request.start, "to": request.end, "events": events, "objects": deleted,
                   "rows": counts, "erased_at": dt.datetime.now(dt.timezone.utc).timestamp()}
        await _record(conn, device_id, request, "erased", receipt)
    return receipt


async def _record(conn: psycopg.AsyncConnection, device_id: str, request: ErasureRequest, state: str,
                  receipt: dict) -> None:
    start, end = request.window
    await conn.execute(
        "INSERT INTO privacy_erasures (device_id, request_id, camera, window_from, window_to, state, receipt)"
        " VALUES (%s, %s, %s, %s, %s, %s, %s) ON CONFLICT (device_id, request_id) DO UPDATE SET state = excluded.state,"
        " receipt = excluded.receipt, received_at = now()",
        [device_id, request.request_id, request.camera, start, end, state, Jsonb(receipt)])


RESIDUAL = {
    "events": "SELECT count(*) FROM events WHERE device_id = %(device)s AND event_id = ANY(%(events)s)",
    "media_objects": "SELECT count(*) FROM media_objects WHERE device_id = %(device)s AND event_id = ANY(%(events)s)",
    "reanalysis_jobs": "SELECT count(*) FROM reanalysis_jobs WHERE device_id = %(device)s AND event_id = ANY(%(events)s)",
    "reanalysis_verdicts": "SELECT count(*) FROM reanalysis_verdicts WHERE device_id = %(device)s"
                           " AND event_id = ANY(%(events)s)",
    "reanalysis_events": "SELECT count(*) FROM reanalysis_events WHERE device_id = %(device)s"
                         " AND matched_event_id = ANY(%(events)s)",
    "hard_examples": "SELECT count(*) FROM hard_examples WHERE device_id = %(device)s AND camera = %(camera)s"
                     " AND taken_at >= %(start)s AND taken_at < %(end)s",
    "device_records": "SELECT count(*) FROM device_records WHERE device_id = %(device)s"
                      " AND EXISTS (SELECT 1 FROM unnest(%(events)s::text[]) e WHERE strpos(body::text, e) > 0)",
    "device_commands": "SELECT count(*) FROM device_commands WHERE device_id = %(device)s"
                       " AND body->>'event_id' = ANY(%(events)s)",
}


async def residual_references(conn: psycopg.AsyncConnection, store: MediaStore | None, device_id: str,
                              request: ErasureRequest, objects: list[str]) -> dict[str, int]:
    """Rows and objects at central still naming what an erasure removed (target: all 0); `privacy_erasures`, the
    receipt itself, is left out."""
    start, end = request.window
    params = {"device": device_id, "camera": request.camera, "start": start, "end": end,
              "events": list(request.event_ids)}
    counts = {}
    for name, sql in RESIDUAL.items():
        counts[name] = (await (await conn.execute(sql, params)).fetchone())[0]
    counts["objects"] = len(await asyncio.to_thread(store.existing, objects)) if store and objects else 0
    return counts
