"""The dashboard's SQL over central's PostgreSQL: devices (and one device's history), events, daily counts, sites,
media keys."""
from __future__ import annotations

import datetime as dt
from dataclasses import asdict, dataclass

import psycopg
from psycopg.rows import dict_row

DEVICES_SQL = """
    SELECT d.device_id, s.site, left(d.identity_id, 8) AS short_id, d.high_water, d.enrolled_at, d.revoked_at,
           d.last_seen_at,
           coalesce(d.last_seen_at > now() - %(online)s, false) AS online,
           coalesce((SELECT jsonb_agg(r.body || jsonb_build_object('received_at', extract(epoch FROM r.received_at))
                                      ORDER BY r.key)
                     FROM device_records r WHERE r.device_id = d.device_id AND r.kind = 'camera_health'),
                    '[]'::jsonb) AS cameras,
           (SELECT r.body FROM device_records r WHERE r.device_id = d.device_id AND r.kind = 'metrics'
            ORDER BY r.received_at DESC, r.seq DESC LIMIT 1) AS metrics
    FROM devices d LEFT JOIN dashboard_device_sites s USING (device_id)
    WHERE %(device)s::text IS NULL OR d.device_id = %(device)s
    ORDER BY d.device_id"""

EVENT_COLUMNS = """e.device_id, s.site, e.event_id AS id, e.camera, e.rule, e.kind, e.zone, e.label, e.alert,
    e.max_score, extract(epoch FROM e.started_at) AS started_at, extract(epoch FROM e.ended_at) AS ended_at,
    extract(epoch FROM e.received_at) AS received_at, e.snapshot IS NOT NULL AS has_snapshot,
    EXISTS (SELECT 1 FROM media_objects m WHERE m.device_id = e.device_id AND m.event_id = e.event_id
            AND m.kind = 'thumbnail') AS has_thumbnail,
    EXISTS (SELECT 1 FROM media_objects m WHERE m.device_id = e.device_id AND m.event_id = e.event_id
            AND m.kind = 'clip') AS has_clip"""

EVENTS_SQL = f"""
    SELECT {EVENT_COLUMNS}
    FROM events e LEFT JOIN dashboard_device_sites s USING (device_id)
    WHERE (%(device)s::text IS NULL OR e.device_id = %(device)s)
      AND (%(site)s::text IS NULL OR s.site = %(site)s)
      AND (%(camera)s::text IS NULL OR e.camera = %(camera)s)
      AND (%(label)s::text IS NULL OR e.label = %(label)s)
      AND (%(since)s::float8 IS NULL OR e.started_at >= to_timestamp(%(since)s))
      AND (%(until)s::float8 IS NULL OR e.started_at < to_timestamp(%(until)s))
    ORDER BY e.started_at DESC, e.device_id, e.event_id
    LIMIT %(limit)s OFFSET %(offset)s"""

APPLIED_SQL = f"""
    SELECT {EVENT_COLUMNS}
    FROM events e LEFT JOIN dashboard_device_sites s USING (device_id)
    WHERE e.device_id = %s AND e.seq BETWEEN %s AND %s
    ORDER BY e.started_at DESC"""

COUNTS_SQL = """
    SELECT to_char(date_trunc('day', e.started_at AT TIME ZONE 'UTC'), 'YYYY-MM-DD') AS day, e.device_id, s.site,
           count(*) AS events, count(*) FILTER (WHERE e.alert) AS alerts
    FROM events e LEFT JOIN dashboard_device_sites s USING (device_id)
    WHERE e.started_at >= date_trunc('day', now() AT TIME ZONE 'UTC') AT TIME ZONE 'UTC' - %s
    GROUP BY 1, 2, 3 ORDER BY 1 DESC, 2"""


@dataclass(frozen=True)
class EventFilter:
    """The events page's filters; None: any."""

    device: str | None = None
    site: str | None = None
    camera: str | None = None
    label: str | None = None
    since: float | None = None   # epoch seconds, inclusive
    until: float | None = None   # epoch seconds, exclusive


