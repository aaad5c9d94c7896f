"""The dashboard's SQL over the re-analysis tables (`vigia.central.reanalysis.schema`): one event's re-analysis,
the disagreements between the edge and central, per camera rates per day, and the jobs that failed.

An edge event may be judged by more than one job (asked for again, or inside the clip of a neighbouring event):
the verdict of the job that finished last is central's word on it, here and in the rates.
"""
from __future__ import annotations

import datetime as dt
from dataclasses import asdict, dataclass

import psycopg
from psycopg.rows import dict_row

from vigia.central.dashboard.queries import EVENT_COLUMNS

KINDS = ("not_confirmed", "label_differs", "missed")
OPEN_STATES = ("waiting_clip", "ready", "queued")
STATES = (*OPEN_STATES, "done", "failed")

JOB_COLUMNS = """j.job_id::text, j.device_id, j.event_id, j.camera, j.reason, j.priority, j.state, j.attempts, j.error,
    j.requested_by, extract(epoch FROM j.created_at) AS created_at, extract(epoch FROM j.queued_at) AS queued_at,
    extract(epoch FROM j.finished_at) AS finished_at"""



def latest_verdicts(where: str) -> str:
    """The latest verdict on each edge event (by when its job's result was written) among those `where` keeps;
    `where` may only look at what every verdict on one event shares (device, camera, time, the edge's label)."""
    return f"""
        SELECT DISTINCT ON (v.device_id, v.event_id) v.*, r.finished_at AS analysed_at
        FROM reanalysis_verdicts v JOIN reanalysis_results r USING (job_id)
        WHERE {where}
        ORDER BY v.device_id, v.event_id, r.finished_at DESC, v.job_id"""


# When central saw a missed object: its wall clock, else the clip's start plus its clip time, else the analysis.
MISSED_AT = "coalesce(c.started_at, r.clip_start + make_interval(secs => c.start), r.finished_at)"

_VERDICT_FILTER = """(%(device)s::text IS NULL OR v.device_id = %(device)s)
      AND (%(camera)s::text IS NULL OR v.camera = %(camera)s)
      AND (%(since)s::float8 IS NULL OR v.started_at >= to_timestamp(%(since)s))
      AND (%(until)s::float8 IS NULL OR v.started_at < to_timestamp(%(until)s))"""

DISAGREEMENTS_SQL = f"""
    SELECT d.*, s.site FROM (
        SELECT v.verdict AS kind, v.device_id, v.camera, v.rule, v.edge_label, v.central_label, v.event_id,
               v.job_id::text, v.agreement, NULL::real AS max_score, NULL::jsonb AS box, v.started_at, v.analysed_at
        FROM ({latest_verdicts(_VERDICT_FILTER)}) v WHERE v.verdict <> 'confirmed'
        UNION ALL
        SELECT 'missed', c.device_id, c.camera, c.rule, NULL, c.label, j.event_id, c.job_id::text, NULL, c.max_score,
               c.box, {MISSED_AT}, r.finished_at
        FROM reanalysis_events c JOIN reanalysis_results r USING (job_id) JOIN reanalysis_jobs j USING (job_id)
        WHERE c.missed
    ) d LEFT JOIN dashboard_device_sites s USING (device_id)
    WHERE (%(device)s::text IS NULL OR d.device_id = %(device)s)
      AND (%(site)s::text IS NULL OR s.site = %(site)s)
      AND (%(camera)s::text IS NULL OR d.camera = %(camera)s)
      AND (%(label)s::text IS NULL OR d.edge_label = %(label)s OR d.central_label = %(label)s)
      AND (%(kind)s::text IS NULL OR d.kind = %(kind)s)
      AND (%(since)s::float8 IS NULL OR d.started_at >= to_timestamp(%(since)s))
      AND (%(until)s::float8 IS NULL OR d.started_at < to_timestamp(%(until)s))
    ORDER BY d.started_at DESC, d.device_id, d.job_id, d.event_id
    LIMIT %(limit)s OFFSET %(offset)s"""

