"""The fleet dashboard's tables in central's PostgreSQL: its migration steps, numbered apart from the ingest's.

`vigia.central.migrations` applies them after the ingest's (step 1 indexes `events`), in a version table of their own.
"""
from __future__ import annotations

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

