"""Central's side of commands to devices: issued by an operator, fetched and acknowledged by the device.

    GET  /v1/commands           the device's pending commands, oldest first (an `install_model`'s download link
                                presigned anew at each delivery: it outlives a device's time offline)
    POST /v1/commands/{id}/ack  {"ok": bool, "result": {...}} -> the command, now done or failed
    POST /v1/rotate             {"csr", "identity_key", "identity_signature"} -> {"certificate"}: a new
                                certificate, pending until the device first presents it (then the one
                                before it is superseded). The CSR must be signed by the
                                device identity recorded at enrolment (403 identity_mismatch otherwise)

The device id comes only from the verified certificate: another device's command is 404. Every
command issued and every acknowledgement is written to `command_audit` in the same transaction.
"""
from __future__ import annotations

import logging

import psycopg
from aiohttp import web
from cryptography.hazmat.primitives import serialization
from psycopg.rows import dict_row
from psycopg.types.json import Jsonb

from vigia.central.ingest.ca import CaError, CertificateAuthority, sign_device_csr
from vigia.central.ingest.command_store import COLUMNS, list_commands
from vigia.central.ingest.enrolment import check_certificate, rotate_certificate, verify_identity
from vigia.central.ingest.media import MediaSettings
from vigia.central.ingest.peer import INGEST, Peer, error_response, verified_peer
from vigia.central.models.registry import DOWNLOAD_EXPIRES_S, fresh_links
from vigia.sync.protocol import ProtocolError

log = logging.getLogger(__name__)

def _json(row: dict) -> dict:
    return {**row, "created_at": row["created_at"].timestamp(),
            "acked_at": row["acked_at"] and row["acked_at"].timestamp()}


def add_command_routes(app: web.Application, ca: CertificateAuthority, trusted_proxies: frozenset[str],
                       models: MediaSettings | None = None, link_s: int = DOWNLOAD_EXPIRES_S) -> None:
    """The device routes above, on the ingest app; `models`: the registry's bucket (the models' links), `link_s`
    how long a link delivered lives."""

    async def authenticated(request: web.Request, conn: psycopg.AsyncConnection) -> Peer:
        peer = verified_peer(request, trusted_proxies)
        if peer is None:
            raise ProtocolError(401, "unauthenticated", "a device certificate verified by the proxy is required")
        await check_certificate(conn, peer.device_id, peer.serial)
        return peer

    async def pending(request: web.Request) -> web.Response:
        try:
            async with request.app[INGEST].pool.connection() as conn:
                peer = await authenticated(request, conn)
                rows = await list_commands(conn, peer.device_id, pending_only=True)
                if models is not None:
                    rows = await fresh_links(conn, models, rows, link_s)
        except ProtocolError as exc:
            return error_response(exc)
        return web.json_response({"commands": [_json(row) for row in rows]})

    async def ack(request: web.Request) -> web.Response:
        try:
            async with request.app[INGEST].pool.connection() as conn:
                peer = await authenticated(request, conn)
                try:
                    payload = await request.json()
                    ok, result = payload["ok"], payload.get("result", {})
                    if not isinstance(ok, bool) or not isinstance(result, dict):
                        raise TypeError
                except (ValueError, KeyError, TypeError):
                    raise ProtocolError(400, "malformed", 'expected JSON {"ok": true|false, "result": {...}}') from None
                command_id = request.match_info["id"]
                async with conn.transaction():
                    cursor = conn.cursor(row_factory=dict_row)
                    await cursor.execute(
                        f"UPDATE device_commands SET state = %s, acked_at = now(), result = %s "
                        f"WHERE id = %s AND device_id = %s AND state = 'pending' RETURNING {COLUMNS}",
                        ["done" if ok else "failed", Jsonb(result), int(command_id) if command_id.isdigit() else -1,
                         peer.device_id])
                    row = await cursor.fetchone()
                    if row is None:
                        raise ProtocolError(404, "no_such_command", f"device {peer.device_id!r} has no pending"
                                            f" command {command_id}")
                    await conn.execute("INSERT INTO command_audit (command_id, device_id, action, actor, detail) "
                                       "VALUES (%s, %s, 'acked', %s, %s)",
                                       [row["id"], peer.device_id, f"device:{peer.device_id}",
                                        Jsonb({"ok": ok, "result": result})])
        except ProtocolError as exc:
            log.warning("command ack from %s refused: %s %s", request.remote, exc.code, exc.message)
            return error_response(exc)
        return web.json_response(_json(row))

    async def rotate(request: web.Request) -> web.Response:
        try:
            async with request.app[INGEST].pool.connection() as conn:
                peer = await authenticated(request, conn)
                try:
                    payload = await request.json()
                    csr = payload["csr"]
                    if not isinstance(csr, str):
                        raise TypeError
                except (ValueError, KeyError, TypeError):
                    raise ProtocolError(400, "malformed", 'expected JSON {"csr": "<PEM>", "identity_key": "...",'
                                        ' "identity_signature": "..."}') from None
                identity = verify_identity(payload, csr.encode())
                try:
                    certificate = sign_device_csr(ca, csr.encode(), peer.device_id, identity.id)
                except CaError as exc:
                    raise ProtocolError(400, "bad_csr", str(exc)) from None
                async with conn.transaction():
                    await rotate_certificate(conn, peer.device_id, certificate.serial_number, identity)
        except ProtocolError as exc:
            log.warning("credential rotation from %s refused: %s %s", request.remote, exc.code, exc.message)
            return error_response(exc)
        log.info("device %s rotated its certificate (serial %X supersedes %X)", peer.device_id,
                 certificate.serial_number, peer.serial)
        return web.json_response({"certificate": certificate.public_bytes(serialization.Encoding.PEM).decode()})

    app.router.add_get("/v1/commands", pending)
    app.router.add_post("/v1/commands/{id}/ack", ack)
    app.router.add_post("/v1/rotate", rotate)