# Per camera per UTC day: the latest verdicts of the events that started that day, and the missed objects.
RATES_SQL = f"""
    WITH since AS (SELECT date_trunc('day', now() AT TIME ZONE 'UTC') AT TIME ZONE 'UTC' - %(window)s AS at),
    verdicts AS (
        SELECT v.device_id, v.camera, to_char(v.started_at AT TIME ZONE 'UTC', 'YYYY-MM-DD') AS day,
               count(*) AS verdicts, count(*) FILTER (WHERE v.verdict = 'confirmed') AS confirmed,
               count(*) FILTER (WHERE v.verdict = 'not_confirmed') AS not_confirmed,
               count(*) FILTER (WHERE v.verdict = 'label_differs') AS label_differs
        FROM ({latest_verdicts("v.started_at >= (SELECT at FROM since)")}) v
        GROUP BY 1, 2, 3),
    missed AS (
        SELECT c.device_id, c.camera, to_char({MISSED_AT} AT TIME ZONE 'UTC', 'YYYY-MM-DD') AS day, count(*) AS missed
        FROM reanalysis_events c JOIN reanalysis_results r USING (job_id), since
        WHERE c.missed AND {MISSED_AT} >= since.at
        GROUP BY 1, 2, 3)
    SELECT device_id, s.site, camera, day, coalesce(v.verdicts, 0) AS verdicts, coalesce(v.confirmed, 0) AS confirmed,
           coalesce(v.not_confirmed, 0) AS not_confirmed, coalesce(v.label_differs, 0) AS label_differs,
           coalesce(m.missed, 0) AS missed
    FROM verdicts v FULL JOIN missed m USING (device_id, camera, day) LEFT JOIN dashboard_device_sites s USING (device_id)
    WHERE (%(device)s::text IS NULL OR device_id = %(device)s)
      AND (%(camera)s::text IS NULL OR camera = %(camera)s)
    ORDER BY device_id, camera, day"""


@dataclass(frozen=True)
class DisagreementFilter:
    """The disagreements page's filters; None: any."""

    device: str | None = None
    site: str | None = None
    camera: str | None = None
    label: str | None = None     # the edge's label or central's
    kind: str | None = None      # one of KINDS
    since: float | None = None   # epoch seconds, inclusive
    until: float | None = None   # epoch seconds, exclusive


async def _rows(conn: psycopg.AsyncConnection, sql: str, params) -> list[dict]:
    async with conn.cursor(row_factory=dict_row) as cursor:
        await cursor.execute(sql, params)
        return await cursor.fetchall()


async def _row(conn: psycopg.AsyncConnection, sql: str, params) -> dict | None:
    found = await _rows(conn, sql, params)
    return found[0] if found else None


async def edge_event(conn: psycopg.AsyncConnection, device_id: str, event_id: str) -> dict | None:
    """The event as the events list has it, with the edge's box (normalised x1, y1, x2, y2) and path."""
    return await _row(conn, f"""
        SELECT {EVENT_COLUMNS}, e.box, e.path
        FROM events e LEFT JOIN dashboard_device_sites s USING (device_id)
        WHERE e.device_id = %s AND e.event_id = %s""", [device_id, event_id])


async def event_jobs(conn: psycopg.AsyncConnection, device_id: str, event_id: str) -> list[dict]:
    """The event's re-analysis jobs, newest first."""
    return await _rows(conn, f"SELECT {JOB_COLUMNS} FROM reanalysis_jobs j WHERE j.device_id = %s AND j.event_id = %s"
                             " ORDER BY j.created_at DESC, j.job_id", [device_id, event_id])


async def latest_verdict(conn: psycopg.AsyncConnection, device_id: str, event_id: str) -> dict | None:
    return await _row(conn, """
        SELECT v.job_id::text, v.verdict, v.rule, v.edge_label, v.central_label, v.central_track, v.agreement
        FROM reanalysis_verdicts v JOIN reanalysis_results r USING (job_id)
        WHERE v.device_id = %s AND v.event_id = %s ORDER BY r.finished_at DESC, v.job_id LIMIT 1""",
        [device_id, event_id])


