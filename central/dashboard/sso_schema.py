"""Single sign-on's tables in central's PostgreSQL (vigia.central.migrations, lock 0x76696769_71): sign-ins in flight
and the provider identities of dashboard users (`vigia.central.dashboard.sso_store`)."""
from __future__ import annotations

MIGRATIONS: list[str] = [
    """
    CREATE TABLE dashboard_sso_pending (
        state_hash text PRIMARY KEY,
        nonce text NOT NULL,
        verifier text NOT NULL,
        binding_hash text NOT NULL,
        created_at timestamptz NOT NULL DEFAULT now()
    );
    CREATE INDEX dashboard_sso_pending_created ON dashboard_sso_pending (created_at);
    CREATE TABLE dashboard_sso_identities (
        issuer text NOT NULL,
        subject text NOT NULL,
        username text NOT NULL UNIQUE REFERENCES dashboard_users ON DELETE CASCADE,
        created_at timestamptz NOT NULL DEFAULT now(),
        PRIMARY KEY (issuer, subject)
    );
    """,
]
