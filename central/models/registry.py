"""The model registry: each model's bytes in S3 (`models/<sha256>.onnx`), its record in PostgreSQL.

A model comes in as a `candidate` (`register_model`: its ONNX contract checked by the model store's own parser),
is signed with central's model-signing key when an operator approves it, goes `rolling_out` and `deployed`
through rollouts (vigia.central.models.rollout), and is `retired` when no longer offered. Every change of state is
written to `model_audit`.
"""
from __future__ import annotations

import hashlib
from dataclasses import dataclass
from pathlib import Path

import psycopg
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from psycopg.rows import dict_row
from psycopg.types.json import Jsonb

from vigia.central.ingest.media import MediaSettings, s3_client
from vigia.inference.errors import ModelError
from vigia.inference.model_signature import sign_model
from vigia.inference.onnx_model import parse_model

STATES = ("candidate", "approved", "rolling_out", "deployed", "retired")
DOWNLOAD_EXPIRES_S = 6 * 3600   # a device offline for a while still gets its model with the URL it was given
COLUMNS = ("id, name, sha256, size, s3_key, input_shape, output_shape, num_classes, class_names, metrics, lineage, "
           "state, signature, created_at, updated_at")


class RegistryError(Exception):
    """A registry operation that cannot be done (unknown model, wrong state); the message says why."""


@dataclass(frozen=True)
class ModelRecord:
    id: str
    name: str
    sha256: str
    size: int
    s3_key: str
    input_shape: list
    output_shape: list
    num_classes: int
    class_names: list[str]
    metrics: dict
    lineage: dict
    state: str
    signature: str | None

    @classmethod
    def from_row(cls, row: dict) -> ModelRecord:
        return cls(**{name: row[name] for name in cls.__dataclass_fields__})

    @property
    def gate_rejected(self) -> bool:
        """The evaluation gate rejected it (training's verdict in `metrics["gate"]`); a model without one is not."""
        return (self.metrics.get("gate") or {}).get("passed") is False

    @property
    def gate_reasons(self) -> list[str]:
        return list((self.metrics.get("gate") or {}).get("reasons") or [])

    def as_json(self) -> dict:
        return {name: getattr(self, name) for name in self.__dataclass_fields__}


async def audit(conn: psycopg.AsyncConnection, model_id: str | None, action: str, actor: str, detail: dict | None = None,
                *, rollout_id: int | None = None, device_id: str | None = None, software_version: str | None = None) -> None:
    """One line of the audit trail, of a model or (model_id None) of a software release (vigia.central.software)."""
    await conn.execute("INSERT INTO model_audit (model_id, software_version, rollout_id, device_id, action, actor, detail)"
                       " VALUES (%s, %s, %s, %s, %s, %s, %s)",
                       [model_id, software_version, rollout_id, device_id, action, actor, Jsonb(detail or {})])


async def register_model(conn: psycopg.AsyncConnection, bucket: MediaSettings, onnx_path: str | Path,
                         lineage: dict, metrics: dict, *, name: str | None = None,
                         actor: str = "central") -> ModelRecord:
    """Check the ONNX contract, store the bytes in S3 and record the model as a candidate (the same bytes again:
    the record there is). ModelError when the file is not a usable model."""
    path = Path(onnx_path)
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise ModelError(f"cannot read model {path}: {exc}") from None
    _, spec = parse_model(data, path)
    sha256 = hashlib.sha256(data).hexdigest()
    existing = await _select(conn, "sha256 = %s", [sha256])
    if existing:
        return existing[0]
    key = f"models/{sha256}.onnx"
    s3_client(bucket).put_object(Bucket=bucket.bucket, Key=key, Body=data, ContentType="application/octet-stream")
    model_id = f"{name or path.stem}-{sha256[:12]}"
    async with conn.transaction():
        cursor = conn.cursor(row_factory=dict_row)
        await cursor.execute(
            f"INSERT INTO models (id, name, sha256, size, s3_key, input_shape, output_shape, num_classes, class_names, "
            f"metrics, lineage) VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s) RETURNING {COLUMNS}",
            [model_id, name or path.stem, sha256, len(data), key, Jsonb(list(spec.input_shape)),
             Jsonb(list(spec.output_shape)), spec.num_classes, Jsonb(list(spec.class_names)), Jsonb(metrics),
             Jsonb(lineage)])
        record = ModelRecord.from_row(await cursor.fetchone())
        await audit(conn, model_id, "registered", actor, {"sha256": sha256, "size": len(data), "s3_key": key})
    return record


