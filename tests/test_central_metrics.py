"""Central's /metrics against a real PostgreSQL: the ingest's counters as batches are applied and refused, the fleet's
gauges read from the database at scrape time, extra collectors from the composition, the dashboard's requests."""
from __future__ import annotations

import asyncio
import json
import time

import aiohttp
import psycopg
import pytest
from prometheus_client import generate_latest
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.parser import text_string_to_metric_families
from prometheus_client.registry import Collector
from psycopg_pool import AsyncConnectionPool
from support.pg_standby import STANDBY_NAME, primary_and_standby
from support.waiting import wait_for

from vigia.app.devstack import free_port, temporary_database
from vigia.appliance.outbox import Pending, camera_health_record, event_record
from vigia.central.dashboard.app import create_app as dashboard_app
from vigia.central.dashboard.common import API_PREFIX, DashboardSettings
from vigia.central.ingest.ca import init_ca
from vigia.central.ingest.enrolment import DeviceIdentity, enrol_device
from vigia.central.ingest.server import CentralSettings
from vigia.central.ingest.server import create_app as ingest_app
from vigia.central.migrations import migrate
from vigia.central.observability.endpoint import metrics_app
from vigia.central.observability.fleet import FleetCollector
from vigia.central.observability.metrics import new_registry
from vigia.central.reanalysis.policy import Policy
from vigia.kit.serve import running
from vigia.scene.events import Event, new_event_id
from vigia.sync.protocol import encode_batch

DEVICE, SERIAL = "gate-07", 0x7A


class BackupAge(Collector):
    """Stands for the pgBackRest collector the composition passes in: any collector goes into the registry."""

    def collect(self):
        gauge = GaugeMetricFamily("vigia_backup_last_success_age_seconds", "Seconds since the last good backup")
        gauge.add_metric([], 1234.0)
        yield gauge


def samples(text: str) -> dict[tuple[str, tuple], float]:
    """(name, sorted labels) -> value, from an exposition."""
    return {(s.name, tuple(sorted(s.labels.items()))): s.value
            for family in text_string_to_metric_families(text) for s in family.samples}


def event(started_at: float, alert: bool) -> Event:
    return Event(id=new_event_id(started_at), camera="door", rule="object", kind="present", zone=None, label="person",
                 track_id=3, start=1.0, started_at=started_at, max_score=0.9, box=(0.1, 0.2, 0.3, 0.6), alert=alert,
                 end=2.0, ended_at=started_at + 1.0, path=[(0.0, 0.2, 0.6)])


def records(now: float) -> tuple[list[Pending], list[Event]]:
    """Two events (one an alert), two camera states, a metrics roll-up and a dead letter, as an appliance sends them."""
    events = [event(now - 300, alert=False), event(now - 120, alert=True)]
    pending = [Pending(i + 1, "event", e.id, json.dumps(event_record(e.to_row()).body)) for i, e in enumerate(events)]
    for camera, state in (("door", "reconnecting"), ("yard", "online")):
        health = camera_health_record(camera, state, now - 60, None)
        pending.append(Pending(len(pending) + 1, health.kind, health.key, json.dumps(health.body)))
    rollup = {"version": "test", "model": "yolox_nano", "period_start": now - 3600, "period_end": now, "uptime_s": 3600,
              "backlog": 2500, "disk_free_bytes": 80 << 30, "disk_total_bytes": 1000 << 30, "cameras": {}}
    pending.append(Pending(len(pending) + 1, "metrics", f"{now:.3f}", json.dumps(rollup)))
    pending.append(Pending(len(pending) + 1, "rejected", "01JBADEVENT",
                           json.dumps({"kind": "event", "key": "01JBADEVENT", "error": "records.0.body: bad"})))
    return pending, events


@pytest.fixture(scope="module")
def dsn():
    with temporary_database() as dsn:
        async def prepare():
            async with await psycopg.AsyncConnection.connect(dsn, autocommit=True) as conn:
                await migrate(conn)
                await enrol_device(conn, DEVICE, SERIAL, DeviceIdentity(DEVICE, DEVICE))
        asyncio.run(prepare())
        yield dsn


PROXY_HEADERS = {"X-Client-Verify": "SUCCESS", "X-Client-S-DN": f"CN={DEVICE}", "X-Client-Serial": f"{SERIAL:X}"}
BATCH_HEADERS = {"Content-Type": "application/json", "Content-Encoding": "gzip"}


