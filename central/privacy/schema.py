"""Central's privacy tables (applied by vigia.central.migrations, after the re-analysis'): one row per erasure a
device asked for, with what central removed (its receipt), or the legal hold that refused it; and who accessed footage
through central (`access_audit`)."""
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
    -- who looked at which footage through central (vigia.central.privacy.access): the dashboard's thumbnails and clips
    CREATE TABLE access_audit (
        id bigserial PRIMARY KEY,
        at timestamptz NOT NULL DEFAULT now(),
        username text NOT NULL,
        action text NOT NULL,
        target text NOT NULL,
        remote text,
        details jsonb NOT NULL DEFAULT '{}'
    );
    CREATE INDEX access_audit_at ON access_audit (at);
    """,
]
