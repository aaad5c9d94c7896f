"""The dashboard's TOTP second factor (`vigia.central.dashboard.totp`): its tables, a migration set of their own.

`vigia.central.migrations` applies them after the dashboard's (they refer to `dashboard_users`).
"""
from __future__ import annotations

MIGRATIONS: list[str] = [
    # 1: a user's secret (confirmed once a first code matched; the last step used, so no code logs in twice), the
    #    SHA-256 of their recovery codes, logins waiting for their code (the SHA-256 of the challenge only), and the
    #    accounts' audit trail (enrolments, second-factor logins and failures, resets)
    """
    CREATE TABLE dashboard_totp (
        username text PRIMARY KEY REFERENCES dashboard_users ON DELETE CASCADE,
        secret text NOT NULL,
        created_at timestamptz NOT NULL DEFAULT now(),
        confirmed_at timestamptz,
        last_step bigint
    );
    CREATE TABLE dashboard_recovery_codes (
        username text NOT NULL REFERENCES dashboard_users ON DELETE CASCADE,
        code_hash text NOT NULL,
        used_at timestamptz,
        PRIMARY KEY (username, code_hash)
    );
    CREATE TABLE dashboard_login_challenges (
        token_hash text PRIMARY KEY,
        username text NOT NULL REFERENCES dashboard_users ON DELETE CASCADE,
        expires_at timestamptz NOT NULL
    );
    CREATE TABLE dashboard_account_audit (
        id bigserial PRIMARY KEY,
        at timestamptz NOT NULL DEFAULT now(),
        username text,
        action text NOT NULL,
        target text NOT NULL,
        remote text,
        details jsonb NOT NULL DEFAULT '{}'
    );
    CREATE INDEX dashboard_account_audit_at ON dashboard_account_audit (at);
    """,
]
