"""Local accounts of the guards' UI: users, sessions and the audit log, in the appliance database.

- Passwords are hashed and checked by `vigia.kit.passwords` (scrypt, constant-time, a login for an unknown
  username costs one scrypt too; a login with an older hash rehashes it).
- Sessions are 32 random bytes (URL-safe base64 in the cookie); the database keeps only their
  SHA-256, so a copy of the database logs no one in. A session ends `max_age` after login or
  `idle` after its last request, whichever comes first. Every login makes a new session and ends
  the one the browser presented (no session fixation).
- Logins are limited: `max_failures` failures in a row lock a username for `lockout` seconds (the
  right password is refused while locked), and one remote address gets `remote_max_failures`
  failures per `lockout` seconds across all usernames.
- A user with a TOTP second factor (`vigia.local_ui.totp`) gets a challenge for the right password, not a
  session: the session starts when a code comes with it (`start_session`).
- Every change (logins, failures, lockouts, logouts, users, passwords, kept events) is written to
  `audit_log`: who, what, target, when, from where. Secrets never reach the log or the audit trail.

All functions take an open `sqlite_utils.Database` (see `vigia.appliance.storage.connect`).
"""
from __future__ import annotations

import json
import time
from dataclasses import dataclass, field
from typing import Literal

import sqlite_utils

