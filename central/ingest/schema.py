"""The ingest's tables in central's PostgreSQL: its migration steps, and events partitioned by month.

The steps are applied by `vigia.central.migrations` (with the dashboard's). Monthly partitions of `events` are
made on demand by the ingest (`ensure_partitions`), under an advisory lock of their own.
"""
from __future__ import annotations

import datetime as dt
import logging

import psycopg

log = logging.getLogger(__name__)

PARTITION_LOCK = 0x76696769_02   # pg_advisory_xact_lock key: "vigi" + purpose (vigia.central.migrations has the others)

MIGRATIONS: list[str] = [
    # 1: devices, enrolment tokens, events (by month), other records (latest version per key)
    """
    CREATE TABLE devices (
        device_id text PRIMARY KEY,
        high_water bigint NOT NULL DEFAULT 0,
        cert_serial text,
        enrolled_at timestamptz,
        revoked_at timestamptz,
        last_seen_at timestamptz
    );
    CREATE TABLE enrolment_tokens (
        token_sha256 text PRIMARY KEY,
        device_id text NOT NULL,
        created_at timestamptz NOT NULL DEFAULT now(),
        expires_at timestamptz NOT NULL,
        used_at timestamptz
    );
    CREATE TABLE events (
        device_id text NOT NULL,
        event_id text NOT NULL,
        seq bigint NOT NULL,
        camera text NOT NULL,
        rule text NOT NULL,
        kind text NOT NULL,
        zone text,
        label text NOT NULL,
        track_id integer,
        start double precision NOT NULL,
        "end" double precision,
        started_at timestamptz NOT NULL,
        ended_at timestamptz,
        max_score real NOT NULL,
        box jsonb NOT NULL,
        alert boolean NOT NULL,
        snapshot text,
        path jsonb NOT NULL,
        attributes jsonb NOT NULL,
        received_at timestamptz NOT NULL DEFAULT now(),
        -- started_at is the first 48 bits of the ULID event id, so this is unique on (device_id, event_id)
        PRIMARY KEY (device_id, event_id, started_at)
    ) PARTITION BY RANGE (started_at);
    CREATE TABLE device_records (
        device_id text NOT NULL,
        kind text NOT NULL,
        key text NOT NULL,
        seq bigint NOT NULL,
        body jsonb NOT NULL,
        received_at timestamptz NOT NULL DEFAULT now(),
        PRIMARY KEY (device_id, kind, key)
    );
    """,
    # 2: media in object storage (vigia.central.ingest.media), checked against its SHA-256 before it is recorded
    """
    CREATE TABLE media_objects (
        device_id text NOT NULL,
        key text NOT NULL,
        kind text NOT NULL,
        event_id text NOT NULL,
        size bigint NOT NULL,
        sha256 text NOT NULL,
        uploaded_at timestamptz NOT NULL DEFAULT now(),
        PRIMARY KEY (device_id, key)
    );
    CREATE INDEX media_objects_event ON media_objects (device_id, event_id);
    """,
    # 3: commands to devices (vigia.central.ingest.commands) and their audit trail
    """
    CREATE TABLE device_commands (
        id bigserial PRIMARY KEY,
        device_id text NOT NULL,
        kind text NOT NULL CHECK (kind IN ('upload_clip', 'set_layout', 'rotate_credentials')),
        body jsonb NOT NULL,
        created_at timestamptz NOT NULL DEFAULT now(),
        created_by text NOT NULL,
        state text NOT NULL DEFAULT 'pending' CHECK (state IN ('pending', 'done', 'failed')),
        acked_at timestamptz,
        result jsonb
    );
    CREATE INDEX device_commands_pending ON device_commands (device_id, id) WHERE state = 'pending';
    CREATE TABLE command_audit (
        id bigserial PRIMARY KEY,
        command_id bigint NOT NULL REFERENCES device_commands (id),
        device_id text NOT NULL,
        action text NOT NULL CHECK (action IN ('issued', 'acked')),
        actor text NOT NULL,
        at timestamptz NOT NULL DEFAULT now(),
        detail jsonb NOT NULL
    );
    """,
    # 4: the device's permanent identity (vigia.central.ingest.enrolment): its Ed25519 public key (raw, base64) and
    # its id (SHA-256 hex of the raw key, the appliance's device id), recorded at enrolment
    """
    ALTER TABLE devices ADD COLUMN identity_key text, ADD COLUMN identity_id text;
    """,
    # 5: a rotated certificate waits in pending_serial until the device first presents it; until then the
    # one before it still works (vigia.central.ingest.enrolment.check_certificate), so a crash mid-rotation loses nothing
    """
    ALTER TABLE devices ADD COLUMN pending_serial text;
    """,
    # 6: retention and legal hold (vigia.central.holds, vigia.central.retention). A hold keeps a device's, a site's
    # or an event's rows past retention and its objects past the bucket's lifecycle (media_objects.held: the object
    # carries the hold tags). Track summaries and metrics roll-ups stay in device_records, deleted by date
    # (received_at): that table keeps the latest version per key, which a partition by date cannot.
    """
    CREATE TABLE legal_holds (
        id bigserial PRIMARY KEY,
        scope text NOT NULL CHECK (scope IN ('device', 'site', 'event')),
        target text NOT NULL,
        reason text NOT NULL,
        created_by text NOT NULL,
        created_at timestamptz NOT NULL DEFAULT now(),
        released_by text,
        released_at timestamptz
    );
    CREATE INDEX legal_holds_active ON legal_holds (scope, target) WHERE released_at IS NULL;
    CREATE TABLE legal_hold_audit (
        id bigserial PRIMARY KEY,
        hold_id bigint NOT NULL REFERENCES legal_holds (id),
        action text NOT NULL CHECK (action IN ('placed', 'released')),
        actor text NOT NULL,
        at timestamptz NOT NULL DEFAULT now(),
        detail jsonb NOT NULL
    );
    CREATE TABLE retention_runs (
        id bigserial PRIMARY KEY,
        days integer NOT NULL,
        cutoff timestamptz NOT NULL,
        started_at timestamptz NOT NULL DEFAULT now(),
        finished_at timestamptz,
        report jsonb
    );
    ALTER TABLE media_objects ADD COLUMN held boolean NOT NULL DEFAULT false;
    CREATE INDEX device_records_received ON device_records (kind, received_at);
    """,
]


