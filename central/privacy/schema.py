"""Central's privacy tables (applied by vigia.central.migrations, after the re-analysis'): one row per erasure a
device asked for, with what central removed (its receipt), or the legal hold that refused it."""
from __future__ import annotations

MIGRATIONS: list[str] = [
    """
    CREATE TABLE privacy_erasures (
        device_id text NOT NULL,
        request_id text NOT NULL,
        camera text NOT NULL,
        window_from timestamptz NOT NULL,
        window_to timestamptz NOT NULL,
        state text NOT NULL CHECK (state IN ('erased', 'refused')),
        receipt jsonb NOT NULL,
        received_at timestamptz NOT NULL DEFAULT now(),
        PRIMARY KEY (device_id, request_id)
    );
    """,
]
