"""The alerts' tables in central's PostgreSQL, a migration set of their own (vigia.central.migrations).

One open alert per kind and subject (a partial unique index): the evaluator opens it idempotently. Deliveries are
a durable queue, one row per alert, level, change (raised, resolved) and channel: a row is never made twice, and a
failed one is tried again. The audit keeps every opening, escalation, acknowledgement and resolution. Dashboard
users' push subscriptions go with the user. The keys (acknowledge links, VAPID) are made once, on first use, by
whichever process needs them first: anyone who can write these tables can act on alerts anyway.
"""
from __future__ import annotations

MIGRATIONS: list[str] = [
    # 1: alerts, their deliveries and audit, push subscriptions, keys
    """
    CREATE TABLE central_alerts (
        id bigserial PRIMARY KEY,
        kind text NOT NULL CHECK (kind IN ('device_offline', 'camera_offline', 'backlog', 'disk_low', 'false_alarms')),
        subject text NOT NULL,
        device_id text NOT NULL,
        camera text,
        summary text NOT NULL,
        detail jsonb NOT NULL,
        opened_at timestamptz NOT NULL,
        level integer NOT NULL DEFAULT 1,
        level_at timestamptz NOT NULL,
        acked_at timestamptz,
        acked_by text,
        resolved_at timestamptz
    );
    CREATE UNIQUE INDEX central_alerts_open ON central_alerts (kind, subject) WHERE resolved_at IS NULL;
    CREATE INDEX central_alerts_opened ON central_alerts (opened_at);
    CREATE TABLE central_alert_deliveries (
        id bigserial PRIMARY KEY,
        alert_id bigint NOT NULL REFERENCES central_alerts (id),
        level integer NOT NULL,
        change text NOT NULL CHECK (change IN ('raised', 'resolved')),
        channel text NOT NULL,
        state text NOT NULL DEFAULT 'pending' CHECK (state IN ('pending', 'delivered')),
        attempts integer NOT NULL DEFAULT 0,
        next_try_at timestamptz NOT NULL,
        last_result text,
        delivered_at timestamptz,
        UNIQUE (alert_id, level, change, channel)
    );
    CREATE INDEX central_alert_deliveries_pending ON central_alert_deliveries (next_try_at) WHERE state = 'pending';
    CREATE TABLE central_alert_audit (
        id bigserial PRIMARY KEY,
        alert_id bigint NOT NULL REFERENCES central_alerts (id),
        action text NOT NULL CHECK (action IN ('opened', 'escalated', 'acknowledged', 'resolved')),
        actor text NOT NULL,
        via text NOT NULL,
        at timestamptz NOT NULL,
        detail jsonb NOT NULL
    );
    CREATE INDEX central_alert_audit_alert ON central_alert_audit (alert_id, id);
    CREATE TABLE central_alert_push_subscriptions (
        id bigserial PRIMARY KEY,
        username text NOT NULL REFERENCES dashboard_users ON DELETE CASCADE,
        endpoint text NOT NULL UNIQUE,
        p256dh text NOT NULL,
        auth text NOT NULL,
        created_at timestamptz NOT NULL DEFAULT now()
    );
    CREATE TABLE central_alert_keys (
        name text PRIMARY KEY,
        secret bytea NOT NULL
    );
    """,
]
