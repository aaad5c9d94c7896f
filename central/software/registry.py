"""Vigia's own releases at central: a wheel imported (`vigia central software import`) is stored in S3
(`software/<sha256>/<wheel name>`), recorded in PostgreSQL and signed at once with central's signing key (purpose
"software": a model's signature never passes for a release's). Rollouts take them like models
(vigia.central.models.rollout): the device installs the release beside the running one and its own health check
after the switch is the judge.
"""
from __future__ import annotations

import hashlib
from dataclasses import dataclass
from pathlib import Path

import psycopg
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from psycopg.rows import dict_row

from vigia.central.ingest.media import MediaSettings, s3_client
from vigia.central.models.registry import RegistryError, audit
from vigia.inference.model_signature import sign_model
from vigia.kit.wheels import wheel_version

COLUMNS = "version, filename, sha256, size, s3_key, signature, state, created_by"


@dataclass(frozen=True)
class Release:
    version: str
    filename: str
    sha256: str
    size: int
    s3_key: str
    signature: str
    state: str
    created_by: str

    def as_json(self) -> dict:
        return {name: getattr(self, name) for name in self.__dataclass_fields__}


async def import_release(conn: psycopg.AsyncConnection, bucket: MediaSettings, wheel: Path, key: Ed25519PrivateKey,
                         actor: str) -> Release:
    """Store, record and sign a Vigia wheel; RegistryError when that version is already there with other bytes."""
    version = wheel_version(wheel)
    data = wheel.read_bytes()
    sha256 = hashlib.sha256(data).hexdigest()
    existing = await _select(conn, "version = %s", [version])
    if existing:
        if existing[0].sha256 != sha256:
            raise RegistryError(f"version {version} is already in the registry with other bytes"
                                f" (sha256 {existing[0].sha256[:12]}...): give the new build a new version")
        return existing[0]
    s3_key = f"software/{sha256}/{wheel.name}"
    s3_client(bucket).put_object(Bucket=bucket.bucket, Key=s3_key, Body=data, ContentType="application/octet-stream")
    signature = sign_model(key, sha256, len(data), purpose="software")
    async with conn.transaction():
        await conn.execute("INSERT INTO software_releases (version, filename, sha256, size, s3_key, signature, created_by)"
                           " VALUES (%s, %s, %s, %s, %s, %s, %s)",
                           [version, wheel.name, sha256, len(data), s3_key, signature, actor])
        await audit(conn, None, "registered", actor, {"sha256": sha256, "size": len(data), "s3_key": s3_key},
                    software_version=version)
    return await get_release(conn, version)


async def _select(conn: psycopg.AsyncConnection, where: str, params: list) -> list[Release]:
    cursor = conn.cursor(row_factory=dict_row)
    await cursor.execute(f"SELECT {COLUMNS} FROM software_releases WHERE {where} ORDER BY created_at, version", params)
    return [Release(**row) for row in await cursor.fetchall()]


async def list_releases(conn: psycopg.AsyncConnection) -> list[Release]:
    return await _select(conn, "true", [])


async def get_release(conn: psycopg.AsyncConnection, version: str) -> Release:
    found = await _select(conn, "version = %s", [version])
    if not found:
        raise RegistryError(f"no release {version!r} in the registry (`vigia central software list`)")
    return found[0]


async def set_release_state(conn: psycopg.AsyncConnection, version: str, state: str, actor: str,
                            detail: dict | None = None) -> None:
    await conn.execute("UPDATE software_releases SET state = %s, updated_at = now() WHERE version = %s", [state, version])
    await audit(conn, None, state, actor, detail, software_version=version)


def install_body(release: Release) -> dict:
    """The `install_software` command's body, without its download URL."""
    return {"version": release.version, "filename": release.filename, "sha256": release.sha256, "size": release.size,
            "signature": release.signature}