async def _select(conn: psycopg.AsyncConnection, where: str, params: list) -> list[ModelRecord]:
    cursor = conn.cursor(row_factory=dict_row)
    await cursor.execute(f"SELECT {COLUMNS} FROM models WHERE {where} ORDER BY created_at, id", params)
    return [ModelRecord.from_row(row) for row in await cursor.fetchall()]


async def list_models(conn: psycopg.AsyncConnection) -> list[ModelRecord]:
    return await _select(conn, "true", [])


async def get_model(conn: psycopg.AsyncConnection, model_id: str) -> ModelRecord:
    found = await _select(conn, "id = %s", [model_id])
    if not found:
        raise RegistryError(f"no model {model_id!r} in the registry (`vigia central models list`)")
    return found[0]


async def set_state(conn: psycopg.AsyncConnection, model_id: str, state: str, actor: str, allowed_from: tuple[str, ...],
                    detail: dict | None = None, signature: str | None = None) -> ModelRecord:
    """Move a model to `state` from one of `allowed_from` (audited); RegistryError otherwise."""
    async with conn.transaction():
        model = await get_model(conn, model_id)
        if model.state not in allowed_from:
            raise RegistryError(f"model {model_id} is {model.state}; {state} needs it {' or '.join(allowed_from)}")
        await conn.execute("UPDATE models SET state = %s, signature = coalesce(%s, signature), updated_at = now() "
                           "WHERE id = %s", [state, signature, model_id])
        await audit(conn, model_id, state, actor, detail)
    return await get_model(conn, model_id)


async def approve_model(conn: psycopg.AsyncConnection, model_id: str, key: Ed25519PrivateKey, actor: str, *,
                        override: bool = False) -> ModelRecord:
    """Sign the candidate with central's model-signing key and make it approved (rollouts take only these). A
    candidate the evaluation gate rejected needs `override` (audited with the gate's reasons)."""
    model = await get_model(conn, model_id)
    detail: dict = {"signed": True}
    if model.gate_rejected:
        if not override:
            raise RegistryError(f"model {model_id} was rejected by the evaluation gate "
                                f"({'; '.join(model.gate_reasons) or 'no reason recorded'}): approving it needs an "
                                "explicit override")
        detail |= {"override": True, "gate_reasons": model.gate_reasons}
    signature = sign_model(key, model.sha256, model.size)
    return await set_state(conn, model_id, "approved", actor, ("candidate",), detail, signature)


async def retire_model(conn: psycopg.AsyncConnection, model_id: str, actor: str) -> ModelRecord:
    return await set_state(conn, model_id, "retired", actor, ("candidate", "approved", "deployed"))


def download_url(bucket: MediaSettings, model: ModelRecord, expires_s: int = DOWNLOAD_EXPIRES_S) -> str:
    """A presigned GET of the model's bytes (devices download with HTTP Range, resuming a cut download)."""
    return presigned(bucket, model.s3_key, expires_s)


def presigned(bucket: MediaSettings, key: str, expires_s: int = DOWNLOAD_EXPIRES_S) -> str:
    return s3_client(bucket).generate_presigned_url("get_object", ExpiresIn=expires_s,
                                                    Params={"Bucket": bucket.bucket, "Key": key})


async def fresh_links(conn: psycopg.AsyncConnection, bucket: MediaSettings, commands: list[dict],
                      expires_s: int = DOWNLOAD_EXPIRES_S) -> list[dict]:
    """`commands` as they are delivered: each `install_model`'s link presigned anew, so a device offline longer than
    a link lives still downloads its model when it comes back (the model found by the sha256 central signed)."""
    wanted = [c["body"].get("sha256") for c in commands if c["kind"] == "install_model"]
    if not wanted:
        return commands
    cursor = await conn.execute("SELECT sha256, s3_key FROM models WHERE sha256 = ANY(%s)", [wanted])
    keys = dict(await cursor.fetchall())
    return [{**c, "body": {**c["body"], "url": presigned(bucket, keys[c["body"]["sha256"]], expires_s)}}
            if c["kind"] == "install_model" and c["body"].get("sha256") in keys else c for c in commands]
