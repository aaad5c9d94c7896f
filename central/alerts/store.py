"""Alerts in PostgreSQL: opened and resolved from the findings, escalated, acknowledged; every change audited.

Idempotent: an evaluation that runs twice at one instant (or two evaluators racing past the lock) opens no second
alert (the partial unique index on open alerts), and escalation and acknowledgement change a row only from the
state they expect.
"""
from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import TYPE_CHECKING

import psycopg
from psycopg.rows import class_row
from psycopg.types.json import Jsonb

if TYPE_CHECKING:   # the dashboard imports this module; the settings' parser (YAML) stays out of it
    from vigia.central.alerts.conditions import Finding
    from vigia.central.alerts.config import Level

COLUMNS = ("id, kind, subject, device_id, camera, summary, detail, opened_at, level, level_at, acked_at, acked_by, "
           "resolved_at")


@dataclass(frozen=True)
class Alert:
    id: int
    kind: str
    subject: str
    device_id: str
    camera: str | None
    summary: str
    detail: dict
    opened_at: dt.datetime
    level: int
    level_at: dt.datetime
    acked_at: dt.datetime | None
    acked_by: str | None
    resolved_at: dt.datetime | None

    def as_json(self) -> dict:
        """Times as epoch seconds."""
        return {name: (value.timestamp() if isinstance(value, dt.datetime) else value)
                for name, value in self.__dict__.items()}


async def _audit(conn: psycopg.AsyncConnection, alert_id: int, action: str, actor: str, via: str, at: dt.datetime,
                 detail: dict) -> None:
    await conn.execute("INSERT INTO central_alert_audit (alert_id, action, actor, via, at, detail) "
                       "VALUES (%s, %s, %s, %s, %s, %s)", [alert_id, action, actor, via, at, Jsonb(detail)])


async def open_alerts(conn: psycopg.AsyncConnection) -> list[Alert]:
    cursor = conn.cursor(row_factory=class_row(Alert))
    await cursor.execute(f"SELECT {COLUMNS} FROM central_alerts WHERE resolved_at IS NULL ORDER BY id")
    return await cursor.fetchall()


async def get_alert(conn: psycopg.AsyncConnection, alert_id: int) -> Alert | None:
    cursor = conn.cursor(row_factory=class_row(Alert))
    await cursor.execute(f"SELECT {COLUMNS} FROM central_alerts WHERE id = %s", [alert_id])
    return await cursor.fetchone()


async def list_alerts(conn: psycopg.AsyncConnection, include_resolved: bool, limit: int) -> list[Alert]:
    """Open alerts first (newest first), then, when asked, the resolved ones (newest first)."""
    cursor = conn.cursor(row_factory=class_row(Alert))
    where = "" if include_resolved else "WHERE resolved_at IS NULL"
    await cursor.execute(f"SELECT {COLUMNS} FROM central_alerts {where} "
                         "ORDER BY resolved_at IS NOT NULL, opened_at DESC, id DESC LIMIT %s", [limit])
    return await cursor.fetchall()


async def sync(conn: psycopg.AsyncConnection, found: list[Finding], now: dt.datetime) -> tuple[list[Alert], list[Alert]]:
    """Open an alert for each finding without one, refresh the figures of those open, resolve the open alerts no
    finding is behind any more; returns (opened, resolved)."""
    opened = []
    current = {(f.kind, f.subject) for f in found}
    cursor = conn.cursor(row_factory=class_row(Alert))
    for f in found:
        async with conn.transaction():
            await cursor.execute(
                f"INSERT INTO central_alerts (kind, subject, device_id, camera, summary, detail, opened_at, level_at) "
                f"VALUES (%s, %s, %s, %s, %s, %s, %s, %s) "
                f"ON CONFLICT (kind, subject) WHERE resolved_at IS NULL DO NOTHING RETURNING {COLUMNS}",
                [f.kind, f.subject, f.device_id, f.camera, f.summary, Jsonb(f.detail), now, now])
            alert = await cursor.fetchone()
            if alert is not None:
                await _audit(conn, alert.id, "opened", "central", "evaluator", now, {"summary": f.summary, **f.detail})
                opened.append(alert)
            else:
                await conn.execute("UPDATE central_alerts SET summary = %s, detail = %s "
                                   "WHERE kind = %s AND subject = %s AND resolved_at IS NULL",
                                   [f.summary, Jsonb(f.detail), f.kind, f.subject])
    resolved = []
    for alert in await open_alerts(conn):
        if (alert.kind, alert.subject) in current:
            continue
        async with conn.transaction():
            await cursor.execute(f"UPDATE central_alerts SET resolved_at = %s WHERE id = %s AND resolved_at IS NULL "
                                 f"RETURNING {COLUMNS}", [now, alert.id])
            done = await cursor.fetchone()
            if done is not None:
                await _audit(conn, done.id, "resolved", "central", "evaluator", now, {"summary": done.summary})
                resolved.append(done)
    return opened, resolved


async def escalate(conn: psycopg.AsyncConnection, levels: dict[str, tuple[Level, ...]], now: dt.datetime) -> list[Alert]:
    """Move each open, unacknowledged alert whose next level is due to it (one level per evaluation); returns them
    at their new level."""
    escalated = []
    cursor = conn.cursor(row_factory=class_row(Alert))
    for alert in await open_alerts(conn):
        steps = levels.get(alert.kind, ())
        if alert.acked_at is not None or alert.level >= len(steps):
            continue
        if now < alert.level_at + dt.timedelta(minutes=steps[alert.level].after_minutes):
            continue
        async with conn.transaction():
            await cursor.execute(f"UPDATE central_alerts SET level = level + 1, level_at = %s WHERE id = %s AND level = %s "
                                 f"AND acked_at IS NULL AND resolved_at IS NULL RETURNING {COLUMNS}",
                                 [now, alert.id, alert.level])
            moved = await cursor.fetchone()
            if moved is not None:
                await _audit(conn, moved.id, "escalated", "central", "evaluator", now,
                             {"level": moved.level, "unacknowledged_minutes": steps[alert.level].after_minutes})
                escalated.append(moved)
    return escalated


async def acknowledge(conn: psycopg.AsyncConnection, alert_id: int, actor: str, via: str,
                      now: dt.datetime | None = None) -> tuple[Alert | None, bool]:
    """(the alert, whether this acknowledged it): an alert already acknowledged or resolved stays as it is."""
    now = now or dt.datetime.now(dt.timezone.utc)
    cursor = conn.cursor(row_factory=class_row(Alert))
    async with conn.transaction():
        await cursor.execute(f"UPDATE central_alerts SET acked_at = %s, acked_by = %s WHERE id = %s AND acked_at IS NULL "
                             f"AND resolved_at IS NULL RETURNING {COLUMNS}", [now, actor, alert_id])
        alert = await cursor.fetchone()
        if alert is not None:
            await _audit(conn, alert_id, "acknowledged", actor, via, now, {"level": alert.level})
            return alert, True
    return await get_alert(conn, alert_id), False


async def audit_trail(conn: psycopg.AsyncConnection, alert_id: int) -> list[dict]:
    cursor = await conn.execute("SELECT action, actor, via, at, detail FROM central_alert_audit WHERE alert_id = %s "
                                "ORDER BY id", [alert_id])
    return [{"action": a, "actor": actor, "via": via, "at": at.timestamp(), "detail": d}
            for a, actor, via, at, d in await cursor.fetchall()]
