"""What central's PostgreSQL knows of the fleet, read at scrape time: a Prometheus collector.

Prometheus cannot reach appliances behind NAT, so central reports them from what they send: per device the
seconds since its last batch, its outbox backlog and free disk (from its latest metrics roll-up); per camera
whether it is online, and its state (camera_health records); the re-analysis jobs open in PostgreSQL; and the
replication of PostgreSQL itself (a primary's standbys, or a standby's replay delay; absent otherwise).

`refresh(pool)` runs the queries (async, before the exposition is generated); `collect()` reports the snapshot.
Every ingest instance reports the same fleet: the rules take `max by (device)`.
"""
from __future__ import annotations

import logging
from collections.abc import Iterator
from dataclasses import dataclass, field

import psycopg
from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.registry import Collector
from psycopg_pool import AsyncConnectionPool

log = logging.getLogger(__name__)

OPEN_JOB_STATES = ("waiting_clip", "ready", "queued")

DEVICES_SQL = """
    SELECT d.device_id,
           extract(epoch FROM now() - coalesce(d.last_seen_at, d.enrolled_at))::float8,
           (m.body ->> 'backlog')::float8, (m.body ->> 'disk_free_bytes')::float8,
           (m.body ->> 'disk_total_bytes')::float8
    FROM devices d
    LEFT JOIN LATERAL (SELECT r.body FROM device_records r WHERE r.device_id = d.device_id AND r.kind = 'metrics'
                       ORDER BY r.key DESC LIMIT 1) m ON true
    WHERE d.enrolled_at IS NOT NULL AND d.revoked_at IS NULL"""

CAMERAS_SQL = """
    SELECT d.device_id, c.key, c.state FROM devices d
    CROSS JOIN LATERAL (SELECT r.key, r.body ->> 'state' AS state FROM device_records r
                        WHERE r.device_id = d.device_id AND r.kind = 'camera_health') c
    WHERE d.enrolled_at IS NOT NULL AND d.revoked_at IS NULL"""

JOBS_SQL = """
    SELECT state, count(*), extract(epoch FROM now() - min(created_at))::float8 FROM reanalysis_jobs
    WHERE state = ANY(%s) GROUP BY state"""

# replay_lag is NULL once a standby has caught up and the primary is idle (0 then), and for a role without pg_monitor
# (every column NULL: no series rather than a false 0)
STANDBYS_SQL = """
    SELECT application_name, coalesce(extract(epoch FROM replay_lag)::float8,
                                      CASE WHEN replay_lsn = pg_current_wal_lsn() THEN 0.0 END)
    FROM pg_stat_replication"""
REPLAY_SQL = "SELECT pg_is_in_recovery(), extract(epoch FROM now() - pg_last_xact_replay_timestamp())::float8"


@dataclass(frozen=True)
class DeviceState:
    device: str
    last_batch_age_s: float | None
    backlog: float | None
    disk_free_bytes: float | None
    disk_total_bytes: float | None


@dataclass(frozen=True)
class FleetSnapshot:
    devices: list[DeviceState] = field(default_factory=list)
    cameras: list[tuple[str, str, str]] = field(default_factory=list)   # device, camera, state
    open_jobs: dict[str, tuple[int, float]] = field(default_factory=dict)   # state: (count, oldest's age in seconds)
    standby_lag_s: dict[str, float] = field(default_factory=dict)   # a primary's standbys: replay lag
    replay_delay_s: float | None = None   # on a standby: now minus the last replayed transaction's time


async def read_fleet(conn: psycopg.AsyncConnection) -> FleetSnapshot:
    devices = [DeviceState(*row) for row in await (await conn.execute(DEVICES_SQL)).fetchall()]
    cameras = [tuple(row) for row in await (await conn.execute(CAMERAS_SQL)).fetchall()]
    jobs = {state: (count, age) for state, count, age in
            await (await conn.execute(JOBS_SQL, [list(OPEN_JOB_STATES)])).fetchall()}
    standbys = {name: lag for name, lag in await (await conn.execute(STANDBYS_SQL)).fetchall() if lag is not None}
    in_recovery, replay_delay = await (await conn.execute(REPLAY_SQL)).fetchone()
    return FleetSnapshot(devices, cameras, jobs, standbys, replay_delay if in_recovery else None)


