"""Central's side of device identity: one-time enrolment tokens, certificates on record, revocation.

Only the SHA-256 of a token is stored; a token works once, before it expires. A device's current
certificate serial is kept in `devices`: a new enrolment supersedes the old certificate, and a
revoked device is refused at its next batch.
"""
from __future__ import annotations

import hashlib
import re
import secrets

import psycopg
from vigia.sync.protocol import DEVICE_ID_PATTERN, ProtocolError


def _digest(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def check_device_id(device_id: str) -> str:
    if not re.fullmatch(DEVICE_ID_PATTERN, device_id):
        raise ValueError(f"device id {device_id!r}: lower-case letters, digits and '-', at most 63, not starting with '-'")
    return device_id


async def create_token(conn: psycopg.AsyncConnection, device_id: str, ttl_s: float) -> str:
    """A new one-time enrolment token for `device_id`, valid `ttl_s` seconds (shown once, stored hashed)."""
    token = secrets.token_urlsafe(32)
    await conn.execute(
        "INSERT INTO enrolment_tokens (token_sha256, device_id, expires_at) "
        "VALUES (%s, %s, now() + make_interval(secs => %s))", [_digest(token), check_device_id(device_id), ttl_s])
    return token


async def consume_token(conn: psycopg.AsyncConnection, token: str) -> str:
    """The device id the token was made for; the token is used up. ProtocolError when it is not valid."""
    cursor = await conn.execute(
        "UPDATE enrolment_tokens SET used_at = now() WHERE token_sha256 = %s AND used_at IS NULL "
        "AND expires_at > now() RETURNING device_id", [_digest(token)])
    row = await cursor.fetchone()
    if row is None:
        raise ProtocolError(403, "bad_token", "the enrolment token is unknown, expired or already used")
    return row[0]


async def record_certificate(conn: psycopg.AsyncConnection, device_id: str, serial: int) -> int:
    """Make `serial` the device's one valid certificate (clearing a revocation); returns its high-water mark."""
    cursor = await conn.execute(
        "INSERT INTO devices (device_id, cert_serial, enrolled_at) VALUES (%s, %s, now()) "
        "ON CONFLICT (device_id) DO UPDATE SET cert_serial = excluded.cert_serial, enrolled_at = now(), "
        "revoked_at = NULL RETURNING high_water", [device_id, format(serial, "X")])
    return (await cursor.fetchone())[0]


async def revoke(conn: psycopg.AsyncConnection, device_id: str) -> bool:
    """Refuse the device from its next batch on; False when no such device is enrolled."""
    cursor = await conn.execute("UPDATE devices SET revoked_at = now() WHERE device_id = %s AND revoked_at IS NULL",
                                [device_id])
    return cursor.rowcount == 1
