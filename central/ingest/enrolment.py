"""Central's side of device identity: one-time enrolment tokens, certificates on record, revocation.

Only the SHA-256 of a token is stored; a token works once, before it expires. A device's current
certificate serial is kept in `devices`: a new enrolment supersedes the old certificate, and a
revoked device is refused at its next batch. A rotated certificate is pending until the device first
presents it (`check_certificate`): only then is the one before it superseded, so a device that dies
between central signing and its saving the new certificate goes on with the old one and rotates again.

Each CSR comes with the device's permanent identity: its Ed25519 public key and a signature by it over
the CSR's PEM bytes (`verify_identity`). The first enrolment of a device id records the identity key
and its id (SHA-256 hex, what the appliance shows as its device id); a later enrolment or a rotation
must come from the same identity, except that an enrolment after the operator revoked the device
(a replacement box) records the new one.
"""
from __future__ import annotations

import base64
import binascii
import hashlib
import re
import secrets
from dataclasses import dataclass

import psycopg
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from vigia.sync.protocol import DEVICE_ID_PATTERN, ProtocolError


def _digest(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


NAME_GUIDE = "README, Sync with central: \"The device's name at central\""


def check_device_id(device_id: str) -> str:
    """The name central will know a device by (its certificate's subject, its rows' device_id), chosen by the operator."""
    if re.fullmatch(DEVICE_ID_PATTERN, device_id):
        return device_id
    if re.fullmatch(r"[0-9a-f]{64}", device_id):
        raise ValueError(f"{device_id[:8]}...: that is the device's 64-hex identity id (`vigia status`), not a name at"
                         " central. Give the device a name of your own, such as gate-01 (lower-case letters, digits"
                         f" and '-', at most 63 characters); central keeps the identity id beside it. See {NAME_GUIDE}")
    raise ValueError(f"device name {device_id!r}: lower-case letters, digits and '-', at most 63 characters, not"
                     f" starting with '-' (a name of your choice, such as gate-01). See {NAME_GUIDE}")


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


@dataclass(frozen=True)
class DeviceIdentity:
    key: str   # the raw Ed25519 public key, base64 (canonical: as central encodes it)
    id: str    # SHA-256 of the raw public key, hex

    @property
    def short_id(self) -> str:
        return self.id[:8]


def verify_identity(payload: dict, csr_pem: bytes) -> DeviceIdentity:
    """The identity that signed `csr_pem` (payload's "identity_key" and "identity_signature", base64);
    ProtocolError 400 bad_identity when either is missing or the signature does not verify."""
    key, signature = payload.get("identity_key"), payload.get("identity_signature")
    if not isinstance(key, str) or not isinstance(signature, str):
        raise ProtocolError(400, "bad_identity", "the request must carry the device identity: identity_key (raw"
                            " Ed25519 public key, base64) and identity_signature (its signature over the CSR, base64)")
    try:
        raw = base64.b64decode(key, validate=True)
        public = Ed25519PublicKey.from_public_bytes(raw)
        public.verify(base64.b64decode(signature, validate=True), csr_pem)
    except (binascii.Error, ValueError):
        raise ProtocolError(400, "bad_identity", "identity_key must be a raw Ed25519 public key and"
                            " identity_signature a signature, both base64") from None
    except InvalidSignature:
        raise ProtocolError(400, "bad_identity", "the identity signature over the CSR does not verify:"
                            " the CSR was not signed by this device identity") from None
    return DeviceIdentity(base64.b64encode(raw).decode(), hashlib.sha256(raw).hexdigest())


def _mismatch(device_id: str, identity: DeviceIdentity, what: str) -> ProtocolError:
    return ProtocolError(403, "identity_mismatch", f"device {device_id!r} is bound to another device identity than"
                         f" {identity.short_id} ({what})")


async def enrol_device(conn: psycopg.AsyncConnection, device_id: str, serial: int, identity: DeviceIdentity) -> int:
    """At enrolment: make `serial` the device's one valid certificate (clearing a revocation) and record its
    identity; returns its high-water mark. A device id bound to another identity is refused (403
    identity_mismatch) unless it is revoked. One statement: concurrent enrolments cannot both bind."""
    cursor = await conn.execute(
        "INSERT INTO devices (device_id, cert_serial, enrolled_at, identity_key, identity_id) "
        "VALUES (%s, %s, now(), %s, %s) "
        "ON CONFLICT (device_id) DO UPDATE SET cert_serial = excluded.cert_serial, pending_serial = NULL, "
        "enrolled_at = now(), "
        "revoked_at = NULL, identity_key = excluded.identity_key, identity_id = excluded.identity_id "
        "WHERE devices.identity_key IS NULL OR devices.identity_key = excluded.identity_key "
        "OR devices.revoked_at IS NOT NULL RETURNING high_water",
        [device_id, format(serial, "X"), identity.key, identity.id])
    row = await cursor.fetchone()
    if row is None:
        raise _mismatch(device_id, identity, "revoke the device first to enrol a replacement")
    return row[0]


async def rotate_certificate(conn: psycopg.AsyncConnection, device_id: str, serial: int,
                             identity: DeviceIdentity) -> None:
    """At rotation: make `serial` the device's pending certificate when `identity` is the one on record
    (a device enrolled before identities were recorded gets this one); 403 identity_mismatch otherwise.
    The current certificate stays valid until the device first presents the pending one."""
    cursor = await conn.execute(
        "UPDATE devices SET pending_serial = %s, identity_key = coalesce(identity_key, %s), "
        "identity_id = coalesce(identity_id, %s) "
        "WHERE device_id = %s AND (identity_key IS NULL OR identity_key = %s) RETURNING device_id",
        [format(serial, "X"), identity.key, identity.id, device_id, identity.key])
    if await cursor.fetchone() is None:
        raise _mismatch(device_id, identity, "a rotation must come from the enrolled box")


async def check_certificate(conn: psycopg.AsyncConnection, device_id: str, presented: int, *,
                            lock: bool = False) -> int:
    """Refuse an unknown device, a revoked one, or a certificate that is neither its current one nor its
    pending one; a pending one presented becomes current (the one before it superseded from then on).
    Returns the device's high-water mark; with `lock`, its row stays locked for the transaction."""
    cursor = await conn.execute(
        "SELECT high_water, cert_serial, pending_serial, revoked_at FROM devices WHERE device_id = %s"
        + (" FOR UPDATE" if lock else ""), [device_id])
    row = await cursor.fetchone()
    if row is None:
        raise ProtocolError(403, "unknown_device", f"device {device_id!r} is not enrolled")
    high_water, current, pending, revoked_at = row
    if revoked_at is not None:
        raise ProtocolError(403, "revoked", f"device {device_id!r} was revoked at {revoked_at:%Y-%m-%d %H:%M:%S} UTC")
    if pending is not None and int(pending, 16) == presented:
        await conn.execute("UPDATE devices SET cert_serial = pending_serial, pending_serial = NULL "
                           "WHERE device_id = %s AND pending_serial = %s", [device_id, pending])
    elif current is None or int(current, 16) != presented:
        raise ProtocolError(403, "certificate_superseded",
                            f"this certificate of {device_id!r} was replaced by a later enrolment or rotation")
    return high_water


async def revoke(conn: psycopg.AsyncConnection, device_id: str) -> bool:
    """Refuse the device from its next batch on; False when no such device is enrolled."""
    cursor = await conn.execute("UPDATE devices SET revoked_at = now() WHERE device_id = %s AND revoked_at IS NULL",
                                [device_id])
    return cursor.rowcount == 1