def held(alias: str, events: bool = True) -> str:
    """SQL: the row `alias` (with device_id, and event_id when `events`) is under an active legal hold
    (vigia.central.holds; a site is the dashboard's)."""
    event = f" OR (h.scope = 'event' AND h.target = {alias}.event_id)" if events else ""
    return (f"EXISTS (SELECT 1 FROM legal_holds h WHERE h.released_at IS NULL AND ("
            f"(h.scope = 'device' AND h.target = {alias}.device_id){event}"
            f" OR (h.scope = 'site' AND h.target IN (SELECT s.site FROM dashboard_device_sites s"
            f" WHERE s.device_id = {alias}.device_id))))")


def month_of(epoch_seconds: float) -> dt.date:
    when = dt.datetime.fromtimestamp(epoch_seconds, dt.timezone.utc)
    return dt.date(when.year, when.month, 1)


def partition_name(month: dt.date) -> str:
    return f"events_{month:%Y_%m}"


async def ensure_partitions(conn: psycopg.AsyncConnection, months: set[dt.date]) -> None:
    """Make the monthly partitions of `events` that are missing (UTC months), in their own transaction."""
    async with conn.transaction():
        await conn.execute("SELECT pg_advisory_xact_lock(%s)", [PARTITION_LOCK])
        for month in sorted(months):
            following = dt.date(month.year + month.month // 12, month.month % 12 + 1, 1)
            await conn.execute(
                f"CREATE TABLE IF NOT EXISTS {partition_name(month)} PARTITION OF events "
                f"FOR VALUES FROM ('{month.isoformat()} 00:00:00+00') TO ('{following.isoformat()} 00:00:00+00')")
