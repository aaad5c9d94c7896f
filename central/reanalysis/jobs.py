"""Re-analysis jobs in PostgreSQL: made by the policy as batches arrive or on request, moved along as clips arrive.

`dispatch` is the step every worker process runs now and then (rows locked with SKIP LOCKED, so any number of
workers share it with no coordinator): ask devices for the clips of ended events, and publish the jobs whose
clip is in the bucket. A job is marked `queued` only after the broker confirmed it; a crash in between
publishes it again, and the worker's idempotent result makes that harmless.
"""
from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass

import psycopg
from psycopg.rows import dict_row

from vigia.central.ingest.command_store import issue
from vigia.central.reanalysis.policy import Policy, choose
from vigia.sync.protocol import EventBody

log = logging.getLogger(__name__)

CLIP_REQUEST_AGAIN_S = 6 * 3600   # an upload_clip command unanswered this long is sent again
DISPATCH_BATCH = 100


@dataclass(frozen=True)
class Job:
    """What goes on the queue: enough to find everything else in PostgreSQL and the bucket."""

    job_id: str
    device_id: str
    event_id: str
    camera: str
    clip_key: str
    priority: str

    def to_json(self) -> dict:
        return {"job_id": self.job_id, "device_id": self.device_id, "event_id": self.event_id, "camera": self.camera,
                "clip_key": self.clip_key, "priority": self.priority}


async def add_policy_jobs(conn: psycopg.AsyncConnection, device_id: str, events: Iterable[EventBody],
                          policy: Policy) -> int:
    """Jobs for the events `policy` picks (in the caller's transaction: the batch's); an event is picked once."""
    chosen = [c for c in (choose(policy, e) for e in events) if c is not None]
    if chosen:
        async with conn.cursor() as cursor:
            await cursor.executemany(
                "INSERT INTO reanalysis_jobs (device_id, event_id, camera, reason, priority) VALUES (%s, %s, %s, %s, %s)"
                " ON CONFLICT (device_id, event_id) WHERE reason <> 'requested' DO NOTHING",
                [(device_id, c.event_id, c.camera, c.reason, c.priority) for c in chosen])
    return len(chosen)


async def request(conn: psycopg.AsyncConnection, requested_by: str, device_id: str, event_id: str | None = None,
                  since: dt.datetime | None = None) -> list[str]:
    """On-demand jobs: one event, or every event of a device since a time. Returns the new job ids
    (an event that already has a job waiting or queued gets no second one)."""
    where, params = ("e.event_id = %s", [event_id]) if event_id is not None else ("e.started_at >= %s", [since])
    cursor = await conn.execute(
        f"""INSERT INTO reanalysis_jobs (device_id, event_id, camera, reason, priority, requested_by)
            SELECT e.device_id, e.event_id, e.camera, 'requested', CASE WHEN e.alert THEN 'alert' ELSE 'normal' END, %s
            FROM events e WHERE e.device_id = %s AND {where}
              AND NOT EXISTS (SELECT 1 FROM reanalysis_jobs j WHERE j.device_id = e.device_id
                              AND j.event_id = e.event_id AND j.state IN ('waiting_clip', 'ready', 'queued'))
            RETURNING job_id::text""", [requested_by, device_id, *params])
    return [row[0] for row in await cursor.fetchall()]


async def clip_arrived(conn: psycopg.AsyncConnection, device_id: str, event_id: str, key: str) -> None:
    """The event's clip is in the bucket (in the caller's transaction: the one that records it)."""
    await conn.execute("UPDATE reanalysis_jobs SET state = 'ready', clip_key = %s WHERE device_id = %s"
                       " AND event_id = %s AND state = 'waiting_clip'", [key, device_id, event_id])


async def dispatch(conn: psycopg.AsyncConnection, publish: Callable[[Job], Awaitable[None]]) -> tuple[int, int]:
    """One pass: clips asked for, ready jobs published. Returns (clips requested, jobs published)."""
    requested = await _find_or_request_clips(conn)
    published = 0
    async with conn.transaction():
        cursor = conn.cursor(row_factory=dict_row)
        await cursor.execute(
            "SELECT job_id::text, device_id, event_id, camera, clip_key, priority FROM reanalysis_jobs"
            " WHERE state = 'ready' ORDER BY priority = 'alert' DESC, created_at LIMIT %s FOR UPDATE SKIP LOCKED",
            [DISPATCH_BATCH])
        for row in await cursor.fetchall():
            await publish(Job(**row))
            await conn.execute("UPDATE reanalysis_jobs SET state = 'queued', queued_at = now() WHERE job_id = %s",
                               [row["job_id"]])
            published += 1
    return requested, published


async def _find_or_request_clips(conn: psycopg.AsyncConnection) -> int:
    """Jobs whose clip is in the bucket become ready; for ended events without one, the device is asked."""
    async with conn.transaction():
        await conn.execute(
            """UPDATE reanalysis_jobs j SET state = 'ready', clip_key = m.key FROM media_objects m
               WHERE j.state = 'waiting_clip' AND m.device_id = j.device_id AND m.event_id = j.event_id
                 AND m.kind = 'clip'""")
        cursor = await conn.execute(
            """SELECT j.job_id, j.device_id, j.event_id FROM reanalysis_jobs j
               JOIN events e ON e.device_id = j.device_id AND e.event_id = j.event_id
               WHERE j.state = 'waiting_clip' AND e.ended_at IS NOT NULL
                 AND (j.clip_requested_at IS NULL OR j.clip_requested_at < now() - make_interval(secs => %s))
               LIMIT %s FOR UPDATE OF j SKIP LOCKED""", [CLIP_REQUEST_AGAIN_S, DISPATCH_BATCH])
        rows = await cursor.fetchall()
        for job_id, device_id, event_id in rows:
            await issue(conn, device_id, "upload_clip", {"event_id": event_id}, "reanalysis")
            await conn.execute("UPDATE reanalysis_jobs SET clip_requested_at = now() WHERE job_id = %s", [job_id])
    return len(rows)


async def fail(conn: psycopg.AsyncConnection, job_id: str, error: str) -> None:
    await conn.execute("UPDATE reanalysis_jobs SET state = 'failed', error = %s, finished_at = now(),"
                       " attempts = attempts + 1 WHERE job_id = %s AND state <> 'done'", [error[:4000], job_id])


async def queue_stats(conn: psycopg.AsyncConnection) -> dict:
    """Jobs by state, and the age of the oldest open one (seconds)."""
    cursor = await conn.execute(
        "SELECT state, count(*), extract(epoch FROM now() - min(created_at)) FROM reanalysis_jobs GROUP BY state")
    rows = await cursor.fetchall()
    by_state = {state: count for state, count, _ in rows}
    open_ages = [age for state, _, age in rows if state in ("waiting_clip", "ready", "queued")]
    return {"by_state": by_state, "oldest_open_s": round(float(max(open_ages)), 1) if open_ages else None}

