"""The API's SQL over central's PostgreSQL: pages of devices, cameras, events, track summaries and verdicts,
newest first, with keyset cursors, always within the caller's sites.

Each query is composed from the filters given (no `x IS NULL OR ...`), so the planner sees the real conditions
and uses the indexes (events by time, by device, label or camera and time). A page asks for one row more than
it returns: the cursor of the last row shown is given only when there is more.
"""
from __future__ import annotations

import base64
import binascii
import datetime as dt
import json
from dataclasses import dataclass

import psycopg
from psycopg.rows import dict_row

VERDICTS = ("confirmed", "not_confirmed", "label_differs")


class CursorError(ValueError):
    pass


@dataclass(frozen=True)
class Filter:
    """What the caller asked for (None: any) and the sites it may see (None: every site)."""

    sites: tuple[str, ...] | None = None
    device: str | None = None
    site: str | None = None
    camera: str | None = None
    label: str | None = None
    since: float | None = None      # epoch seconds, inclusive
    until: float | None = None      # epoch seconds, exclusive
    alert: bool | None = None
    verdict: str | None = None


@dataclass(frozen=True)
class Page:
    items: list[dict]
    next_cursor: str | None


def encode_cursor(values: list) -> str:
    values = [v.isoformat() if isinstance(v, dt.datetime) else v for v in values]
    return base64.urlsafe_b64encode(json.dumps(values, separators=(",", ":")).encode()).decode().rstrip("=")


def decode_cursor(text: str, types: tuple[type, ...]) -> list:
    """A cursor given back by a page; CursorError when it is not one of `types`' shape."""
    try:
        values = json.loads(base64.urlsafe_b64decode(text + "=" * (-len(text) % 4)))
    except (binascii.Error, ValueError, UnicodeDecodeError):
        raise CursorError("not a cursor of this API (give back next_cursor as it came)") from None
    if not isinstance(values, list) or len(values) != len(types) or not all(
            isinstance(v, t) and not isinstance(v, bool) for v, t in zip(values, types)):
        raise CursorError("not a cursor of this list (give back next_cursor as it came)")
    return values


class Where:
    """Conditions of fixed SQL text with their values as parameters: the text of a query depends only on which
    filters are given, so PostgreSQL can keep its plan (the pool prepares statements)."""

    def __init__(self):
        self.conditions: list[str] = []
        self.params: list = []

    def add(self, condition: str, *params) -> Where:
        self.conditions.append(condition)
        self.params.extend(params)
        return self

    def sites(self, where: Filter, column: str) -> Where:
        if where.sites is not None:
            self.add(f"{column} = ANY(%s)", list(where.sites))
        if where.site is not None:
            self.add(f"{column} = %s", where.site)
        return self

    def sql(self) -> str:
        return " AND ".join(self.conditions) if self.conditions else "true"


async def _page(conn: psycopg.AsyncConnection, query: str, params: list, limit: int, cursor_of) -> Page:
    async with conn.cursor(row_factory=dict_row) as cursor:
        await cursor.execute(query, [*params, limit + 1])
        rows = await cursor.fetchall()
    more = len(rows) > limit
    rows = rows[:limit]
    return Page([_json_row(r) for r in rows], encode_cursor(cursor_of(rows[-1])) if more else None)


def _json_row(row: dict) -> dict:
    return {k: v.isoformat() if isinstance(v, dt.datetime) else v for k, v in row.items()}


def _time(epoch: float) -> dt.datetime:
    return dt.datetime.fromtimestamp(epoch, dt.timezone.utc)


def _cursor_time(text: str) -> dt.datetime:
    try:
        return dt.datetime.fromisoformat(text)
    except ValueError:
        raise CursorError("not a cursor of this list (give back next_cursor as it came)") from None


EVENT_COLUMNS = """e.device_id, s.site, e.event_id, e.camera, e.rule, e.kind, e.zone, e.label, e.track_id,
    e.alert, e.max_score, e.started_at, e.ended_at, e.snapshot IS NOT NULL AS has_snapshot"""


SAME_TIME = "interval '1 millisecond'"


async def events(conn: psycopg.AsyncConnection, where: Filter, limit: int, after: str | None) -> Page:
    """Events, newest first (ties by device and id)."""
    if where.verdict is not None:
        return await events_with_verdict(conn, where, limit, after)
    w = Where().sites(where, "s.site")
    for name in ("device_id", "camera", "label", "alert"):
        value = getattr(where, "device" if name == "device_id" else name)
        if value is not None:
            w.add(f"e.{name} = %s", value)
    if where.since is not None:
        w.add("e.started_at >= %s", _time(where.since))
    if where.until is not None:
        w.add("e.started_at < %s", _time(where.until))
    if after is not None:
        t, device, event = decode_cursor(after, (str, str, str))
        at = _cursor_time(t)
        w.add("e.started_at <= %s AND (e.started_at, e.device_id, e.event_id) < (%s, %s, %s)", at, at, device, event)
    query = f"""SELECT {EVENT_COLUMNS} FROM events e LEFT JOIN dashboard_device_sites s USING (device_id)
        WHERE {w.sql()} ORDER BY e.started_at DESC, e.device_id DESC, e.event_id DESC LIMIT %s"""
    return await _page(conn, query, w.params, limit, lambda r: [r["started_at"], r["device_id"], r["event_id"]])


