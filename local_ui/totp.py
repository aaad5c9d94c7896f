"""The guards' UI's TOTP second factor, in the appliance database (codes and recovery codes: `vigia.kit.totp`).

- Enrolment: `begin_enrolment` makes a secret (shown once: text, otpauth URI, QR code), `confirm_enrolment` turns
  it on when a first code matches and returns the recovery codes (shown once, stored hashed).
- Login: a password accepted for a user with a second factor gives a challenge (`accounts.login`);
  `complete_login` takes it with a code or a recovery code and only then starts the session. Wrong codes count
  like wrong passwords (the username's `max_failures`, the address' `remote_max_failures`).
- A code logs in once (the last step used is kept), a recovery code once (marked used).
- `reset` (the CLI, a lost phone) removes the second factor and ends the user's sessions.
Everything is audited; secrets and codes never reach the log or the audit trail.
"""
from __future__ import annotations

import time
from dataclasses import dataclass, field

import sqlite_utils

from vigia.appliance.transactions import write_transaction
from vigia.kit import totp
from vigia.kit.passwords import LoginPolicy, SessionPolicy, token_hash
from vigia.local_ui.accounts import (
    LoginOutcome,
    audit,
    count_attempt,
    lock,
    remote_throttled,
    start_session,
)


@dataclass(frozen=True)
class Status:
    enabled: bool                 # confirmed: logins ask for a code
    pending: bool                 # a secret shown, not confirmed yet
    recovery_codes_left: int


@dataclass(frozen=True)
class Enrolment:
    secret: str = field(repr=False)
    uri: str = field(repr=False)
    qr_svg: str = field(repr=False)


def status(db: sqlite_utils.Database, username: str) -> Status:
    row = db.execute("select confirmed_at from user_totp where username = ?", [username]).fetchone()
    left = db.execute("select count(*) from user_recovery_codes where username = ? and used_at is null",
                      [username]).fetchone()[0]
    return Status(row is not None and row[0] is not None, row is not None and row[0] is None, left)


def begin_enrolment(db: sqlite_utils.Database, username: str, issuer: str, remote: str | None,
                    now: float | None = None) -> Enrolment | None:
    """A new secret for `username` (replacing one not confirmed yet); None when a second factor is already on."""
    now = time.time() if now is None else now
    secret = totp.new_secret()
    with write_transaction(db.conn):
        if status(db, username).enabled:
            return None
        db.execute("insert or replace into user_totp (username, secret, created_at) values (?, ?, ?)",
                   [username, secret, now])
        audit(db, "totp_enrolment_started", username=username, target=username, remote=remote, now=now)
    uri = totp.provisioning_uri(secret, username, issuer)
    return Enrolment(secret, uri, totp.qr_svg(uri))


def confirm_enrolment(db: sqlite_utils.Database, username: str, code: str, remote: str | None,
                      now: float | None = None) -> list[str] | None:
    """Turn the pending secret on if `code` matches it: the recovery codes (shown once); None if it does not."""
    now = time.time() if now is None else now
    row = db.execute("select secret from user_totp where username = ? and confirmed_at is null", [username]).fetchone()
    step = None if row is None else totp.matching_step(row[0], code, None, now)
    if step is None:
        audit(db, "totp_enrolment_failed", username=username, target=username, remote=remote,
              details={"reason": "no enrolment started" if row is None else "wrong code"}, now=now)
        return None
    codes = totp.new_recovery_codes()
    with write_transaction(db.conn):
        db.execute("update user_totp set confirmed_at = ?, last_step = ? where username = ?", [now, step, username])
        db.execute("delete from user_recovery_codes where username = ?", [username])
        db.conn.executemany("insert into user_recovery_codes (username, code_hash) values (?, ?)",
                       [(username, totp.recovery_hash(code)) for code in codes])
        audit(db, "totp_enabled", username=username, target=username, remote=remote,
              details={"recovery_codes": len(codes)}, now=now)
    return codes


def complete_login(db: sqlite_utils.Database, challenge: str, code: str, remote: str | None, *,
                   logins: LoginPolicy = LoginPolicy(), sessions: SessionPolicy = SessionPolicy(),
                   now: float | None = None) -> LoginOutcome:
    """The second step of a login: the challenge `accounts.login` gave and a TOTP code or a recovery code."""
    now = time.time() if now is None else now
    row = db.execute("select username from login_challenges where token_hash = ? and expires_at > ?",
                     [token_hash(challenge), now]).fetchone()
    if row is None:
        audit(db, "login_failed", username=None, remote=remote, details={"reason": "unknown or expired challenge"},
              now=now)
        return LoginOutcome("invalid")
    username = row[0]
    throttled = remote_throttled(db, username, remote, logins, now)
    if throttled is not None:
        return throttled
    counted = count_attempt(db, username, now)
    if counted is None:
        audit(db, "login_refused_locked", username=None, target=username, remote=remote, now=now)
        locked_until = db.execute("select locked_until from users where username = ?", [username]).fetchone()
        return LoginOutcome("locked", retry_after=max(1.0, ((locked_until and locked_until[0]) or now) - now))
    attempts, _, role = counted
    if attempts > logins.max_failures:
        lock(db, username, remote, logins, now)
        return LoginOutcome("locked", retry_after=logins.lockout)
    used = _use_code(db, username, code, now)
    if used is None:
        audit(db, "login_failed", username=None, target=username, remote=remote,
              details={"reason": "wrong second factor", "failures": attempts}, now=now)
        if attempts >= logins.max_failures:
            lock(db, username, remote, logins, now)
        return LoginOutcome("invalid")
    db.execute("delete from login_challenges where token_hash = ?", [token_hash(challenge)])
    token, session = start_session(db, username, role, remote, sessions, now, details={"second_factor": used})
    return LoginOutcome("ok", token=token, session=session)


def _use_code(db: sqlite_utils.Database, username: str, code: str, now: float) -> str | None:
    """"totp" or "recovery_code" when `code` is one not used before (and now marked used); None otherwise."""
    if totp.is_code(code):
        row = db.execute("select secret, last_step from user_totp where username = ? and confirmed_at is not null",
                         [username]).fetchone()
        step = None if row is None else totp.matching_step(row[0], code, row[1], now)
        # The step is stored only if it is still later than the last one: two requests with one code, one wins.
        if step is not None and db.execute(
                "update user_totp set last_step = ? where username = ? and coalesce(last_step, -1) < ?",
                [step, username, step]).rowcount:
            return "totp"
        return None
    digest = totp.recovery_hash(code)
    if digest is not None and db.execute(
            "update user_recovery_codes set used_at = ? where username = ? and code_hash = ? and used_at is null",
            [now, username, digest]).rowcount:
        return "recovery_code"
    return None


def reset(db: sqlite_utils.Database, username: str, *, actor: str | None, remote: str | None, via: str,
          now: float | None = None) -> bool:
    """Remove the user's second factor (a lost phone) and end their sessions; False when they had none."""
    now = time.time() if now is None else now
    with write_transaction(db.conn):
        removed = db.execute("delete from user_totp where username = ?", [username]).rowcount
        db.execute("delete from user_recovery_codes where username = ?", [username])
        db.execute("delete from login_challenges where username = ?", [username])
        ended = db.execute("delete from sessions where username = ?", [username]).rowcount if removed else 0
        if removed:
            audit(db, "totp_reset", username=actor, target=username, remote=remote,
                  details={"via": via, "sessions_ended": ended}, now=now)
    return bool(removed)