def test_ingest_metrics_count_batches_and_report_the_fleet_from_postgresql(dsn, tmp_path):
    """What NGINX would pass on (the proxy's headers, from 127.0.0.1), straight to an ingest instance."""
    init_ca(tmp_path / "ca")
    registry = new_registry([BackupAge()])
    settings = CentralSettings(dsn, tmp_path / "ca", reanalysis=Policy(alerts=True, sample=0.0, score_below=None))
    port = free_port()
    before = time.time()
    pending, events = records(before)
    body = encode_batch(DEVICE, pending)

    async def main():
        async with running(ingest_app(settings, registry), "127.0.0.1", port, auto_decompress=False), \
                aiohttp.ClientSession(f"http://127.0.0.1:{port}") as http:
            async def post(headers) -> int:
                async with http.post("/v1/batches", data=body, headers=headers) as reply:
                    return reply.status

            async def scrape() -> dict:
                async with http.get("/metrics") as reply:
                    assert reply.status == 200 and reply.content_type == "text/plain"
                    return samples(await reply.text())

            statuses = [await post({**BATCH_HEADERS, **PROXY_HEADERS}),   # applied
                        await post({**BATCH_HEADERS, **PROXY_HEADERS}),   # sent twice: replayed
                        await post(BATCH_HEADERS)]                        # no certificate
            first = await scrape()
            after = time.time()
            async with await psycopg.AsyncConnection.connect(dsn, autocommit=True) as conn:
                await conn.execute("UPDATE devices SET last_seen_at = now() - interval '1 hour' WHERE device_id = %s",
                                   [DEVICE])
            return statuses, first, await scrape(), after

    statuses, first, second, after = asyncio.run(main())
    assert statuses == [200, 409, 401]
    device = (("device", DEVICE),)
    assert first[("vigia_central_batches_total", (("outcome", "applied"),))] == 1
    assert first[("vigia_central_batches_total", (("outcome", "refused"),))] == 2
    assert first[("vigia_central_batch_refusals_total", (("reason", "replayed"),))] == 1
    assert first[("vigia_central_batch_refusals_total", (("reason", "unauthenticated"),))] == 1
    assert first[("vigia_central_batch_seconds_count", ())] == 3
    assert {k[1][0][1]: v for k, v in first.items() if k[0] == "vigia_central_records_total"} == {
        "event": 2, "camera_health": 2, "metrics": 1, "rejected": 1}
    assert first[("vigia_central_dead_letters_total", (("kind", "event"),))] == 1
    # heard from when its batch was answered (the refused ones do not count)
    assert before <= first[("vigia_central_device_last_contact_timestamp_seconds", device)] <= after
    # the newest event's start, whatever the order in the batch (lag: now minus it)
    assert first[("vigia_central_device_newest_event_timestamp_seconds", device)] == max(e.started_at for e in events)
    # the fleet, from PostgreSQL at scrape time
    assert first[("vigia_central_fleet_up", ())] == 1
    assert 0 <= first[("vigia_central_device_last_batch_age_seconds", device)] <= after - before + 1
    assert first[("vigia_central_device_backlog_records", device)] == 2500
    assert first[("vigia_central_device_disk_free_bytes", device)] == 80 << 30
    assert first[("vigia_central_device_disk_free_ratio", device)] == pytest.approx(0.08)
    assert first[("vigia_central_camera_online", (("camera", "door"), ("device", DEVICE), ("state", "reconnecting")))] == 0
    assert first[("vigia_central_camera_online", (("camera", "yard"), ("device", DEVICE), ("state", "online")))] == 1
    assert first[("vigia_reanalysis_jobs_open", (("state", "waiting_clip"),))] == 1   # the alert's job
    assert first[("vigia_reanalysis_jobs_open", (("state", "queued"),))] == 0
    assert 0 <= first[("vigia_reanalysis_oldest_job_age_seconds", (("state", "waiting_clip"),))] <= after - before + 1
    assert ("vigia_reanalysis_oldest_job_age_seconds", (("state", "queued"),)) not in first   # no queued job: no age
    # no standby, not a standby: no replication series
    assert not [k for k in first if k[0].startswith("vigia_central_pg_")]
    # the composition's extra collector
    assert first[("vigia_backup_last_success_age_seconds", ())] == 1234
    # read again at the next scrape
    assert 3600 <= second[("vigia_central_device_last_batch_age_seconds", device)] <= 3600 + time.time() - before + 1