async def events_with_verdict(conn: psycopg.AsyncConnection, where: Filter, limit: int, after: str | None) -> Page:
    """Events with a verdict of `where.verdict`, newest first, found from the verdicts' side.

    The re-analysis worker copies each event's camera, label and start (read from its row, through a float: within
    a microsecond) into its verdicts. So the walk goes down the verdicts' index newest first, drops what their
    copies already exclude, and looks each remaining event up in the one partition of its start (a lateral
    lookup: a nested loop that stops once the page is full), where the event's own columns are checked. Pages are
    ordered by the verdicts' copy of the start (ties by device and id), one row per event however many jobs judged it.
    """
    w = Where().add("v.verdict = %s", where.verdict).sites(where, "s.site")
    own = Where()
    for value, copy, column in ((where.device, "v.device_id", None), (where.camera, "v.camera", "e.camera"),
                                (where.label, "v.edge_label", "e.label"), (where.alert, None, "e.alert")):
        if value is not None:
            if copy is not None:
                w.add(f"{copy} = %s", value)
            if column is not None:
                own.add(f"{column} = %s", value)
    if where.since is not None:
        w.add(f"v.started_at >= %s::timestamptz - {SAME_TIME}", _time(where.since))
        own.add("e.started_at >= %s", _time(where.since))
    if where.until is not None:
        w.add(f"v.started_at < %s::timestamptz + {SAME_TIME}", _time(where.until))
        own.add("e.started_at < %s", _time(where.until))
    if after is not None:
        t, device, event = decode_cursor(after, (str, str, str))
        at = _cursor_time(t)
        w.add("v.started_at <= %s AND (v.started_at, v.device_id, v.event_id) < (%s, %s, %s)", at, at, device, event)
    query = f"""SELECT DISTINCT ON (v.started_at, v.device_id, v.event_id) {EVENT_COLUMNS}, v.started_at AS verdict_time
        FROM reanalysis_verdicts v
        LEFT JOIN dashboard_device_sites s ON s.device_id = v.device_id
        CROSS JOIN LATERAL (SELECT * FROM events e WHERE e.device_id = v.device_id AND e.event_id = v.event_id
            AND e.started_at >= v.started_at - {SAME_TIME} AND e.started_at <= v.started_at + {SAME_TIME}
            AND {own.sql()} LIMIT 1) e
        WHERE {w.sql()} ORDER BY v.started_at DESC, v.device_id DESC, v.event_id DESC LIMIT %s"""
    page = await _page(conn, query, [*own.params, *w.params], limit,
                       lambda r: [r["verdict_time"], r["device_id"], r["event_id"]])
    for item in page.items:
        del item["verdict_time"]
    return page


async def event(conn: psycopg.AsyncConnection, sites: tuple[str, ...] | None, device_id: str, event_id: str) -> dict | None:
    """One event, if the caller's sites include its device's."""
    w = Where().add("e.device_id = %s AND e.event_id = %s", device_id, event_id).sites(Filter(sites=sites), "s.site")
    query = f"""SELECT {EVENT_COLUMNS} FROM events e LEFT JOIN dashboard_device_sites s USING (device_id)
        WHERE {w.sql()} LIMIT %s"""
    page = await _page(conn, query, w.params, 1, lambda r: [])
    return page.items[0] if page.items else None


async def devices(conn: psycopg.AsyncConnection, where: Filter, limit: int, after: str | None) -> Page:
    """Devices by id: enrolment, revocation, last batch, site."""
    w = Where().sites(where, "s.site")
    if where.device is not None:
        w.add("d.device_id = %s", where.device)
    if after is not None:
        (device,) = decode_cursor(after, (str,))
        w.add("d.device_id > %s", device)
    query = f"""SELECT d.device_id, s.site, d.enrolled_at, d.revoked_at, d.last_seen_at
        FROM devices d LEFT JOIN dashboard_device_sites s USING (device_id)
        WHERE {w.sql()} ORDER BY d.device_id LIMIT %s"""
    return await _page(conn, query, w.params, limit, lambda r: [r["device_id"]])


