"""Users' sign-in to the external API (the mobile app) in PostgreSQL: public clients and their redirect URIs,
authorization codes (PKCE S256), access and refresh tokens per grant, revocation.

A user's token carries the user's role: viewers read, operators and admins may also acknowledge and comment.
Dashboard users see every site (the dashboard has no per-site users), so a user token's sites are None.
Secrets are stored as SHA-256 only; a refresh token is rotated on use (the old one stops working).
"""
from __future__ import annotations

import datetime as dt
import ipaddress
import uuid
from dataclasses import dataclass
from urllib.parse import urlsplit

import psycopg

from vigia.central.api.clients import SCOPES, Principal, sha256

ALERT_SCOPES = ("alerts:read", "alerts:write")
USER_SCOPES = (*SCOPES, *ALERT_SCOPES)
READ_SCOPES = tuple(s for s in USER_SCOPES if s != "alerts:write")
ACCESS_LIFETIME_S = 900
REFRESH_LIFETIME_S = 30 * 86400
CODE_LIFETIME_S = 300
USER_RATE = 600            # calls a minute per user token


def role_scopes(role: str) -> tuple[str, ...]:
    """What a dashboard role may do through the API: viewers read, operators and admins also act on alerts."""
    return USER_SCOPES if role in ("operator", "admin") else READ_SCOPES


@dataclass(frozen=True)
class PublicClient:
    """A client without a secret (the app): PKCE is its proof; it may redirect only to its registered URIs, or to a
    loopback http URI on any port with its registered path (RFC 8252 §7.3: the web build in tests)."""

    client_id: str
    name: str
    redirect_uris: list[str]
    loopback_redirect_path: str | None

    def allows_redirect(self, uri: str) -> bool:
        if uri in self.redirect_uris:
            return True
        if self.loopback_redirect_path is None:
            return False
        try:
            parts = urlsplit(uri)
            loopback = parts.hostname == "localhost" or ipaddress.ip_address(parts.hostname or "").is_loopback
        except ValueError:     # not a URL (an unclosed IPv6 bracket), or not an address
            return False
        return (parts.scheme == "http" and loopback and parts.path == self.loopback_redirect_path
                and not parts.query and not parts.fragment and parts.username is None)


@dataclass(frozen=True)
class Code:
    """A stored authorization code (authlib's AuthorizationCodeMixin)."""

    client_id: str
    username: str
    redirect_uri: str
    scope: str
    code_challenge: str
    code_challenge_method: str

    def get_redirect_uri(self) -> str:
        return self.redirect_uri

    def get_scope(self) -> str:
        return self.scope


@dataclass(frozen=True)
class Refresh:
    """A live refresh token's grant (authlib's refresh-token view)."""

    grant_id: uuid.UUID
    client_id: str
    username: str
    scopes: list[str]

    def check_client(self, client) -> bool:
        return client.get_client_id() == self.client_id

    def get_scope(self) -> str:
        return " ".join(self.scopes)

    def is_expired(self) -> bool:
        return False      # only live ones are read

    def is_revoked(self) -> bool:
        return False


async def find_public_client(conn: psycopg.AsyncConnection, client_id: str) -> PublicClient | None:
    cursor = await conn.execute("SELECT client_id, name, redirect_uris, loopback_redirect_path FROM oauth_public_clients"
                                " WHERE client_id = %s", [client_id])
    row = await cursor.fetchone()
    return PublicClient(*row) if row else None


async def user_role(conn: psycopg.AsyncConnection, username: str) -> str | None:
    cursor = await conn.execute("SELECT role FROM dashboard_users WHERE username = %s", [username])
    row = await cursor.fetchone()
    return row[0] if row else None


