"""API clients and their access tokens in PostgreSQL: made, listed and revoked by `vigia central api-client`,
checked on every call.

A client has scopes (what it may read) and sites (whose devices it sees; None: every site). Its secret and its
tokens are random 256-bit strings, stored as SHA-256 only; a token is valid until it expires, or until it or its
client is revoked.
"""
from __future__ import annotations

import datetime as dt
import hashlib
import re
import secrets
from dataclasses import dataclass

import psycopg
from psycopg.rows import class_row

SCOPES = ("devices:read", "events:read", "tracks:read", "verdicts:read", "clips:read")
CLIENT_ID = re.compile(r"^[a-z0-9][a-z0-9._-]{2,63}$")
SITE = re.compile(r"^[^\x00-\x1f\x7f]{1,64}$")
DEFAULT_RATE = 600          # calls a minute
TOKEN_LIFETIME_S = 3600


class ClientError(ValueError):
    """A client that cannot be made as asked (bad id, unknown scope, taken id)."""


@dataclass(frozen=True)
class Client:
    client_id: str
    name: str
    scopes: list[str]
    sites: list[str] | None      # None: every site
    rate_per_minute: int
    created_at: dt.datetime
    revoked_at: dt.datetime | None
    secret_sha256: str = ""


@dataclass(frozen=True)
class Principal:
    """Who is calling: a valid token's client (and user, for a user's token), what the token allows and which
    sites it sees."""

    client_id: str
    scopes: frozenset[str]
    sites: tuple[str, ...] | None   # None: every site
    rate_per_minute: int
    username: str | None = None     # a user's token (the app): the dashboard user, its role, its sign-in
    role: str | None = None
    grant_id: object | None = None

    def allows(self, scope: str) -> bool:
        return scope in self.scopes

    @property
    def rate_key(self) -> str:
        """Whose calls a rate limit counts: the client's, or each user's of a public client."""
        return self.client_id if self.username is None else f"{self.client_id}/{self.username}"


def sha256(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()


def check_new_client(client_id: str, scopes: list[str], sites: list[str] | None, rate_per_minute: int) -> None:
    if not CLIENT_ID.fullmatch(client_id):
        raise ClientError("client id: 3 to 64 characters, lower-case letters, digits, '.', '_' or '-'")
    unknown = sorted(set(scopes) - set(SCOPES))
    if unknown or not scopes:
        raise ClientError(f"scopes must be some of {', '.join(SCOPES)} (got {', '.join(unknown) or 'none'})")
    if sites is not None and (not sites or not all(SITE.fullmatch(s) for s in sites)):
        raise ClientError("a site is 1 to 64 characters, no control characters")
    if not 1 <= rate_per_minute <= 1_000_000:
        raise ClientError("the rate limit is 1 to 1,000,000 calls a minute")


async def add_client(conn: psycopg.AsyncConnection, client_id: str, name: str, scopes: list[str],
                     sites: list[str] | None, rate_per_minute: int = DEFAULT_RATE) -> str:
    """Register a client; returns its secret (shown once, stored only as its SHA-256)."""
    check_new_client(client_id, scopes, sites, rate_per_minute)
    secret = secrets.token_urlsafe(32)
    try:
        await conn.execute(
            "INSERT INTO api_clients (client_id, secret_sha256, name, scopes, sites, rate_per_minute)"
            " VALUES (%s, %s, %s, %s, %s, %s)",
            [client_id, sha256(secret), name, sorted(set(scopes)), sorted(set(sites)) if sites else None, rate_per_minute])
    except psycopg.errors.UniqueViolation:
        raise ClientError(f"there is already a client {client_id!r}") from None
    return secret


async def list_clients(conn: psycopg.AsyncConnection) -> list[Client]:
    async with conn.cursor(row_factory=class_row(Client)) as cursor:
        await cursor.execute("SELECT client_id, name, scopes, sites, rate_per_minute, created_at, revoked_at"
                             " FROM api_clients ORDER BY client_id")
        return await cursor.fetchall()


async def find_client(conn: psycopg.AsyncConnection, client_id: str) -> Client | None:
    """A client that is not revoked, with its secret's hash."""
    async with conn.cursor(row_factory=class_row(Client)) as cursor:
        await cursor.execute("SELECT * FROM api_clients WHERE client_id = %s AND revoked_at IS NULL", [client_id])
        return await cursor.fetchone()


async def revoke_client(conn: psycopg.AsyncConnection, client_id: str) -> bool:
    """Revoke a client and every token it holds; False when there is no such client."""
    async with conn.transaction():
        cursor = await conn.execute("UPDATE api_clients SET revoked_at = coalesce(revoked_at, now())"
                                    " WHERE client_id = %s", [client_id])
        await conn.execute("UPDATE api_tokens SET revoked_at = now() WHERE client_id = %s AND revoked_at IS NULL",
                           [client_id])
    return cursor.rowcount > 0


async def revoke_tokens(conn: psycopg.AsyncConnection, client_id: str) -> int:
    """Revoke every token of a client (the client may ask for new ones); returns how many."""
    cursor = await conn.execute("UPDATE api_tokens SET revoked_at = now() WHERE client_id = %s AND revoked_at IS NULL",
                                [client_id])
    return cursor.rowcount


async def revoke_token(conn: psycopg.AsyncConnection, token: str, client_id: str) -> None:
    """Revoke one token of `client_id` (RFC 7009: unknown tokens are no error)."""
    await conn.execute("UPDATE api_tokens SET revoked_at = now() WHERE token_sha256 = %s AND client_id = %s"
                       " AND revoked_at IS NULL", [sha256(token), client_id])


async def save_token(conn: psycopg.AsyncConnection, token: str, client_id: str, scopes: list[str], expires_in: int) -> None:
    await conn.execute("INSERT INTO api_tokens (token_sha256, client_id, scopes, expires_at)"
                       " VALUES (%s, %s, %s, now() + %s)", [sha256(token), client_id, scopes, dt.timedelta(seconds=expires_in)])


async def principal_for(conn: psycopg.AsyncConnection, token: str) -> Principal | None:
    """The caller behind a bearer token; None when it is unknown, expired or revoked (or its client is)."""
    cursor = await conn.execute(
        "SELECT c.client_id, t.scopes, c.sites, c.rate_per_minute FROM api_tokens t JOIN api_clients c USING (client_id)"
        " WHERE t.token_sha256 = %s AND t.revoked_at IS NULL AND t.expires_at > now() AND c.revoked_at IS NULL",
        [sha256(token)])
    row = await cursor.fetchone()
    if row is None:
        return None
    client_id, scopes, sites, rate = row
    return Principal(client_id, frozenset(scopes), tuple(sites) if sites is not None else None, rate)
