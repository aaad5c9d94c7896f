"""The evaluator (`vigia central alerts-watch`): every `interval_s`, the conditions read, alerts opened and
resolved, due levels escalated, notifications delivered.

One instance works at a time: it holds a PostgreSQL session advisory lock (`WATCH_LOCK`) on its own connection;
any others wait for it and take over when that connection ends (the process stopped, died, or lost the database).
Nothing is kept between evaluations but what is in PostgreSQL, so a take-over continues where the last one stopped.
"""
from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import logging
from collections.abc import Mapping
from dataclasses import dataclass

import psycopg

from vigia.central.alerts import delivery, store
from vigia.central.alerts.channels import Channel, build_channels
from vigia.central.alerts.conditions import findings
from vigia.central.alerts.config import AlertsConfig
from vigia.central.alerts.links import stored_key
from vigia.central.migrations import migrate

log = logging.getLogger(__name__)

WATCH_LOCK = 0x76696769_41   # pg_try_advisory_lock key ("vigi" + purpose; vigia.central.migrations has the others)


@dataclass(frozen=True)
class Evaluation:
    opened: int
    escalated: int
    resolved: int
    delivered: int
    failed: int
    open: int


@dataclass
class Evaluator:
    """An evaluator's settings and channels, with the keys read from PostgreSQL once."""

    config: AlertsConfig
    channels: Mapping[str, Channel]
    ack_key: bytes

    @classmethod
    async def create(cls, conn: psycopg.AsyncConnection, config: AlertsConfig) -> Evaluator:
        uses_push = any(c.startswith("push") for levels in config.levels.values() for lv in levels for c in lv.notify)
        vapid = await stored_key(conn, "vapid") if uses_push else None
        return cls(config, build_channels(config, vapid), await stored_key(conn, "ack"))

    async def evaluate(self, conn: psycopg.AsyncConnection, now: dt.datetime | None = None) -> Evaluation:
        """One round at `now` (default: the database's clock)."""
        if now is None:
            now = (await (await conn.execute("SELECT now()")).fetchone())[0]
        config = self.config
        opened, resolved = await store.sync(conn, await findings(conn, config.conditions, now), now)
        for alert in opened:
            await delivery.enqueue(conn, alert, 1, "raised", config.levels[alert.kind][0].notify, now)
        escalated = await store.escalate(conn, config.levels, now)
        for alert in escalated:
            await delivery.enqueue(conn, alert, alert.level, "raised", config.levels[alert.kind][alert.level - 1].notify, now)
        for alert in resolved:
            await delivery.enqueue(conn, alert, alert.level, "resolved", await delivery.notified_channels(conn, alert.id), now)
        outcome = await delivery.deliver_due(conn, self.channels, self.ack_key, config.public_url,
                                             config.ack_ttl_minutes * 60, config.retry_s, now)
        still_open = (await (await conn.execute("SELECT count(*) FROM central_alerts WHERE resolved_at IS NULL")).fetchone())[0]
        result = Evaluation(len(opened), len(escalated), len(resolved), outcome.delivered, outcome.failed, still_open)
        if opened or escalated or resolved or outcome.delivered or outcome.failed:
            log.info("alerts: %s", result)
        return result


async def try_lock(conn: psycopg.AsyncConnection) -> bool:
    """Take the evaluator's lock for this connection's session, if no other holds it."""
    return (await (await conn.execute("SELECT pg_try_advisory_lock(%s)", [WATCH_LOCK])).fetchone())[0]


async def watch(dsn: str, config: AlertsConfig, stop: asyncio.Event) -> None:
    """Evaluate every `interval_s` while holding the lock, until `stop` is set; reconnects after a database fault."""
    while not stop.is_set():
        try:
            async with await psycopg.AsyncConnection.connect(dsn, autocommit=True) as conn:
                await migrate(conn)
                evaluator = await Evaluator.create(conn, config)
                while not await try_lock(conn):
                    log.info("alerts: another evaluator holds the lock; waiting")
                    if await _wait(stop, config.interval_s):
                        return
                log.info("alerts: evaluating every %g s", config.interval_s)
                while True:
                    await evaluator.evaluate(conn)
                    if await _wait(stop, config.interval_s):
                        return
        except (psycopg.OperationalError, OSError) as exc:
            log.warning("alerts: database unavailable (%s); trying again in %g s", exc, config.interval_s)
            if await _wait(stop, config.interval_s):
                return


async def _wait(stop: asyncio.Event, seconds: float) -> bool:
    """Sleep `seconds` or until `stop`; whether to stop."""
    with contextlib.suppress(TimeoutError):
        await asyncio.wait_for(stop.wait(), seconds)
    return stop.is_set()