async def save_code(conn: psycopg.AsyncConnection, code: str, found: Code) -> None:
    await conn.execute(
        "INSERT INTO oauth_codes (code_sha256, client_id, username, redirect_uri, scope, code_challenge,"
        " code_challenge_method, expires_at) VALUES (%s, %s, %s, %s, %s, %s, %s, now() + %s)",
        [sha256(code), found.client_id, found.username, found.redirect_uri, found.scope, found.code_challenge,
         found.code_challenge_method, dt.timedelta(seconds=CODE_LIFETIME_S)])


async def take_code(conn: psycopg.AsyncConnection, code: str) -> Code | None:
    """The code if it is live, deleted as it is read: a code works once."""
    cursor = await conn.execute(
        "DELETE FROM oauth_codes WHERE code_sha256 = %s RETURNING client_id, username, redirect_uri, scope,"
        " code_challenge, code_challenge_method, expires_at > now()", [sha256(code)])
    row = await cursor.fetchone()
    return Code(*row[:6]) if row and row[6] else None


async def find_refresh(conn: psycopg.AsyncConnection, token: str) -> Refresh | None:
    cursor = await conn.execute(
        "SELECT grant_id, client_id, username, scopes FROM user_tokens WHERE refresh_sha256 = %s"
        " AND revoked_at IS NULL AND refresh_expires_at > now()", [sha256(token)])
    row = await cursor.fetchone()
    return Refresh(*row) if row else None


async def save_tokens(conn: psycopg.AsyncConnection, token: dict, grant_id: uuid.UUID, client_id: str,
                      username: str, replaces: str | None) -> None:
    """Store an issued pair; `replaces` (a refresh token) stops working (rotation)."""
    async with conn.transaction():
        if replaces is not None:
            await conn.execute("UPDATE user_tokens SET refresh_sha256 = NULL, revoked_at = coalesce(revoked_at, now())"
                               " WHERE refresh_sha256 = %s", [sha256(replaces)])
        await conn.execute(
            "INSERT INTO user_tokens (access_sha256, refresh_sha256, grant_id, client_id, username, scopes, expires_at,"
            " refresh_expires_at) VALUES (%s, %s, %s, %s, %s, %s, now() + %s, now() + %s)",
            [sha256(token["access_token"]), sha256(token["refresh_token"]), grant_id, client_id, username,
             token["scope"].split(), dt.timedelta(seconds=token["expires_in"]), dt.timedelta(seconds=REFRESH_LIFETIME_S)])


async def revoke_grant(conn: psycopg.AsyncConnection, token: str, client_id: str) -> bool:
    """Revoke the sign-in an access or refresh token belongs to: all its tokens, and the push tokens it registered."""
    digest = sha256(token)
    cursor = await conn.execute("SELECT grant_id FROM user_tokens WHERE (access_sha256 = %s OR refresh_sha256 = %s)"
                                " AND client_id = %s", [digest, digest, client_id])
    row = await cursor.fetchone()
    if row is None:
        return False
    async with conn.transaction():
        await conn.execute("UPDATE user_tokens SET revoked_at = now(), refresh_sha256 = NULL WHERE grant_id = %s"
                           " AND revoked_at IS NULL", [row[0]])
        await conn.execute("DELETE FROM expo_push_tokens WHERE grant_id = %s", [row[0]])
    return True


async def principal_for(conn: psycopg.AsyncConnection, token: str) -> Principal | None:
    """The user behind a live access token, with the scopes of the token that the user's role still allows."""
    cursor = await conn.execute(
        "SELECT t.client_id, t.scopes, t.username, u.role, t.grant_id FROM user_tokens t JOIN dashboard_users u"
        " USING (username) WHERE t.access_sha256 = %s AND t.revoked_at IS NULL AND t.expires_at > now()", [sha256(token)])
    row = await cursor.fetchone()
    if row is None:
        return None
    client_id, scopes, username, role, grant_id = row
    allowed = frozenset(scopes) & frozenset(role_scopes(role))
    return Principal(client_id, allowed, None, USER_RATE, username=username, role=role, grant_id=grant_id)
