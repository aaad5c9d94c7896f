"""The dashboard's TOTP second factor, in PostgreSQL (tables of `vigia.central.dashboard.totp_schema`; codes and
recovery codes: `vigia.kit.totp`). The same rules as the guards' UI (`vigia.local_ui.totp`):

- Enrolment: `begin_enrolment` makes a secret (shown once), `confirm_enrolment` turns it on when a first code
  matches and returns the recovery codes (shown once, stored hashed).
- Login: a password accepted for a user with a second factor gives a challenge (`accounts.login`);
  `complete_login` takes it with a code or a recovery code and only then starts the session. Wrong codes count like
  wrong passwords (the username's `max_failures`, the address' `remote_max_failures`, across instances).
- A code logs in once (the last step used is kept), a recovery code once.
- `reset` (the CLI, a lost phone) removes the second factor and ends the user's sessions.
Everything is written to `dashboard_account_audit`; secrets and codes never are.
"""
from __future__ import annotations

import datetime as dt
import time
from dataclasses import dataclass, field

import psycopg
from psycopg.types.json import Jsonb

from vigia.central.dashboard import accounts
from vigia.kit import totp
from vigia.kit.passwords import SessionPolicy, token_hash


@dataclass(frozen=True)
class Status:
    enabled: bool
    pending: bool
    recovery_codes_left: int


@dataclass(frozen=True)
class Enrolment:
    secret: str = field(repr=False)
    uri: str = field(repr=False)
    qr_svg: str = field(repr=False)


async def audit(conn: psycopg.AsyncConnection, action: str, *, username: str | None, target: str,
                remote: str | None, details: dict | None = None) -> None:
    await conn.execute("INSERT INTO dashboard_account_audit (username, action, target, remote, details)"
                       " VALUES (%s, %s, %s, %s, %s)", [username, action, target, remote, Jsonb(details or {})])


async def status(conn: psycopg.AsyncConnection, username: str) -> Status:
    cursor = await conn.execute(
        "SELECT (SELECT confirmed_at IS NOT NULL FROM dashboard_totp WHERE username = %s),"
        " (SELECT count(*) FROM dashboard_recovery_codes WHERE username = %s AND used_at IS NULL)", [username, username])
    confirmed, left = await cursor.fetchone()
    return Status(confirmed is True, confirmed is False, left)


async def begin_enrolment(conn: psycopg.AsyncConnection, username: str, issuer: str,
                          remote: str | None) -> Enrolment | None:
    """A new secret (replacing one not confirmed yet); None when a second factor is already on."""
    secret = totp.new_secret()
    cursor = await conn.execute(
        "INSERT INTO dashboard_totp (username, secret) VALUES (%s, %s) ON CONFLICT (username) DO UPDATE"
        " SET secret = excluded.secret, created_at = now() WHERE dashboard_totp.confirmed_at IS NULL", [username, secret])
    if cursor.rowcount == 0:
        return None
    await audit(conn, "totp_enrolment_started", username=username, target=username, remote=remote)
    uri = totp.provisioning_uri(secret, username, issuer)
    return Enrolment(secret, uri, totp.qr_svg(uri))


async def confirm_enrolment(conn: psycopg.AsyncConnection, username: str, code: str,
                            remote: str | None) -> list[str] | None:
    """Turn the pending secret on if `code` matches it: the recovery codes (shown once); None if it does not."""
    cursor = await conn.execute("SELECT secret FROM dashboard_totp WHERE username = %s AND confirmed_at IS NULL",
                                [username])
    row = await cursor.fetchone()
    step = None if row is None else totp.matching_step(row[0], code, None, time.time())
    if step is None:
        await audit(conn, "totp_enrolment_failed", username=username, target=username, remote=remote,
                    details={"reason": "no enrolment started" if row is None else "wrong code"})
        return None
    codes = totp.new_recovery_codes()
    async with conn.transaction():
        await conn.execute("UPDATE dashboard_totp SET confirmed_at = now(), last_step = %s WHERE username = %s",
                           [step, username])
        await conn.execute("DELETE FROM dashboard_recovery_codes WHERE username = %s", [username])
        async with conn.cursor() as cursor:
            await cursor.executemany("INSERT INTO dashboard_recovery_codes (username, code_hash) VALUES (%s, %s)",
                                     [(username, totp.recovery_hash(code)) for code in codes])
        await audit(conn, "totp_enabled", username=username, target=username, remote=remote,
                    details={"recovery_codes": len(codes)})
    return codes