async def cameras(conn: psycopg.AsyncConnection, where: Filter, limit: int, after: str | None) -> Page:
    """Each device's cameras and their health as the device last reported it, by device and camera."""
    w = Where().add("r.kind = 'camera_health'").sites(where, "s.site")
    if where.device is not None:
        w.add("r.device_id = %s", where.device)
    if where.camera is not None:
        w.add("r.key = %s", where.camera)
    if after is not None:
        device, camera = decode_cursor(after, (str, str))
        w.add("(r.device_id, r.key) > (%s, %s)", device, camera)
    query = f"""SELECT r.device_id, s.site, r.key AS camera, r.body ->> 'state' AS state,
            (r.body ->> 'since')::float8 AS since, r.body ->> 'last_error' AS last_error, r.received_at
        FROM device_records r LEFT JOIN dashboard_device_sites s USING (device_id)
        WHERE {w.sql()} ORDER BY r.device_id, r.key LIMIT %s"""
    return await _page(conn, query, w.params, limit, lambda r: [r["device_id"], r["camera"]])


LAST_SEEN = "(r.body ->> 'last_seen_at')::float8"   # as in the index device_records_tracks


async def tracks(conn: psycopg.AsyncConnection, where: Filter, limit: int, after: str | None) -> Page:
    """Track summaries (a track's label, times, best score and decimated path), the latest ended first."""
    w = Where().add("r.kind = 'track'").sites(where, "s.site")
    if where.device is not None:
        w.add("r.device_id = %s", where.device)
    if where.camera is not None:
        w.add("r.body ->> 'camera' = %s", where.camera)
    if where.label is not None:
        w.add("r.body ->> 'label' = %s", where.label)
    if where.since is not None:
        w.add(f"{LAST_SEEN} >= %s", where.since)
    if where.until is not None:
        w.add(f"{LAST_SEEN} < %s", where.until)
    if after is not None:
        t, device, key = decode_cursor(after, (float, str, str))
        w.add(f"({LAST_SEEN}, r.device_id, r.key) < (%s, %s, %s)", t, device, key)
    query = f"""SELECT r.device_id, s.site, r.key AS track_key, r.body ->> 'camera' AS camera,
            (r.body ->> 'track_id')::int AS track_id, r.body ->> 'label' AS label,
            (r.body ->> 'first_seen_at')::float8 AS first_seen_at, {LAST_SEEN} AS last_seen_at,
            (r.body ->> 'seconds')::float8 AS seconds, (r.body ->> 'max_score')::float8 AS max_score,
            (r.body ->> 'hits')::int AS hits, r.body -> 'path' AS path
        FROM device_records r LEFT JOIN dashboard_device_sites s USING (device_id)
        WHERE {w.sql()} ORDER BY {LAST_SEEN} DESC, r.device_id DESC, r.key DESC LIMIT %s"""
    return await _page(conn, query, w.params, limit, lambda r: [r["last_seen_at"], r["device_id"], r["track_key"]])


async def verdicts(conn: psycopg.AsyncConnection, where: Filter, limit: int, after: str | None,
                   event_id: str | None = None) -> Page:
    """Central's re-analysis verdicts on edge events, newest event first."""
    w = Where().sites(where, "s.site")
    for name, column in (("device", "v.device_id"), ("camera", "v.camera"), ("verdict", "v.verdict"),
                         ("label", "v.edge_label")):
        if getattr(where, name) is not None:
            w.add(f"{column} = %s", getattr(where, name))
    if event_id is not None:
        w.add("v.event_id = %s", event_id)
    if where.since is not None:
        w.add("v.started_at >= %s", _time(where.since))
    if where.until is not None:
        w.add("v.started_at < %s", _time(where.until))
    if after is not None:
        t, job, event = decode_cursor(after, (str, str, str))
        w.add("(v.started_at, v.job_id::text, v.event_id) < (%s, %s, %s)", _cursor_time(t), job, event)
    query = f"""SELECT v.device_id, s.site, v.event_id, v.job_id::text AS job_id, v.camera, v.rule, v.edge_label,
            v.verdict, v.central_label, v.central_track, v.agreement, v.started_at, r.model, r.finished_at
        FROM reanalysis_verdicts v JOIN reanalysis_results r USING (job_id)
        LEFT JOIN dashboard_device_sites s ON s.device_id = v.device_id
        WHERE {w.sql()} ORDER BY v.started_at DESC, v.job_id::text DESC, v.event_id DESC LIMIT %s"""
    return await _page(conn, query, w.params, limit, lambda r: [r["started_at"], r["job_id"], r["event_id"]])


async def clip_key(conn: psycopg.AsyncConnection, device_id: str, event_id: str, kind: str = "clip") -> str | None:
    """The bucket key of the event's clip (or thumbnail: `kind`), if central checked and recorded one."""
    cursor = await conn.execute("SELECT key FROM media_objects WHERE device_id = %s AND event_id = %s AND kind = %s"
                                " ORDER BY uploaded_at DESC LIMIT 1", [device_id, event_id, kind])
    row = await cursor.fetchone()
    return None if row is None else row[0]
