"""`vigia bench fleet-metrics --json`: what one scrape of an ingest instance's /metrics costs PostgreSQL as the
fleet grows: devices with their cameras' state records, a month of hourly metrics roll-ups and track summaries
each, open re-analysis jobs; the fleet read (`vigia.central.observability.fleet`) and the exposition timed."""
from __future__ import annotations

import asyncio
import json
import statistics
import time

import psycopg
from prometheus_client import generate_latest
from psycopg_pool import AsyncConnectionPool

from vigia.app.devstack import temporary_database
from vigia.central.migrations import migrate
from vigia.central.observability.fleet import FleetCollector
from vigia.central.observability.metrics import new_registry

SEED = [s for s in """
    INSERT INTO devices (device_id, enrolled_at, last_seen_at)
        SELECT 'dev-' || d, now() - interval '30 days', now() - make_interval(secs => d) FROM generate_series(1, %(devices)s) d;
    INSERT INTO device_records (device_id, kind, key, seq, body)
        SELECT 'dev-' || d, 'camera_health', 'cam-' || c, c,
               jsonb_build_object('camera', 'cam-' || c, 'state', CASE WHEN c = 1 THEN 'reconnecting' ELSE 'online' END)
        FROM generate_series(1, %(devices)s) d, generate_series(1, %(cameras)s) c;
    INSERT INTO device_records (device_id, kind, key, seq, body)
        SELECT 'dev-' || d, 'metrics', to_char(extract(epoch FROM now()) - h * 3600, 'FM9999999999.000'), 1000 + h,
               jsonb_build_object('backlog', h, 'disk_free_bytes', 1e9, 'disk_total_bytes', 1e10, 'cameras', '{}'::jsonb)
        FROM generate_series(1, %(devices)s) d, generate_series(1, %(rollups)s) h;
    INSERT INTO device_records (device_id, kind, key, seq, body)
        SELECT 'dev-' || d, 'track', 'cam-1:' || t, 100000 + t,
               jsonb_build_object('camera', 'cam-1', 'label', 'person', 'path', '[[0, 0.1, 0.2], [1, 0.2, 0.3]]'::jsonb)
        FROM generate_series(1, %(devices)s) d, generate_series(1, %(tracks)s) t;
    INSERT INTO reanalysis_jobs (device_id, event_id, camera, reason, priority, state, created_at)
        SELECT 'dev-' || (j %% %(devices)s + 1), 'ev-' || j, 'cam-1', 'sample', 'normal',
               (ARRAY['waiting_clip', 'ready', 'queued', 'done'])[j %% 4 + 1], now() - make_interval(secs => j)
        FROM generate_series(1, %(jobs)s) j
""".split(";")]


def run(args) -> None:
    sizes = {"devices": args.devices, "cameras": args.cameras, "rollups": args.rollups, "tracks": args.tracks,
             "jobs": args.jobs}
    with temporary_database() as dsn:
        with psycopg.connect(dsn, autocommit=True) as conn:
            asyncio.run(_migrate(dsn))
            began = time.perf_counter()
            for statement in SEED:
                conn.execute(statement, sizes)
            conn.execute("ANALYZE")
            seeded_s = time.perf_counter() - began
            rows = conn.execute("SELECT count(*) FROM device_records").fetchone()[0]
        result = asyncio.run(_scrapes(dsn, args.scrapes))
    print(json.dumps({"fleet": sizes, "device_records": rows, "seed_s": round(seeded_s, 1), **result}))


async def _migrate(dsn: str) -> None:
    async with await psycopg.AsyncConnection.connect(dsn, autocommit=True) as conn:
        await migrate(conn)


async def _scrapes(dsn: str, scrapes: int) -> dict:
    collector = FleetCollector()
    registry = new_registry([collector])
    reads, expositions = [], []
    async with AsyncConnectionPool(dsn, min_size=1, max_size=1, open=False) as pool:
        await pool.open(wait=True)
        for _ in range(scrapes + 1):   # the first warms the connection and the caches
            began = time.perf_counter()
            await collector.refresh(pool)
            read = time.perf_counter()
            text = generate_latest(registry)
            reads.append(read - began)
            expositions.append(time.perf_counter() - read)
    reads, expositions = reads[1:], expositions[1:]
    assert collector.snapshot is not None, "the fleet read failed"
    return {"scrapes": scrapes, "read_ms_median": round(1000 * statistics.median(reads), 1),
            "read_ms_max": round(1000 * max(reads), 1),
            "exposition_ms_median": round(1000 * statistics.median(expositions), 1),
            "exposition_bytes": len(text), "series": sum(1 for line in text.splitlines() if not line.startswith(b"#"))}
