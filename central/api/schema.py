"""The external API's tables in central's PostgreSQL (applied by `vigia.central.migrations`, after the others).

Clients authenticate with a random secret of 256 bits: its SHA-256 is stored, never the secret (a secret that
strong needs no slow hash). Access tokens are stored the same way, with their expiry and revocation. Every call
is a row of `api_audit`. The indexes serve the event filters of the API (by device, label, camera, newest first; by verdict, from
the verdicts' side).
"""
from __future__ import annotations

MIGRATIONS: list[str] = [
    # 1: clients (scopes, allowed sites: NULL is every site, rate limit), their tokens, the audit trail,
    #    the indexes of the event and track filters
    """
    CREATE TABLE api_clients (
        client_id text PRIMARY KEY,
        secret_sha256 text NOT NULL,
        name text NOT NULL,
        scopes text[] NOT NULL,
        sites text[],
        rate_per_minute integer NOT NULL CHECK (rate_per_minute > 0),
        created_at timestamptz NOT NULL DEFAULT now(),
        revoked_at timestamptz
    );
    CREATE TABLE api_tokens (
        token_sha256 text PRIMARY KEY,
        client_id text NOT NULL REFERENCES api_clients,
        scopes text[] NOT NULL,
        issued_at timestamptz NOT NULL DEFAULT now(),
        expires_at timestamptz NOT NULL,
        revoked_at timestamptz
    );
    CREATE INDEX api_tokens_client ON api_tokens (client_id);
    CREATE TABLE api_audit (
        id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
        at timestamptz NOT NULL DEFAULT now(),
        client_id text,
        method text NOT NULL,
        route text NOT NULL,
        status integer NOT NULL,
        ip text NOT NULL,
        duration_ms real NOT NULL
    );
    CREATE INDEX api_audit_client ON api_audit (client_id, at);
    CREATE INDEX events_device_started ON events (device_id, started_at);
    CREATE INDEX events_label_started ON events (label, started_at);
    CREATE INDEX events_camera_started ON events (camera, started_at);
    -- the verdict filter of events: probed per event, answered from the index alone
    CREATE INDEX reanalysis_verdicts_event_verdict ON reanalysis_verdicts (device_id, event_id, verdict);
    CREATE INDEX device_records_tracks ON device_records (((body ->> 'last_seen_at')::float8), device_id, key)
        WHERE kind = 'track';
    """,
    # 2: the verdict filter of events walks the verdicts newest first (vigia.central.api.queries.events_with_verdict),
    #    no longer probing each event's verdicts
    """
    CREATE INDEX reanalysis_verdicts_by_time ON reanalysis_verdicts (verdict, started_at, device_id, event_id);
    DROP INDEX reanalysis_verdicts_event_verdict;
    """,
]
