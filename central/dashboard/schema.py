"""The fleet dashboard's tables in central's PostgreSQL: its own migration list and version table.

Kept apart from `vigia.central.ingest.schema` (the ingest's) so the two evolve without renumbering each other;
the same advisory-lock pattern lets several dashboard instances start at once.
"""
from __future__ import annotations

import logging

import psycopg

log = logging.getLogger(__name__)

MIGRATION_LOCK = 0x76696769_10   # "vigi" + purpose, beside vigia.central.ingest.schema's keys

MIGRATIONS: list[str] = [
    # 1: dashboard users (scrypt hashes, roles), their sessions (SHA-256 of the cookie only), the site of
    #    each device (set in the dashboard), events by time
    """
    CREATE TABLE dashboard_users (
        username text PRIMARY KEY,
        password_hash text NOT NULL,
        role text NOT NULL CHECK (role IN ('viewer', 'operator', 'admin')),
        created_at timestamptz NOT NULL DEFAULT now(),
        failed_logins integer NOT NULL DEFAULT 0,
        locked_until timestamptz
    );
    CREATE TABLE dashboard_sessions (
        token_hash text PRIMARY KEY,
        username text NOT NULL REFERENCES dashboard_users ON DELETE CASCADE,
        csrf_token text NOT NULL,
        created_at timestamptz NOT NULL DEFAULT now(),
        expires_at timestamptz NOT NULL,
        last_seen timestamptz NOT NULL DEFAULT now()
    );
    CREATE TABLE dashboard_device_sites (
        device_id text PRIMARY KEY,
        site text NOT NULL
    );
    CREATE INDEX events_started ON events (started_at);  -- the events page: newest first, by time range
    """,
    # 2: login attempts per client address (`vigia.central.dashboard.accounts.login`): a row per attempt still counted
    #    as failed, pruned once older than the policy's window; shared by every dashboard instance
    """
    CREATE TABLE dashboard_login_failures (
        id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
        address text NOT NULL,
        failed_at timestamptz NOT NULL DEFAULT now()
    );
    CREATE INDEX dashboard_login_failures_address ON dashboard_login_failures (address, failed_at);
    CREATE INDEX dashboard_login_failures_at ON dashboard_login_failures (failed_at);
    """,
]


async def migrate(conn: psycopg.AsyncConnection) -> int:
    """Apply the dashboard's pending migrations (after the ingest's: it indexes `events`)."""
    async with conn.transaction():
        await conn.execute("SELECT pg_advisory_xact_lock(%s)", [MIGRATION_LOCK])
        await conn.execute("CREATE TABLE IF NOT EXISTS dashboard_schema_migrations (version integer PRIMARY KEY, "
                           "applied_at timestamptz NOT NULL DEFAULT now())")
        cursor = await conn.execute("SELECT coalesce(max(version), 0) FROM dashboard_schema_migrations")
        current = (await cursor.fetchone())[0]
        for version, sql in enumerate(MIGRATIONS[current:], start=current + 1):
            await conn.execute(sql)
            await conn.execute("INSERT INTO dashboard_schema_migrations (version) VALUES (%s)", [version])
            log.info("dashboard tables migrated to version %d", version)
    return len(MIGRATIONS)
