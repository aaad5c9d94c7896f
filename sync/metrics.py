"""Prometheus metrics of the uploader, registered in the appliance's own registry."""
from __future__ import annotations

from dataclasses import dataclass

from prometheus_client import CollectorRegistry, Counter, Gauge


@dataclass
class SyncMetrics:
    backlog: Gauge
    sent_records: Counter
    wire_bytes: Counter
    batches: Counter
    dropped: Counter
    dead_letters: Counter

    @classmethod
    def create(cls, registry: CollectorRegistry) -> SyncMetrics:
        r = registry
        return cls(
            backlog=Gauge("vigia_sync_backlog", "Records in the outbox waiting for central", ["kind"], registry=r),
            sent_records=Counter("vigia_sync_sent_records", "Records central acknowledged", registry=r),
            wire_bytes=Counter("vigia_sync_wire_bytes", "Compressed batch bytes sent to central", registry=r),
            batches=Counter("vigia_sync_batches", "Batch attempts by outcome", ["outcome"], registry=r),
            dropped=Counter("vigia_sync_dropped", "Low-priority records dropped because the outbox was full",
                            ["kind"], registry=r),
            dead_letters=Counter("vigia_sync_dead_letters", "Records central refused as malformed, kept as dead letters",
                                 ["kind"], registry=r),
        )
