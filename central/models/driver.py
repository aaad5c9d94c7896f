"""Rollouts moved on by `vigia central serve` itself (with a bucket): every `interval` seconds each running rollout
takes a `step`. Several instances may do it at once: a step locks its rollout's row."""
from __future__ import annotations

import asyncio
import logging

from psycopg_pool import AsyncConnectionPool

from vigia.central.ingest.media import MediaSettings
from vigia.central.models.rollout import step

log = logging.getLogger(__name__)


async def drive_rollouts(pool: AsyncConnectionPool, bucket: MediaSettings, interval: float) -> None:
    """Until cancelled; a failed pass is logged and the next one tries again."""
    while True:
        await asyncio.sleep(interval)
        try:
            async with pool.connection() as conn:
                cursor = await conn.execute("SELECT id FROM rollouts WHERE state = 'running' ORDER BY id")
                for (rollout_id,) in await cursor.fetchall():
                    status = await step(conn, bucket, rollout_id)
                    if status["state"] != "running":
                        log.warning("rollout %d of %s: %s %s", rollout_id, status["model_id"], status["state"],
                                    status["reason"] or "")
        except Exception:  # noqa: BLE001 - the serving process outlives a failed pass
            log.exception("rollout step failed; next try in %.0f s", interval)
