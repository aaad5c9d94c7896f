"""The durable queue of alert notifications: one row per alert, level, change and channel (never made twice), tried
until delivered, a failed try again after `retry_s`, doubled each time up to `MAX_RETRY_S`. A notification whose
channel is no longer configured waits (the log says so) until it is again.
"""
from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING

import psycopg
from psycopg.rows import class_row

from vigia.central.alerts.channels.message import DeliveryFailed, Note
from vigia.central.alerts.links import ack_link, ack_token
from vigia.central.alerts.store import COLUMNS, Alert

if TYPE_CHECKING:
    from vigia.central.alerts.channels import Channel

log = logging.getLogger(__name__)

MAX_RETRY_S = 1800.0
BATCH = 100


@dataclass(frozen=True)
class Outcome:
    delivered: int = 0
    failed: int = 0


async def enqueue(conn: psycopg.AsyncConnection, alert: Alert, level: int, change: str, channels: tuple[str, ...],
                  now: dt.datetime) -> None:
    for channel in channels:
        await conn.execute("INSERT INTO central_alert_deliveries (alert_id, level, change, channel, next_try_at) "
                           "VALUES (%s, %s, %s, %s, %s) ON CONFLICT DO NOTHING", [alert.id, level, change, channel, now])


async def notified_channels(conn: psycopg.AsyncConnection, alert_id: int) -> tuple[str, ...]:
    """The channels told of the alert being raised (its resolution goes to them)."""
    cursor = await conn.execute("SELECT DISTINCT channel FROM central_alert_deliveries WHERE alert_id = %s "
                                "AND change = 'raised' ORDER BY channel", [alert_id])
    return tuple(row[0] for row in await cursor.fetchall())


@dataclass(frozen=True)
class _Due:
    id: int
    level: int
    change: str
    channel: str
    attempts: int


async def deliver_due(conn: psycopg.AsyncConnection, channels: Mapping[str, Channel], ack_key: bytes, public_url: str,
                      ack_ttl_s: float, retry_s: float, now: dt.datetime) -> Outcome:
    """Try every notification due at `now`, oldest first."""
    cursor = await conn.execute(
        "SELECT id, alert_id, level, change, channel, attempts FROM central_alert_deliveries "
        "WHERE state = 'pending' AND next_try_at <= %s ORDER BY id LIMIT %s", [now, BATCH])
    delivered = failed = 0
    alerts = conn.cursor(row_factory=class_row(Alert))
    for row_id, alert_id, level, change, channel, attempts in await cursor.fetchall():
        await alerts.execute(f"SELECT {COLUMNS} FROM central_alerts WHERE id = %s", [alert_id])
        alert = await alerts.fetchone()
        if channel not in channels:
            log.warning("alert %d: channel %s is not configured; its notification waits", alert_id, channel)
            await _failed(conn, row_id, attempts, "channel not configured", retry_s, now)
            failed += 1
            continue
        note = _note(alert, level, change, channel, ack_key, public_url, ack_ttl_s, now)
        try:
            result = await channels[channel].send(conn, note, attempts + 1)
        except DeliveryFailed as exc:
            log.warning("alert %d level %d (%s) to %s: try %d failed: %s", alert_id, level, change, channel, attempts + 1, exc)
            await _failed(conn, row_id, attempts, str(exc), retry_s, now)
            failed += 1
            continue
        await conn.execute("UPDATE central_alert_deliveries SET state = 'delivered', attempts = attempts + 1, "
                           "last_result = %s, delivered_at = %s WHERE id = %s", [result, now, row_id])
        log.info("alert %d level %d (%s) delivered to %s: %s", alert_id, level, change, channel, result)
        delivered += 1
    return Outcome(delivered, failed)


def _note(alert: Alert, level: int, change: str, channel: str, ack_key: bytes, public_url: str, ack_ttl_s: float,
          now: dt.datetime) -> Note:
    key = f"alert-{alert.id}-{level}-{change}"
    if change == "resolved":
        return Note(key, change, level, alert, None, None, None)
    token, expires = ack_token(ack_key, alert.id, channel.partition(":")[0], ack_ttl_s, now.timestamp())
    return Note(key, change, level, alert, ack_link(public_url, token), token, expires)


async def _failed(conn: psycopg.AsyncConnection, row_id: int, attempts: int, why: str, retry_s: float,
                  now: dt.datetime) -> None:
    wait = min(retry_s * 2 ** attempts, MAX_RETRY_S)
    await conn.execute("UPDATE central_alert_deliveries SET attempts = attempts + 1, last_result = %s, next_try_at = %s "
                       "WHERE id = %s", [why[:500], now + dt.timedelta(seconds=wait), row_id])


async def deliveries(conn: psycopg.AsyncConnection, alert_id: int) -> list[dict]:
    """An alert's notifications and their state, for the dashboard and the tests."""
    cursor = await conn.execute("SELECT level, change, channel, state, attempts, last_result, delivered_at "
                                "FROM central_alert_deliveries WHERE alert_id = %s ORDER BY id", [alert_id])
    return [{"level": lv, "change": ch, "channel": c, "state": s, "attempts": a, "last_result": r,
             "delivered_at": d.timestamp() if d else None} for lv, ch, c, s, a, r, d in await cursor.fetchall()]
