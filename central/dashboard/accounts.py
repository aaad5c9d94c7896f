"""Central's dashboard users and sessions, in PostgreSQL (tables of `vigia.central.dashboard.schema`).

Same rules as the guards' UI, from the kit (`vigia.kit.passwords`): passwords as `scrypt$n$r$p$salt$hash`, a login
for an unknown username costs one scrypt too, sessions are 32 random bytes of which only the SHA-256 is stored,
ending `max_age` after login or `idle` after the last request. `max_failures` wrong passwords in a row lock a
username for `lockout`; one client address may fail `remote_max_failures` logins (any usernames) per
`remote_window`, then its logins are refused unchecked until the oldest of those leaves the window (counted in
PostgreSQL, so across instances).
Roles: viewer < operator < admin. Logging out, or a new password, ends the user's alert push subscriptions too
(vigia.central.alerts.subscriptions): no alert reaches a browser its user left.
"""
from __future__ import annotations

import asyncio
import datetime as dt
import math
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field

import psycopg

from vigia.central.alerts import subscriptions
from vigia.kit import passwords
from vigia.kit.passwords import (
    TOKEN_PATTERN,
    AccountError,
    Roles,
    SessionPolicy,
    UserExists,
    check_password,
    check_username,
    hash_password,
    needs_rehash,
    new_token,
    token_hash,
    verify_nothing,
    verify_password,
)
from vigia.kit.totp import CHALLENGE_SECONDS

ROLES = Roles(("viewer", "operator", "admin"))


@dataclass(frozen=True)
class LoginPolicy(passwords.LoginPolicy):
    """The kit's (`max_failures`, `lockout`, `remote_max_failures`) with a window of its own per address."""
    remote_window: float = 10 * 60.0   # seconds in which one address may fail `remote_max_failures` logins


@dataclass(frozen=True)
class Session:
    username: str
    role: str
    expires_at: dt.datetime
    token_hash: str = field(repr=False)
    csrf_token: str = field(repr=False)
    must_enrol_totp: bool = False  # an admin without a second factor where one is required: may only enrol


@dataclass(frozen=True)
class LoginOutcome:
    # "ok", "second_factor" (the token is the challenge a code must come with), "invalid", "locked" (the username)
    # or "throttled" (the client address)
    status: str
    token: str | None = field(default=None, repr=False)
    session: Session | None = None
    retry_after: int | None = None  # "throttled": whole seconds until the address may try again


async def add_user(conn: psycopg.AsyncConnection, username: str, password: str, role: str) -> None:
    """Create a user; `vigia.kit.passwords.AccountError` if the name, password or role is refused, UserExists if taken."""
    check_username(username)
    check_password(password)
    ROLES.check(role)
    encoded = await asyncio.to_thread(hash_password, password)
    cursor = await conn.execute("INSERT INTO dashboard_users (username, password_hash, role) VALUES (%s, %s, %s)"
                                " ON CONFLICT DO NOTHING", [username, encoded, role])
    if cursor.rowcount == 0:
        raise UserExists(f"user {username!r} already exists")


async def set_password(conn: psycopg.AsyncConnection, username: str, password: str) -> tuple[int, int]:
    """Change a password: clears a lockout, ends the user's sessions and push subscriptions; (sessions ended,
    subscriptions removed). AccountError if the password is refused or there is no such user."""
    check_password(password)
    encoded = await asyncio.to_thread(hash_password, password)
    async with conn.transaction():
        cursor = await conn.execute("UPDATE dashboard_users SET password_hash = %s, failed_logins = 0, locked_until = NULL"
                                    " WHERE username = %s", [encoded, username])
        if cursor.rowcount == 0:
            raise AccountError(f"no user {username!r}")
        cursor = await conn.execute("DELETE FROM dashboard_sessions WHERE username = %s", [username])
        return cursor.rowcount, await subscriptions.remove_user(conn, username)