class FleetCollector(Collector):
    """The latest snapshot as gauges; `vigia_central_fleet_up` is 0 when the last read failed."""

    def __init__(self) -> None:
        self.snapshot: FleetSnapshot | None = None

    async def refresh(self, pool: AsyncConnectionPool) -> None:
        try:
            async with pool.connection(timeout=5) as conn:
                self.snapshot = await read_fleet(conn)
        except (psycopg.Error, OSError, TimeoutError) as exc:
            log.warning("fleet metrics: cannot read PostgreSQL: %s", exc)
            self.snapshot = None

    def collect(self) -> Iterator[Metric]:
        snapshot = self.snapshot or FleetSnapshot()
        up = GaugeMetricFamily("vigia_central_fleet_up", "1 when the fleet's state was read from PostgreSQL")
        up.add_metric([], 0.0 if self.snapshot is None else 1.0)
        yield up
        yield from _device_families(snapshot.devices)
        online = GaugeMetricFamily("vigia_central_camera_online", "1 when the camera's last reported state is online;"
                                   " `state` is that state", labels=["device", "camera", "state"])
        for device, camera, state in snapshot.cameras:
            online.add_metric([device, camera, state or "unknown"], 1.0 if state == "online" else 0.0)
        yield online
        yield from _job_families(snapshot.open_jobs)
        yield from _replication_families(snapshot)


def _device_families(devices: list[DeviceState]) -> Iterator[Metric]:
    labels = ["device"]
    age = GaugeMetricFamily("vigia_central_device_last_batch_age_seconds",
                            "Seconds since the device's last batch (since its enrolment when none came)", labels=labels)
    backlog = GaugeMetricFamily("vigia_central_device_backlog_records",
                                "Records in the device's outbox, from its latest metrics roll-up", labels=labels)
    free = GaugeMetricFamily("vigia_central_device_disk_free_bytes", "Free bytes of the device's data volume,"
                             " from its latest metrics roll-up", labels=labels)
    ratio = GaugeMetricFamily("vigia_central_device_disk_free_ratio", "Free share of the device's data volume,"
                              " from its latest metrics roll-up", labels=labels)
    for d in devices:
        for family, value in ((age, d.last_batch_age_s), (backlog, d.backlog),
                              (free, d.disk_free_bytes)):
            if value is not None:
                family.add_metric([d.device], value)
        if d.disk_free_bytes is not None and d.disk_total_bytes:
            ratio.add_metric([d.device], d.disk_free_bytes / d.disk_total_bytes)
    yield from (age, backlog, free, ratio)


def _job_families(open_jobs: dict[str, tuple[int, float]]) -> Iterator[Metric]:
    count = GaugeMetricFamily("vigia_reanalysis_jobs_open", "Re-analysis jobs not finished, by state", labels=["state"])
    oldest = GaugeMetricFamily("vigia_reanalysis_oldest_job_age_seconds",
                               "Age of the oldest re-analysis job in each open state", labels=["state"])
    for state in OPEN_JOB_STATES:
        jobs, age = open_jobs.get(state, (0, None))
        count.add_metric([state], float(jobs))
        if age is not None:
            oldest.add_metric([state], age)
    yield from (count, oldest)


def _replication_families(snapshot: FleetSnapshot) -> Iterator[Metric]:
    lag = GaugeMetricFamily("vigia_central_pg_replication_lag_seconds",
                            "A standby's replay lag, seen from the primary (pg_stat_replication)", labels=["standby"])
    for standby, seconds in snapshot.standby_lag_s.items():
        lag.add_metric([standby], seconds)
    delay = GaugeMetricFamily("vigia_central_pg_replay_delay_seconds",
                              "On a standby: now minus the time of the last transaction replayed")
    if snapshot.replay_delay_s is not None:
        delay.add_metric([], snapshot.replay_delay_s)
    yield from (lag, delay)