async def analysis_of(conn: psycopg.AsyncConnection, job_id: str) -> dict:
    """A job's result: what was analysed, with central's tracks and the events of the camera's rules they make."""
    result = await _row(conn, """
        SELECT job_id::text, model, frames, duration_s, worker, extract(epoch FROM clip_start) AS clip_start,
               extract(epoch FROM finished_at) AS finished_at
        FROM reanalysis_results WHERE job_id = %s""", [job_id])
    tracks = await _rows(conn, "SELECT track, label, first_seen, last_seen, max_score, best_t, best_box, path"
                               " FROM reanalysis_tracks WHERE job_id = %s ORDER BY track", [job_id])
    events = await _rows(conn, """
        SELECT rule, label, track, start, "end", extract(epoch FROM started_at) AS started_at, max_score, box, missed,
               matched_event_id
        FROM reanalysis_events WHERE job_id = %s ORDER BY start, id""", [job_id])
    return {**result, "tracks": tracks, "events": events}


async def latest_done_job(conn: psycopg.AsyncConnection, device_id: str, event_id: str) -> str | None:
    row = await _row(conn, "SELECT job_id::text FROM reanalysis_jobs WHERE device_id = %s AND event_id = %s"
                           " AND state = 'done' ORDER BY finished_at DESC, job_id LIMIT 1", [device_id, event_id])
    return None if row is None else row["job_id"]


async def open_job(conn: psycopg.AsyncConnection, device_id: str, event_id: str) -> str | None:
    """The event's job still waiting for its clip, ready or queued, if any."""
    row = await _row(conn, "SELECT job_id::text FROM reanalysis_jobs WHERE device_id = %s AND event_id = %s"
                           " AND state = ANY(%s) ORDER BY created_at DESC LIMIT 1", [device_id, event_id, list(OPEN_STATES)])
    return None if row is None else row["job_id"]


async def disagreements(conn: psycopg.AsyncConnection, where: DisagreementFilter, limit: int, offset: int) -> list[dict]:
    """Latest verdicts that disagree, and the objects the edge missed, newest first."""
    return await _rows(conn, DISAGREEMENTS_SQL, {**asdict(where), "limit": limit, "offset": offset})


def _share(part: int, whole: int) -> float | None:
    return round(part / whole, 4) if whole else None


async def daily_rates(conn: psycopg.AsyncConnection, days: int, device: str | None = None,
                      camera: str | None = None) -> list[dict]:
    """Per camera per UTC day (today and the `days` - 1 before): the false-alarm rate (not confirmed / all
    verdicts) and the missed rate (missed / (confirmed + missed)), with the counts they come from."""
    rows = await _rows(conn, RATES_SQL, {"window": dt.timedelta(days=days - 1), "device": device, "camera": camera})
    return [{**row, "false_alarm_rate": _share(row["not_confirmed"], row["verdicts"]),
             "missed_rate": _share(row["missed"], row["confirmed"] + row["missed"])} for row in rows]


async def failed_jobs(conn: psycopg.AsyncConnection, limit: int) -> list[dict]:
    """The jobs that failed for good, newest first, with their error."""
    return await _rows(conn, f"SELECT {JOB_COLUMNS} FROM reanalysis_jobs j WHERE j.state = 'failed'"
                             " ORDER BY j.finished_at DESC NULLS LAST, j.job_id LIMIT %s", [limit])


async def oldest_open_jobs(conn: psycopg.AsyncConnection, limit: int) -> list[dict]:
    """The jobs waiting longest (for their clip, to be published, or on the queue)."""
    return await _rows(conn, f"SELECT {JOB_COLUMNS} FROM reanalysis_jobs j WHERE j.state = ANY(%s)"
                             " ORDER BY j.created_at, j.job_id LIMIT %s", [list(OPEN_STATES), limit])