async def complete_login(conn: psycopg.AsyncConnection, challenge: str, code: str, *, remote: str | None,
                         logins: accounts.LoginPolicy, sessions: SessionPolicy) -> accounts.LoginOutcome:
    """The second step of a login: the challenge `accounts.login` gave and a TOTP code or a recovery code."""
    return await accounts.per_address(conn, remote, logins,
                                      lambda: _check_code(conn, challenge, code, remote, logins, sessions))


async def _check_code(conn: psycopg.AsyncConnection, challenge: str, code: str, remote: str | None,
                      logins: accounts.LoginPolicy, sessions: SessionPolicy) -> accounts.LoginOutcome:
    cursor = await conn.execute("SELECT username FROM dashboard_login_challenges WHERE token_hash = %s"
                                " AND expires_at > now()", [token_hash(challenge)])
    row = await cursor.fetchone()
    if row is None:
        return accounts.LoginOutcome("invalid")
    username = row[0]
    cursor = await conn.execute(
        "UPDATE dashboard_users SET failed_logins = failed_logins + 1 WHERE username = %s"
        " AND coalesce(locked_until, '-infinity') <= now() RETURNING failed_logins, role", [username])
    counted = await cursor.fetchone()
    if counted is None:
        await audit(conn, "login_refused_locked", username=None, target=username, remote=remote)
        return accounts.LoginOutcome("locked")
    attempts, role = counted
    used = await _use_code(conn, username, code)
    if used is None:
        await audit(conn, "login_failed", username=None, target=username, remote=remote,
                    details={"reason": "wrong second factor", "failures": attempts})
        if attempts >= logins.max_failures:
            await conn.execute("UPDATE dashboard_users SET failed_logins = 0, locked_until = now() + %s"
                               " WHERE username = %s", [dt.timedelta(seconds=logins.lockout), username])
            await audit(conn, "account_locked", username=None, target=username, remote=remote,
                        details={"seconds": logins.lockout})
        return accounts.LoginOutcome("invalid")
    await conn.execute("DELETE FROM dashboard_login_challenges WHERE token_hash = %s", [token_hash(challenge)])
    await audit(conn, "login", username=username, target=username, remote=remote, details={"second_factor": used})
    return await accounts.start_session(conn, username, role, sessions)


async def _use_code(conn: psycopg.AsyncConnection, username: str, code: str) -> str | None:
    """"totp" or "recovery_code" when `code` is one not used before (and now marked used); None otherwise."""
    if totp.is_code(code):
        cursor = await conn.execute("SELECT secret, last_step FROM dashboard_totp WHERE username = %s"
                                    " AND confirmed_at IS NOT NULL", [username])
        row = await cursor.fetchone()
        step = None if row is None else totp.matching_step(row[0], code, row[1], time.time())
        if step is None:
            return None
        # Stored only if still later than the last one: two requests with one code, one wins.
        cursor = await conn.execute("UPDATE dashboard_totp SET last_step = %s WHERE username = %s"
                                    " AND coalesce(last_step, -1) < %s", [step, username, step])
        return "totp" if cursor.rowcount else None
    digest = totp.recovery_hash(code)
    if digest is None:
        return None
    cursor = await conn.execute("UPDATE dashboard_recovery_codes SET used_at = now() WHERE username = %s"
                                " AND code_hash = %s AND used_at IS NULL", [username, digest])
    return "recovery_code" if cursor.rowcount else None


async def reset(conn: psycopg.AsyncConnection, username: str, *, via: str) -> bool:
    """Remove the user's second factor (a lost phone) and end their sessions; False when they had none."""
    async with conn.transaction():
        cursor = await conn.execute("DELETE FROM dashboard_totp WHERE username = %s", [username])
        if cursor.rowcount == 0:
            return False
        await conn.execute("DELETE FROM dashboard_recovery_codes WHERE username = %s", [username])
        await conn.execute("DELETE FROM dashboard_login_challenges WHERE username = %s", [username])
        ended = (await conn.execute("DELETE FROM dashboard_sessions WHERE username = %s", [username])).rowcount
        await audit(conn, "totp_reset", username=None, target=username, remote="local",
                    details={"via": via, "sessions_ended": ended})
    return True
