"""The tables of users' sign-in to the external API (the mobile app): public clients, authorization codes, user
tokens, the Expo push tokens of signed-in phones, comments on alerts. A migration set of its own
(vigia.central.migrations), applied after the dashboard's and the alerts' (it refers to their tables).

Codes, access and refresh tokens are random 256-bit strings stored as SHA-256 only. A grant (one sign-in) keeps
its id through refresh-token rotation: revoking it ends every token of the sign-in and removes the push tokens
registered with it.
"""
from __future__ import annotations

MIGRATIONS: list[str] = [
    # 1: public clients (the app: PKCE, no secret), codes, user tokens, Expo push tokens, alert comments
    """
    CREATE TABLE oauth_public_clients (
        client_id text PRIMARY KEY,
        name text NOT NULL,
        redirect_uris text[] NOT NULL,
        loopback_redirect_path text,
        created_at timestamptz NOT NULL DEFAULT now()
    );
    INSERT INTO oauth_public_clients (client_id, name, redirect_uris, loopback_redirect_path)
        VALUES ('vigia-mobile', 'Vigia mobile app', ARRAY['vigia.app://auth'], '/auth');
    CREATE TABLE oauth_codes (
        code_sha256 text PRIMARY KEY,
        client_id text NOT NULL REFERENCES oauth_public_clients,
        username text NOT NULL REFERENCES dashboard_users ON DELETE CASCADE,
        redirect_uri text NOT NULL,
        scope text NOT NULL,
        code_challenge text NOT NULL,
        code_challenge_method text NOT NULL CHECK (code_challenge_method = 'S256'),
        expires_at timestamptz NOT NULL
    );
    CREATE TABLE user_tokens (
        access_sha256 text PRIMARY KEY,
        refresh_sha256 text UNIQUE,
        grant_id uuid NOT NULL,
        client_id text NOT NULL REFERENCES oauth_public_clients,
        username text NOT NULL REFERENCES dashboard_users ON DELETE CASCADE,
        scopes text[] NOT NULL,
        issued_at timestamptz NOT NULL DEFAULT now(),
        expires_at timestamptz NOT NULL,
        refresh_expires_at timestamptz NOT NULL,
        revoked_at timestamptz
    );
    CREATE INDEX user_tokens_grant ON user_tokens (grant_id);
    CREATE TABLE expo_push_tokens (
        token text PRIMARY KEY,
        username text NOT NULL REFERENCES dashboard_users ON DELETE CASCADE,
        grant_id uuid NOT NULL,
        created_at timestamptz NOT NULL DEFAULT now()
    );
    CREATE INDEX expo_push_tokens_grant ON expo_push_tokens (grant_id);
    CREATE TABLE central_alert_comments (
        id bigserial PRIMARY KEY,
        alert_id bigint NOT NULL REFERENCES central_alerts (id),
        username text NOT NULL,
        body text NOT NULL,
        at timestamptz NOT NULL DEFAULT now()
    );
    CREATE INDEX central_alert_comments_alert ON central_alert_comments (alert_id, id);
    """,
]