async def list_users(conn: psycopg.AsyncConnection) -> list[dict]:
    cursor = await conn.execute("SELECT username, role, created_at FROM dashboard_users ORDER BY username")
    return [{"username": u, "role": r, "created_at": c.timestamp()} for u, r, c in await cursor.fetchall()]


async def login(conn: psycopg.AsyncConnection, username: str, password: str, *, remote: str | None,
                logins: LoginPolicy, sessions: SessionPolicy, replaces: str | None = None,
                admin_totp: bool = False) -> LoginOutcome:
    """Check a login from client address `remote`; when right, start a new session (ending `replaces`), or, for a
    user with a second factor, a challenge its code must come with (`vigia.central.dashboard.totp.complete_login`).
    `admin_totp`: admins must have a second factor (a session of one without it may only enrol)."""
    if replaces:
        await conn.execute("DELETE FROM dashboard_sessions WHERE token_hash = %s", [token_hash(replaces)])
    return await per_address(conn, remote, logins, lambda: _check(conn, username, password, logins=logins,
                                                                   sessions=sessions, admin_totp=admin_totp))


async def per_address(conn: psycopg.AsyncConnection, remote: str | None, logins: LoginPolicy,
                      check: Callable[[], Awaitable[LoginOutcome]]) -> LoginOutcome:
    """`check()` unless the address has failed `remote_max_failures` logins in the window ("throttled")."""
    address = remote or ""   # no address (a Unix socket): one bucket for all of those
    window = dt.timedelta(seconds=logins.remote_window)
    # Counted as a failure before anything is checked (parallel guesses cannot exceed the limit); the row
    # goes again when the login succeeds or is refused for the address (refusals do not extend the wait).
    cursor = await conn.execute("INSERT INTO dashboard_login_failures (address) VALUES (%s) RETURNING id", [address])
    attempt = (await cursor.fetchone())[0]
    cursor = await conn.execute(
        "SELECT extract(epoch FROM failed_at + %s - now()) FROM dashboard_login_failures"
        " WHERE address = %s AND failed_at > now() - %s AND id <> %s ORDER BY failed_at DESC OFFSET %s LIMIT 1",
        [window, address, window, attempt, max(logins.remote_max_failures - 1, 0)])
    blocking = await cursor.fetchone()  # the failure that must leave the window before this address may try
    if blocking is not None:
        outcome = LoginOutcome("throttled", retry_after=max(1, math.ceil(blocking[0])))
    else:
        outcome = await check()
    await conn.execute("DELETE FROM dashboard_login_failures WHERE (id = %s AND %s) OR failed_at <= now() - %s",
                       [attempt, outcome.status in ("ok", "second_factor", "throttled"), window])  # and prunes the expired
    return outcome


async def _check(conn: psycopg.AsyncConnection, username: str, password: str, *, logins: LoginPolicy,
                 sessions: SessionPolicy, admin_totp: bool) -> LoginOutcome:
    """The username's lockout, the password, and a new session when right."""
    # The attempt is counted before the password is checked, so parallel guesses cannot exceed the limit.
    cursor = await conn.execute(
        "UPDATE dashboard_users SET failed_logins = failed_logins + 1 WHERE username = %s"
        " AND coalesce(locked_until, '-infinity') <= now() RETURNING failed_logins, password_hash, role", [username])
    row = await cursor.fetchone()
    if row is None:
        cursor = await conn.execute("SELECT 1 FROM dashboard_users WHERE username = %s", [username])
        if await cursor.fetchone() is not None:
            return LoginOutcome("locked")
        await asyncio.to_thread(verify_nothing, password)  # same cost as a wrong password
        return LoginOutcome("invalid")
    attempts, encoded, role = row
    if not await asyncio.to_thread(verify_password, password, encoded):
        if attempts >= logins.max_failures:
            await conn.execute("UPDATE dashboard_users SET failed_logins = 0, locked_until = now() + %s"
                               " WHERE username = %s", [dt.timedelta(seconds=logins.lockout), username])
        return LoginOutcome("invalid")
    if needs_rehash(encoded):
        await conn.execute("UPDATE dashboard_users SET password_hash = %s WHERE username = %s",
                           [await asyncio.to_thread(hash_password, password), username])
    if await has_second_factor(conn, username):
        # The password's attempt stays counted until the code is right: guesses of the code lock the username too.
        challenge = new_token()
        await conn.execute("DELETE FROM dashboard_login_challenges WHERE expires_at <= now()")
        await conn.execute("INSERT INTO dashboard_login_challenges (token_hash, username, expires_at)"
                           " VALUES (%s, %s, now() + %s)",
                           [token_hash(challenge), username, dt.timedelta(seconds=CHALLENGE_SECONDS)])
        return LoginOutcome("second_factor", challenge)
    return await start_session(conn, username, role, sessions, must_enrol_totp=admin_totp and role == "admin")