def test_the_fleet_reads_as_down_when_postgresql_cannot_be_reached():
    """A scrape while the database is unreachable: `vigia_central_fleet_up` 0 and no stale fleet series."""
    collector = FleetCollector()
    registry = new_registry([collector])

    async def main():
        nowhere = f"postgresql://postgres@127.0.0.1:{free_port()}/none?connect_timeout=1"
        async with AsyncConnectionPool(nowhere, min_size=1, max_size=1, open=False) as pool:
            await pool.open(wait=False)
            await collector.refresh(pool)

    asyncio.run(main())
    exposed = samples(generate_latest(registry).decode())
    assert exposed[("vigia_central_fleet_up", ())] == 0
    assert [k for k in exposed if k[0] != "vigia_central_fleet_up"] == [
        ("vigia_reanalysis_jobs_open", (("state", s),)) for s in ("waiting_clip", "ready", "queued")]


def test_the_dashboard_counts_requests_by_route_and_status_on_its_own_metrics_listener(dsn):
    registry = new_registry()
    port, metrics_port = free_port(), free_port()

    async def main():
        async with running(dashboard_app(DashboardSettings(dsn), registry), "127.0.0.1", port), \
                running(metrics_app(registry), "127.0.0.1", metrics_port), aiohttp.ClientSession() as http:
            for _ in range(2):
                async with http.get(f"http://127.0.0.1:{port}{API_PREFIX}/devices") as reply:
                    assert reply.status == 401   # no session
            async with http.get(f"http://127.0.0.1:{port}/metrics") as reply:
                assert reply.status != 200, "no metrics on the dashboard's own port"
            async with http.get(f"http://127.0.0.1:{metrics_port}/metrics") as reply:
                assert reply.status == 200
                return samples(await reply.text())

    exposed = asyncio.run(main())
    route = f"{API_PREFIX}/devices"
    assert exposed[("vigia_central_dashboard_requests_total", (("method", "GET"), ("route", route), ("status", "401")))] == 2
    assert exposed[("vigia_central_dashboard_request_seconds_count", (("route", route),))] == 2
    assert exposed[("vigia_central_dashboard_requests_total",
                    (("method", "GET"), ("route", "unmatched"), ("status", "404")))] == 1


def test_replication_lag_is_reported_from_the_primary_and_the_replay_delay_on_the_standby():
    """A real primary and its streaming standby: the primary names the standby and its lag; the standby says how
    old the last transaction it replayed is; neither reports the other's series."""
    with primary_and_standby() as (primary, standby):
        with psycopg.connect(primary, autocommit=True) as conn:
            conn.execute("CREATE TABLE marks (at timestamptz)")
            conn.execute("INSERT INTO marks VALUES (now())")

        async def scrape(dsn: str, migrated: bool) -> dict:
            collector = FleetCollector()
            async with AsyncConnectionPool(dsn, min_size=1, max_size=1, open=False) as pool:
                await pool.open(wait=True, timeout=30)
                if not migrated:
                    async with pool.connection() as conn:
                        await conn.set_autocommit(True)
                        await migrate(conn)
                await collector.refresh(pool)
            return samples(generate_latest(new_registry([collector])).decode())

        def replayed() -> bool:
            with psycopg.connect(standby) as conn:
                return conn.execute("SELECT to_regclass('reanalysis_jobs') IS NOT NULL").fetchone()[0]

        asyncio.run(scrape(primary, migrated=False))
        assert wait_for(replayed, 30), "the standby replays the migrations"
        lag_key = ("vigia_central_pg_replication_lag_seconds", (("standby", STANDBY_NAME),))
        scrapes = []

        def primary_reports_the_lag() -> bool:   # the standby reports its progress in its own time (every few seconds)
            scrapes.append(asyncio.run(scrape(primary, migrated=True)))
            return lag_key in scrapes[-1]

        assert wait_for(primary_reports_the_lag, 30, 0.5), scrapes[-1]
        on_primary = scrapes[-1]
        on_standby = asyncio.run(scrape(standby, migrated=True))
    assert 0 <= on_primary[lag_key] < 60
    assert ("vigia_central_pg_replay_delay_seconds", ()) not in on_primary
    assert on_standby[("vigia_central_fleet_up", ())] == 1
    assert on_standby[("vigia_central_pg_replay_delay_seconds", ())] >= 0
    assert not [k for k in on_standby if k[0] == "vigia_central_pg_replication_lag_seconds"]
