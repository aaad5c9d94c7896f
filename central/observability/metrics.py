"""Prometheus metrics of central's processes, each in a registry of its own (no process-global state).

The composition root builds one registry per process (`new_registry`), with any extra collectors it is given
(e.g. the backup age, `vigia_backup_last_success_age_seconds`), and the instruments of its process on it.
Names follow the appliance's (`vigia.appliance.metrics`): `vigia_central_*` for the ingest and the dashboard,
`vigia_reanalysis_*` for the workers.
"""
from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram
from prometheus_client.registry import Collector

from vigia.sync.protocol import Batch

BATCH_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)
REQUEST_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0)
JOB_BUCKETS = (0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 120.0, 300.0, 600.0)
IMAGE_BUCKETS = (1, 2, 4, 8, 16, 32, 64, 128)


def new_registry(collectors: Iterable[Collector] = ()) -> CollectorRegistry:
    """A process's registry, with the extra collectors the composition passes in."""
    registry = CollectorRegistry()
    for collector in collectors:
        registry.register(collector)
    return registry


@dataclass
class IngestMetrics:
    """`vigia central serve`: batches, records and refusals; when each device was last heard from here."""

    batches: Counter
    records: Counter
    batch_seconds: Histogram
    refusals: Counter
    dead_letters: Counter
    last_contact: Gauge
    newest_event: Gauge
    _newest: dict[str, float] = field(default_factory=dict)   # device: newest event start seen here

    @classmethod
    def create(cls, registry: CollectorRegistry) -> IngestMetrics:
        r = registry
        return cls(
            batches=Counter("vigia_central_batches", "Batches answered, by outcome (applied, refused, error)", ["outcome"],
                            registry=r),
            records=Counter("vigia_central_records", "Records applied (new to central), by kind", ["kind"], registry=r),
            batch_seconds=Histogram("vigia_central_batch_seconds", "Time to answer a batch, from its first byte read",
                                    buckets=BATCH_BUCKETS, registry=r),
            refusals=Counter("vigia_central_batch_refusals", "Batches refused, by the protocol's error code", ["reason"],
                             registry=r),
            dead_letters=Counter("vigia_central_dead_letters",
                                 "Dead letters received: records a device kept after central refused them, by kind",
                                 ["kind"], registry=r),
            last_contact=Gauge("vigia_central_device_last_contact_timestamp_seconds",
                               "When the device last had a request answered by this instance (batches, command"
                               " polls: every 30 s when idle)", ["device"], registry=r),
            newest_event=Gauge("vigia_central_device_newest_event_timestamp_seconds",
                               "Start of the newest event this instance applied for the device (its lag: now minus"
                               " this)", ["device"], registry=r),
        )

    def applied(self, batch: Batch, high_water_before: int, seconds: float) -> None:
        """A batch applied: the records past the high-water mark it found are new to central."""
        self.batches.labels("applied").inc()
        self.batch_seconds.observe(seconds)
        newest = self._newest.get(batch.device_id, float("-inf"))
        for record in batch.records:
            if record.seq > high_water_before:
                self.records.labels(record.kind).inc()
                if record.kind == "rejected":
                    self.dead_letters.labels(record.body.kind).inc()
                elif record.kind == "event" and record.body.started_at > newest:
                    newest = record.body.started_at
        if newest > self._newest.get(batch.device_id, float("-inf")):   # a backlog sends alerts first: never back
            self._newest[batch.device_id] = newest
            self.newest_event.labels(batch.device_id).set(newest)

    def failed(self, seconds: float) -> None:
        """A batch that met an error of central's (PostgreSQL unreachable...): the device sends it again."""
        self.batches.labels("error").inc()
        self.batch_seconds.observe(seconds)

    def refused(self, reason: str, seconds: float) -> None:
        self.batches.labels("refused").inc()
        self.refusals.labels(reason).inc()
        self.batch_seconds.observe(seconds)


@dataclass
class DashboardMetrics:
    """`vigia central dashboard`: requests by route and status."""

    requests: Counter
    request_seconds: Histogram

    @classmethod
    def create(cls, registry: CollectorRegistry) -> DashboardMetrics:
        r = registry
        return cls(
            requests=Counter("vigia_central_dashboard_requests", "Dashboard requests, by route and status",
                             ["method", "route", "status"], registry=r),
            request_seconds=Histogram("vigia_central_dashboard_request_seconds", "Dashboard request time, by route",
                                      ["route"], buckets=REQUEST_BUCKETS, registry=r),
        )


@dataclass
class WorkerMetrics:
    """`vigia central worker`: jobs by outcome and their time."""

    jobs: Counter
    job_seconds: Histogram
    batch_images: Histogram

    @classmethod
    def create(cls, registry: CollectorRegistry) -> WorkerMetrics:
        r = registry
        return cls(
            jobs=Counter("vigia_reanalysis_worker_jobs",
                         "Deliveries handled, by outcome: done, retried (back later), dead (dead-lettered)",
                         ["outcome"], registry=r),
            job_seconds=Histogram("vigia_reanalysis_job_seconds", "Time to analyse a clip and store the result",
                                  buckets=JOB_BUCKETS, registry=r),
            batch_images=Histogram("vigia_reanalysis_detector_batch_images",
                                   "Images in each detector run of a batching worker (the views of several jobs' frames)",
                                   buckets=IMAGE_BUCKETS, registry=r),
        )