async def has_second_factor(conn: psycopg.AsyncConnection, username: str) -> bool:
    cursor = await conn.execute("SELECT 1 FROM dashboard_totp WHERE username = %s AND confirmed_at IS NOT NULL",
                                [username])
    return await cursor.fetchone() is not None


async def start_session(conn: psycopg.AsyncConnection, username: str, role: str, sessions: SessionPolicy, *,
                        must_enrol_totp: bool = False) -> LoginOutcome:
    """A new session for a login found right (the username's failures cleared)."""
    token = new_token()
    csrf = new_token()
    must_enrol_totp = must_enrol_totp and not await has_second_factor(conn, username)
    async with conn.transaction():
        await conn.execute("UPDATE dashboard_users SET failed_logins = 0, locked_until = NULL WHERE username = %s",
                           [username])
        await conn.execute("DELETE FROM dashboard_sessions WHERE expires_at <= now() OR last_seen <= now() - %s",
                           [dt.timedelta(seconds=sessions.idle)])
        cursor = await conn.execute(
            "INSERT INTO dashboard_sessions (token_hash, username, csrf_token, expires_at)"
            " VALUES (%s, %s, %s, now() + %s) RETURNING expires_at",
            [token_hash(token), username, csrf, dt.timedelta(seconds=sessions.max_age)])
        expires_at = (await cursor.fetchone())[0]
    return LoginOutcome("ok", token, Session(username, role, expires_at, token_hash(token), csrf, must_enrol_totp))


async def session_for(conn: psycopg.AsyncConnection, token: str | None,
                      policy: SessionPolicy, admin_totp: bool = False) -> Session | None:
    """The live session of a cookie value, or None (an expired one is deleted); notes the request time."""
    if not token or not TOKEN_PATTERN.fullmatch(token):
        return None
    digest = token_hash(token)
    cursor = await conn.execute(
        "SELECT s.username, u.role, s.expires_at, s.csrf_token, s.expires_at <= now() OR s.last_seen <= now() - %s,"
        " s.last_seen <= now() - %s, EXISTS (SELECT 1 FROM dashboard_totp t WHERE t.username = s.username"
        " AND t.confirmed_at IS NOT NULL) FROM dashboard_sessions s JOIN dashboard_users u USING (username)"
        " WHERE s.token_hash = %s",
        [dt.timedelta(seconds=policy.idle), dt.timedelta(seconds=policy.touch_every), digest])
    row = await cursor.fetchone()
    if row is None:
        return None
    username, role, expires_at, csrf, expired, stale, second_factor = row
    if expired:
        await conn.execute("DELETE FROM dashboard_sessions WHERE token_hash = %s", [digest])
        return None
    if stale:
        await conn.execute("UPDATE dashboard_sessions SET last_seen = now() WHERE token_hash = %s", [digest])
    return Session(username, role, expires_at, digest, csrf, admin_totp and role == "admin" and not second_factor)


async def logout(conn: psycopg.AsyncConnection, session: Session) -> int:
    """End the session and the user's push subscriptions with it; returns the subscriptions removed."""
    async with conn.transaction():
        await conn.execute("DELETE FROM dashboard_sessions WHERE token_hash = %s", [session.token_hash])
        return await subscriptions.remove_user(conn, session.username)
