"""Sign-ins in flight and the users single sign-on made, in PostgreSQL (tables of `sso_schema`).

A sign-in in flight is a row keyed by the SHA-256 of its state, holding its nonce, PKCE verifier and the SHA-256 of
the browser binding (a cookie set with the redirect): taken once, within `PENDING_TTL`. A user is found by the
provider's (issuer, subject), created at the first sign-in with the scrypt hash of a random password nobody is told
(no password logs in as it, and a password login for it costs what any other does: no telling by time which users
sign on) and its role set from the provider's claims at every sign-in. A name a local (password) user holds is never
taken over.
"""
from __future__ import annotations

import asyncio
import datetime as dt
from dataclasses import dataclass

import psycopg

from vigia.kit.passwords import check_username, hash_password, new_token, token_hash

PENDING_TTL = dt.timedelta(minutes=10)


class NameTaken(Exception):
    """The provider's username is a local user's."""


@dataclass(frozen=True)
class Pending:
    nonce: str
    verifier: str
    binding_hash: str


@dataclass(frozen=True)
class SsoUser:
    username: str
    role: str
    created: bool
    previous_role: str | None   # its role before this sign-in (None: created now)


async def remember(conn: psycopg.AsyncConnection, state: str, nonce: str, verifier: str, binding: str) -> None:
    await conn.execute("DELETE FROM dashboard_sso_pending WHERE created_at <= now() - %s", [PENDING_TTL])
    await conn.execute("INSERT INTO dashboard_sso_pending (state_hash, nonce, verifier, binding_hash) VALUES (%s, %s, %s, %s)",
                       [token_hash(state), nonce, verifier, token_hash(binding)])


async def take(conn: psycopg.AsyncConnection, state: str) -> Pending | None:
    """The sign-in of `state`, removed (single use); None if unknown or older than PENDING_TTL."""
    cursor = await conn.execute("DELETE FROM dashboard_sso_pending WHERE state_hash = %s RETURNING nonce, verifier,"
                                " binding_hash, created_at > now() - %s", [token_hash(state), PENDING_TTL])
    row = await cursor.fetchone()
    return Pending(*row[:3]) if row and row[3] else None


async def sign_in(conn: psycopg.AsyncConnection, issuer: str, subject: str, username: str, role: str) -> SsoUser:
    """The dashboard user of the provider's (issuer, subject), created or given `role`. AccountError for a name the
    dashboard refuses, NameTaken for a local user's name."""
    check_username(username)
    async with conn.transaction():
        cursor = await conn.execute(
            "SELECT i.username, u.role FROM dashboard_sso_identities i JOIN dashboard_users u USING (username)"
            " WHERE i.issuer = %s AND i.subject = %s FOR UPDATE OF u", [issuer, subject])
        row = await cursor.fetchone()
        if row is not None:
            await conn.execute("UPDATE dashboard_users SET role = %s WHERE username = %s", [role, row[0]])
            return SsoUser(row[0], role, False, row[1])
        unknown = await asyncio.to_thread(hash_password, new_token())
        cursor = await conn.execute("INSERT INTO dashboard_users (username, password_hash, role) VALUES (%s, %s, %s)"
                                    " ON CONFLICT DO NOTHING", [username, unknown, role])
        if cursor.rowcount == 0:
            raise NameTaken(f"the dashboard user {username!r} exists and signs in with a password")
        await conn.execute("INSERT INTO dashboard_sso_identities (issuer, subject, username) VALUES (%s, %s, %s)",
                           [issuer, subject, username])
        return SsoUser(username, role, True, None)