from vigia.appliance import audit_log
from vigia.appliance.notify import push_subscriptions
from vigia.appliance.transactions import write_transaction
from vigia.kit.passwords import (
    TOKEN_PATTERN,
    AccountError,
    LoginPolicy,
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

ROLES = Roles(("guard", "installer", "admin"))


@dataclass(frozen=True)
class User:
    username: str
    role: str
    created_at: float
    failed_logins: int = 0
    locked_until: float | None = None


@dataclass(frozen=True)
class Session:
    """A valid session as a request sees it (the role is the user's current one)."""

    username: str
    role: str
    created_at: float
    expires_at: float
    token_hash: str = field(repr=False)
    csrf_token: str = field(repr=False)
    must_enrol_totp: bool = False  # an admin without a second factor where one is required: may only enrol


@dataclass(frozen=True)
class LoginOutcome:
    status: Literal["ok", "second_factor", "invalid", "locked", "throttled"]
    # "ok": the cookie value (only in the Set-Cookie header); "second_factor": the challenge its code must come with
    token: str | None = field(default=None, repr=False)
    session: Session | None = None
    retry_after: float | None = None  # seconds, when locked or throttled


# -- users ------------------------------------------------------------------------------------


def _user(row) -> User:
    username, role, created_at, failed_logins, locked_until = row
    return User(username, role, created_at, failed_logins, locked_until)


def get_user(db: sqlite_utils.Database, username: str) -> User | None:
    row = db.execute("select username, role, created_at, failed_logins, locked_until from users where username = ?",
                     [username]).fetchone()
    return None if row is None else _user(row)


def list_users(db: sqlite_utils.Database) -> list[User]:
    return [_user(row) for row in db.execute(
        "select username, role, created_at, failed_logins, locked_until from users order by username")]


def add_user(db: sqlite_utils.Database, username: str, password: str, role: str, *,
             actor: str | None, remote: str | None, via: str = "api", now: float | None = None) -> User:
    """Create a user; AccountError if the name, password or role is refused or the name is taken."""
    check_username(username)
    check_password(password)
    ROLES.check(role)
    now = time.time() if now is None else now
    encoded = hash_password(password)
    with write_transaction(db.conn):
        if get_user(db, username) is not None:
            raise UserExists(f"user {username!r} already exists")
        db.execute("insert into users (username, password_hash, role, created_at) values (?, ?, ?, ?)",
                   [username, encoded, role, now])
        audit(db, "user_created", username=actor, target=username, remote=remote,
              details={"role": role, "via": via}, now=now)
    return User(username, role, now)


def set_password(db: sqlite_utils.Database, username: str, password: str, *,
                 actor: str | None, remote: str | None, via: str = "api", now: float | None = None) -> None:
    """Change a password: ends the user's sessions and push subscriptions, and clears a lockout."""
    check_password(password)
    now = time.time() if now is None else now
    encoded = hash_password(password)
    with write_transaction(db.conn):
        changed = db.execute("update users set password_hash = ?, failed_logins = 0, locked_until = null"
                             " where username = ?", [encoded, username]).rowcount
        if not changed:
            raise AccountError(f"no user {username!r}")
        ended = db.execute("delete from sessions where username = ?", [username]).rowcount
        unsubscribed = push_subscriptions.remove_user(db.conn, username)
        audit(db, "password_changed", username=actor, target=username, remote=remote,
              details={"via": via, "sessions_ended": ended, "push_subscriptions_removed": unsubscribed}, now=now)


# -- logins and sessions ----------------------------------------------------------------------


def login(db: sqlite_utils.Database, username: str, password: str, remote: str | None, *,
          logins: LoginPolicy = LoginPolicy(), sessions: SessionPolicy = SessionPolicy(),
          replaces: str | None = None, admin_totp: bool = False, now: float | None = None) -> LoginOutcome:
    """Check a login and, when it is right, start a new session (ending `replaces`, the presented one), or, for a
    user with a second factor, a challenge its code must come with (`vigia.local_ui.totp.complete_login`).
    `admin_totp`: admins must have a second factor (a session of one without it may only enrol).

    Runs one scrypt (about 40 ms of CPU and 16 MiB): call it off the event loop.
    """
    now = time.time() if now is None else now
    if replaces:
        db.execute("delete from sessions where token_hash = ?", [token_hash(replaces)])
    throttled = remote_throttled(db, username, remote, logins, now)
    if throttled is not None:
        return throttled
    row = count_attempt(db, username, now)
    user_exists = row is not None or get_user(db, username) is not None
    if row is None and user_exists:
        locked_until = db.execute("select locked_until from users where username = ?", [username]).fetchone()[0]
        audit(db, "login_refused_locked", username=None, target=username, remote=remote, now=now)
        return LoginOutcome("locked", retry_after=max(1.0, (locked_until or now) - now))
    if row is None:  # unknown username: same answers, same cost, limited the same way
        failures = db.execute(
            "select count(*), min(at) from audit_log where action = 'login_failed' and target = ? and at > ?",
            [username[:64], now - logins.lockout]).fetchone()
        if failures[0] >= logins.max_failures:
            audit(db, "login_refused_locked", username=None, target=username[:64], remote=remote, now=now)
            return LoginOutcome("locked", retry_after=max(1.0, failures[1] + logins.lockout - now))
        verify_nothing(password)
        audit(db, "login_failed", username=None, target=username[:64], remote=remote,
              details={"reason": "unknown user"}, now=now)
        return LoginOutcome("invalid")

    attempts, encoded, role = row
    if attempts > logins.max_failures:  # guesses in flight beyond the limit
        lock(db, username, remote, logins, now)
        return LoginOutcome("locked", retry_after=logins.lockout)
    if not verify_password(password, encoded):
        audit(db, "login_failed", username=None, target=username, remote=remote,
              details={"reason": "wrong password", "failures": attempts}, now=now)
        if attempts >= logins.max_failures:
            lock(db, username, remote, logins, now)
        return LoginOutcome("invalid")

    if needs_rehash(encoded):
        db.execute("update users set password_hash = ? where username = ?", [hash_password(password), username])
    if has_second_factor(db, username):
        # The password's attempt stays counted until the code is right: guesses of the code lock the username too.
        challenge = new_token()
        with write_transaction(db.conn):
            db.execute("delete from login_challenges where expires_at <= ?", [now])
            db.execute("insert into login_challenges (token_hash, username, expires_at, remote) values (?, ?, ?, ?)",
                       [token_hash(challenge), username, now + CHALLENGE_SECONDS, remote])
            audit(db, "login_password_accepted", username=None, target=username, remote=remote,
                  details={"waiting_for": "totp"}, now=now)
        return LoginOutcome("second_factor", token=challenge)
    token, session = start_session(db, username, role, remote, sessions, now, must_enrol_totp=admin_totp and role == "admin")
    return LoginOutcome("ok", token=token, session=session)


def remote_throttled(db: sqlite_utils.Database, username: str, remote: str | None, logins: LoginPolicy,
                     now: float) -> LoginOutcome | None:
    """"throttled" when `remote` has failed `remote_max_failures` logins (any usernames) within `lockout`."""
    remote_failures = db.execute(
        "select count(*), min(at) from audit_log where action = 'login_failed' and remote is ? and at > ?",
        [remote, now - logins.lockout]).fetchone()
    if remote_failures[0] >= logins.remote_max_failures:
        audit(db, "login_throttled", username=None, target=username[:64], remote=remote, now=now)
        return LoginOutcome("throttled", retry_after=max(1.0, remote_failures[1] + logins.lockout - now))
    return None


def count_attempt(db: sqlite_utils.Database, username: str, now: float) -> tuple[int, str, str] | None:
    """Count an attempt before anything is checked, so parallel guesses cannot exceed the limit: (failed logins,
    password hash, role), or None when the username is locked or unknown."""
    # fetchall: a RETURNING statement commits when it has been stepped to its end.
    rows = db.execute(
        "update users set failed_logins = failed_logins + 1 where username = ?"
        " and coalesce(locked_until, 0) <= ? returning failed_logins, password_hash, role",
        [username, now]).fetchall()
    return rows[0] if rows else None


def has_second_factor(db: sqlite_utils.Database, username: str) -> bool:
    """Whether the user logs in with a TOTP code after the password (a confirmed enrolment)."""
    return db.execute("select 1 from user_totp where username = ? and confirmed_at is not null",
                      [username]).fetchone() is not None


def start_session(db: sqlite_utils.Database, username: str, role: str, remote: str | None, sessions: SessionPolicy,
                  now: float, *, must_enrol_totp: bool = False, details: dict | None = None) -> tuple[str, Session]:
    """A new session for a login found right (failures cleared, audited): (the cookie value, the session)."""
    token = new_token()
    session = Session(username, role, now, now + sessions.max_age, token_hash(token), new_token(),
                      must_enrol_totp and not has_second_factor(db, username))
    with write_transaction(db.conn):
        db.execute("update users set failed_logins = 0, locked_until = null where username = ?", [username])
        db.execute("delete from sessions where expires_at <= ? or last_seen <= ?", [now, now - sessions.idle])
        db.execute("insert into sessions (token_hash, username, created_at, expires_at, csrf_token, last_seen, remote)"
                   " values (?, ?, ?, ?, ?, ?, ?)",
                   [session.token_hash, username, now, session.expires_at, session.csrf_token, now, remote])
        audit(db, "login", username=username, target=username, remote=remote, details=details, now=now)
    return token, session


def lock(db: sqlite_utils.Database, username: str, remote: str | None, logins: LoginPolicy, now: float) -> None:
    with write_transaction(db.conn):
        db.execute("update users set locked_until = ?, failed_logins = 0 where username = ?",
                   [now + logins.lockout, username])
        audit(db, "account_locked", username=None, target=username, remote=remote,
              details={"seconds": logins.lockout, "after_failures": logins.max_failures}, now=now)


def session_for(db: sqlite_utils.Database, token: str | None, policy: SessionPolicy = SessionPolicy(),
                now: float | None = None, admin_totp: bool = False) -> Session | None:
    """The live session of a cookie value, or None (an expired one is deleted); notes the request time."""
    if not token or not TOKEN_PATTERN.fullmatch(token):
        return None
    now = time.time() if now is None else now
    digest = token_hash(token)
    row = db.execute(
        "select s.username, u.role, s.created_at, s.expires_at, s.csrf_token, s.last_seen,"
        " exists (select 1 from user_totp t where t.username = u.username and t.confirmed_at is not null)"
        " from sessions s join users u on u.username = s.username where s.token_hash = ?", [digest]).fetchone()
    if row is None:
        return None
    username, role, created_at, expires_at, csrf_token, last_seen, second_factor = row
    expires_at = min(expires_at, created_at + policy.max_age)
    if now >= expires_at or now - last_seen >= policy.idle:
        db.execute("delete from sessions where token_hash = ?", [digest])
        return None
    if now - last_seen >= policy.touch_every:
        db.execute("update sessions set last_seen = ? where token_hash = ?", [now, digest])
    return Session(username, role, created_at, expires_at, digest, csrf_token,
                   admin_totp and role == "admin" and not second_factor)


def logout(db: sqlite_utils.Database, session: Session, remote: str | None, now: float | None = None) -> None:
    """End the session; the user's push subscriptions end with it (no notifications to a phone logged out)."""
    now = time.time() if now is None else now
    with write_transaction(db.conn):
        db.execute("delete from sessions where token_hash = ?", [session.token_hash])
        unsubscribed = push_subscriptions.remove_user(db.conn, session.username)
        audit(db, "logout", username=session.username, target=session.username, remote=remote,
              details={"push_subscriptions_removed": unsubscribed} if unsubscribed else None, now=now)


# -- audit log --------------------------------------------------------------------------------


def audit(db: sqlite_utils.Database, action: str, *, username: str | None, target: str | None = None,
          remote: str | None = None, details: dict | None = None, now: float | None = None) -> None:
    """Append one entry to the hash chain (vigia.appliance.audit_log; never pass secrets in `details`)."""
    audit_log.append(db.conn, action, username=username, target=target, remote=remote, details=details, now=now)


def audit_entries(db: sqlite_utils.Database, *, limit: int = 100, before: int | None = None) -> list[dict]:
    """Newest first; `before` an id to page back from."""
    rows = db.execute(
        "select id, at, username, action, target, remote, details from audit_log"
        " where ? is null or id < ? order by id desc limit ?", [before, before, limit])
    return [{"id": i, "at": at, "username": u, "action": a, "target": t, "remote": r, "details": json.loads(d)}
            for i, at, u, a, t, r, d in rows]