async def _rows(conn: psycopg.AsyncConnection, sql: str, params) -> list[dict]:
    async with conn.cursor(row_factory=dict_row) as cursor:
        await cursor.execute(sql, params)
        return await cursor.fetchall()


async def devices(conn: psycopg.AsyncConnection, online_within: dt.timedelta, device_id: str | None = None) -> list[dict]:
    """Every device (or the one named) with its site, health and latest metrics; online if seen within `online_within`."""
    return await _rows(conn, DEVICES_SQL, {"online": online_within, "device": device_id})


async def events(conn: psycopg.AsyncConnection, where: EventFilter, limit: int, offset: int) -> list[dict]:
    """Newest first."""
    return await _rows(conn, EVENTS_SQL, {**asdict(where), "limit": limit, "offset": offset})


async def applied_events(conn: psycopg.AsyncConnection, device_id: str, first_seq: int, last_seq: int) -> list[dict]:
    """The events a batch of `device_id` applied (its records `first_seq`..`last_seq`), newest first."""
    return await _rows(conn, APPLIED_SQL, [device_id, first_seq, last_seq])


async def daily_counts(conn: psycopg.AsyncConnection, days: int) -> list[dict]:
    """Events and alerts per device (and its site) per UTC day, today and the `days` - 1 before."""
    return await _rows(conn, COUNTS_SQL, [dt.timedelta(days=days - 1)])


async def set_site(conn: psycopg.AsyncConnection, device_id: str, site: str) -> bool:
    """Put a device in a site; False when there is no such device."""
    cursor = await conn.execute(
        "INSERT INTO dashboard_device_sites (device_id, site) SELECT device_id, %s FROM devices"
        " WHERE device_id = %s ON CONFLICT (device_id) DO UPDATE SET site = excluded.site", [site, device_id])
    return cursor.rowcount > 0


async def media_key(conn: psycopg.AsyncConnection, device_id: str, event_id: str, kind: str) -> str | None:
    """The bucket key of an event's thumbnail or clip, if central checked and recorded one (media_objects)."""
    cursor = await conn.execute("SELECT key FROM media_objects WHERE device_id = %s AND event_id = %s"
                                " AND kind = %s ORDER BY uploaded_at DESC LIMIT 1", [device_id, event_id, kind])
    row = await cursor.fetchone()
    return None if row is None else row[0]


async def metrics_history(conn: psycopg.AsyncConnection, device_id: str, since: float) -> list[dict]:
    """The device's metrics roll-ups (each: the counts of one period, backlog, disk, version) whose period ended
    after `since` (epoch seconds), oldest first."""
    cursor = conn.cursor(row_factory=dict_row)
    await cursor.execute(
        """SELECT r.body FROM device_records r WHERE r.device_id = %s AND r.kind = 'metrics'
             AND CASE WHEN jsonb_typeof(r.body -> 'period_end') = 'number' THEN (r.body ->> 'period_end')::float8 END >= %s
           ORDER BY r.body -> 'period_end', r.seq""", [device_id, since])
    return [row["body"] for row in await cursor.fetchall()]


async def device_commands(conn: psycopg.AsyncConnection, device_id: str, limit: int) -> list[dict]:
    """The commands sent to the device, newest first, with who sent them and what the device answered."""
    return await _rows(conn, """
        SELECT id, kind, body, created_by, state, result, extract(epoch FROM created_at) AS created_at,
               extract(epoch FROM acked_at) AS acked_at
        FROM device_commands WHERE device_id = %s ORDER BY id DESC LIMIT %s""", [device_id, limit])


async def camera_layouts(conn: psycopg.AsyncConnection, device_id: str) -> list[dict]:
    """Each camera's zones, lines and rules and the detector's classes, as the device last sent them."""
    cursor = conn.cursor(row_factory=dict_row)
    await cursor.execute("SELECT r.body FROM device_records r WHERE r.device_id = %s AND r.kind = 'camera_layout'"
                         " ORDER BY r.key", [device_id])
    return [row["body"] for row in await cursor.fetchall()]
