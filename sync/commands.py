"""Commands from central, run on the appliance: the uploader polls for them when it is idle.

    upload_clip {"event_id"}             assemble the event's clip and queue it (vigia.sync.media.queue_clip)
    set_layout {"camera", "layout"}      a camera's zones, lines and rules, as the UI applies them
    rotate_credentials {}                a new device key, its CSR (signed by the device identity) signed by
                                         central's CA (POST /v1/rotate)
    install_model {"model_id", "sha256", "size", "signature", "url", "watch_s"}
                                         central's signature over (sha256, size) checked with the key from
                                         enrolment, the model downloaded (presigned URL, resumable), its size and
                                         sha256 checked, then vigia.appliance.model_slot: contract, smoke test
                                         on recent frames, switch, watch. A refusal keeps the old model and is
                                         acknowledged with {"refused": true, "error": reason}
    rollback_model {"model_id", "reason"} back to the model before `model_id` (when it is the one running)
    install_software {"version", "filename", "sha256", "size", "signature", "url"}
                                         a new Vigia release (vigia.sync.software_update): the signature checked
                                         first, the wheel downloaded (resumable), size and sha256 checked, then
                                         handed to the root service that installs it beside the running version,
                                         switches, checks health and rolls back on failure. The command is
                                         acknowledged with that service's result, from whichever version runs then

Each command is acknowledged with {"ok", "result"} (a failure: ok false and the error message).
Commands run are kept in `executed_commands` (SQLite) with their result: after a restart a command
is acknowledged again, never run again. A model download that is cut off is neither stored nor acknowledged:
the command comes again at the next poll and the download resumes. A software release waits the same way
until the root service's result is there.
"""
from __future__ import annotations

import asyncio
import json
import logging
import sqlite3
import ssl
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import aiohttp
from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec

from vigia.appliance.config import ConfigError, Record
from vigia.appliance.model_slot import ModelRefused, ModelSlot
from vigia.appliance.software import SoftwareRefused
from vigia.inference.model_signature import SignatureRefused, verify_model_signature
from vigia.kit.files import PRIVATE, PUBLIC, write_credential
from vigia.kit.wheels import WHEEL_NAME
from vigia.sync.answers import read_answer
from vigia.sync.identity import (
    SyncCredentials,
    certificate_request,
    client_context,
    commit_rotation,
    device_identity,
    identity_proof,
)
from vigia.sync.media import MediaSource, queue_clip
from vigia.sync.model_download import DownloadCut, download, sha256_of
from vigia.sync.software_update import Exchange, Request, verify_signature

log = logging.getLogger(__name__)


class CommandError(Exception):
    """A command that cannot be carried out; the message goes back to central."""


class CommandWaits(Exception):
    """A command under way elsewhere (a software release with the root service): acknowledged at a later poll."""


@dataclass(frozen=True)
class CommandHandlers:
    """What the running appliance does for commands: apply a layout (as the UI does), a camera's Record settings and
    privacy masks."""

    apply_layout: Callable[[str, dict, str], dict]   # (camera, layout, username) -> the layout saved
    record_settings: Callable[[str], Record]         # camera -> its Record settings
    privacy_masks: Callable[[str], list]             # camera -> its privacy masks' polygons (painted on clips)
    models: Callable[[], ModelSlot | None] = lambda: None  # the detector's model slot (None: no detector yet)
    software: Exchange | None = None  # where software releases go to the root service (None: not updated this way)


@dataclass(frozen=True)
class Commands:
    """What an uploader needs to take commands: the device identity (rotated in place) and the handlers."""

    identity: SyncCredentials
    handlers: CommandHandlers


class CommandRunner:
    """Fetches the device's pending commands, runs each once, acknowledges it."""

    def __init__(self, conn: sqlite3.Connection, identity: SyncCredentials, database: Path, media: MediaSource,
                 handlers: CommandHandlers, on_rotated: Callable[[ssl.SSLContext], None]):
        self._conn = conn
        self._identity = identity
        self._database = database
        self._media = media
        self._handlers = handlers
        self._on_rotated = on_rotated
        self.ssl = client_context(identity)

    async def poll(self, session: aiohttp.ClientSession) -> int:
        """Run and acknowledge the pending commands; returns how many were acknowledged (0 when unreachable)."""
        try:
            status, answer = await self._request(session, "GET", "/v1/commands")
        except (aiohttp.ClientError, asyncio.TimeoutError, OSError, ValueError) as exc:
            log.warning("cannot fetch commands from central (%s)", type(exc).__name__)
            return 0
        if status != 200 or "commands" not in answer:
            (log.warning if status >= 500 else log.error)("central did not give the commands (%d: %s)", status,
                                                          answer.get("message", answer))
            return 0
        acked = 0
        for command in answer["commands"]:
            ok, result = await asyncio.to_thread(self._stored, command["id"])
            if ok is None:
                try:
                    ok, result = await self._run(session, command)
                except (DownloadCut, CommandWaits) as exc:
                    log.warning("command %s waits: %s", command["id"], exc)
                    continue
                await asyncio.to_thread(self._store, command["id"], ok, result)
            try:
                status, answer = await self._request(session, "POST", f"/v1/commands/{command['id']}/ack",
                                                     {"ok": ok, "result": result})
            except (aiohttp.ClientError, asyncio.TimeoutError, OSError, ValueError) as exc:
                log.warning("command %s ran; its acknowledgement waits (%s)", command["id"], type(exc).__name__)
                return acked
            if status == 200:
                acked += 1
            else:
                log.error("central refused the acknowledgement of command %s (%d: %s)", command["id"], status,
                          answer.get("message", answer))
        return acked

    async def _run(self, session: aiohttp.ClientSession, command: dict) -> tuple[bool, dict]:
        kind, body = command["kind"], command["body"]
        log.info("running command %s: %s", command["id"], kind)
        try:
            if kind == "upload_clip":
                return True, await asyncio.to_thread(self._upload_clip, body["event_id"])
            if kind == "set_layout":
                saved = await asyncio.to_thread(self._handlers.apply_layout, body["camera"], body["layout"],
                                                f"central:{command['created_by']}")
                return True, {"camera": body["camera"], "layout": saved}
            if kind == "rotate_credentials":
                return True, await self._rotate(session)
            if kind == "install_model":
                return await self._install_model(session, body)
            if kind == "install_software":
                return await self._install_software(command["id"], body)
            if kind == "rollback_model":
                return True, await asyncio.to_thread(self._slot().rollback, body["model_id"],
                                                     body.get("reason") or f"asked by {command['created_by']}")
            raise CommandError(f"unknown command kind {kind!r}")
        except (DownloadCut, CommandWaits):
            raise
        except (ModelRefused, SignatureRefused, SoftwareRefused) as exc:
            what = {"version": body.get("version")} if kind == "install_software" else {"model_id": body.get("model_id")}
            log.error("command %s: %s refused: %s", command["id"], what, exc)
            return False, {"refused": True, **what, "error": str(exc)}
        except ConfigError as exc:
            return False, {"error": str(exc), "fields": [issue.path for issue in exc.issues]}
        except KeyError as exc:
            return False, {"error": f"unknown camera or missing field: {exc}"}
        except Exception as exc:  # noqa: BLE001 - any failure is acknowledged with its message
            log.error("command %s (%s) failed: %s", command["id"], kind, exc)
            return False, {"error": f"{type(exc).__name__}: {exc}" if not isinstance(exc, CommandError) else str(exc)}

    def _upload_clip(self, event_id: str) -> dict:
        row = self._conn.execute("SELECT camera FROM events WHERE id = ?", [event_id]).fetchone()
        if row is None:
            raise CommandError(f"no event {event_id!r} on this appliance")
        relative = queue_clip(self._conn, self._database, self._media, event_id, self._handlers.record_settings(row[0]),
                              self._handlers.privacy_masks(row[0]))
        return {"event_id": event_id, "path": relative}

    def _slot(self) -> ModelSlot:
        slot = self._handlers.models()
        if slot is None:
            raise CommandError("no detector runs on this appliance yet (no camera): no model to replace")
        return slot

    async def _install_model(self, session: aiohttp.ClientSession, body: dict) -> tuple[bool, dict]:
        slot = self._slot()
        model_id, sha256, size = body["model_id"], body["sha256"], body["size"]
        if not isinstance(size, int) or size <= 0 or not isinstance(sha256, str):
            raise CommandError("install_model: size must be a positive integer and sha256 a hex string")
        key = self._identity.model_signing_key
        if not key.exists():
            raise ModelRefused("no model-signing key from central on this device (enrolled before models were"
                               " signed): enrol again")
        verify_model_signature(key.read_text().strip(), body.get("signature"), sha256, size)  # before any download
        path = slot.models_dir / "incoming" / f"{sha256}.onnx"
        async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=None, sock_read=30)) as plain:
            await download(plain, body["url"], path, size)
        try:
            got = await asyncio.to_thread(sha256_of, path)
            if got != sha256:
                raise ModelRefused(f"tampered: the bytes downloaded have sha256 {got[:12]}..., central signed"
                                   f" {sha256[:12]}...")
            result = await asyncio.to_thread(slot.install, path, model_id, float(body.get("watch_s", 300)))
        finally:
            path.unlink(missing_ok=True)
        return True, result

    async def _install_software(self, command_id: int, body: dict) -> tuple[bool, dict]:
        exchange = self._handlers.software
        if exchange is None:
            raise CommandError("this appliance does not update its own software (installed without releases)")
        result = exchange.result(command_id)
        if result is not None:
            return bool(result.pop("ok")), {k: v for k, v in result.items() if k != "command_id"}
        pending = exchange.request()
        if pending is not None and pending.command_id == command_id:
            raise CommandWaits(f"release {pending.version} is being installed by the root service")
        filename = body.get("filename")
        if not isinstance(filename, str) or not WHEEL_NAME.match(filename):
            raise SoftwareRefused(f"install_software: filename {filename!r} is not a Vigia wheel's name")
        request = Request.from_command(command_id, body, exchange.incoming / body["sha256"] / filename)
        key = self._identity.model_signing_key
        if not key.exists():
            raise SoftwareRefused("no signing key from central on this device (enrolled before releases were signed):"
                                  " enrol again")
        verify_signature(key.read_text().strip(), request)  # before any download
        wheel = Path(request.wheel)
        async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=None, sock_read=30)) as plain:
            await download(plain, body["url"], wheel, request.size)
        got = await asyncio.to_thread(sha256_of, wheel)
        if got != request.sha256:
            wheel.unlink(missing_ok=True)
            raise SoftwareRefused(f"tampered: the bytes downloaded have sha256 {got[:12]}..., central signed"
                                  f" {request.sha256[:12]}...")
        await asyncio.to_thread(exchange.put_request, request)
        raise CommandWaits(f"release {request.version} handed to the root service")

    async def _rotate(self, session: aiohttp.ClientSession) -> dict:
        key = ec.generate_private_key(ec.SECP256R1())  # a new transport key; the device identity stays
        write_credential(self._identity.next_key, key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()), PRIVATE)
        csr = certificate_request(key)
        proof = identity_proof(await asyncio.to_thread(device_identity, self._identity.folder), csr)
        status, answer = await self._request(session, "POST", "/v1/rotate", {"csr": csr.decode(), **proof})
        if status != 200 or "certificate" not in answer:
            self._identity.next_key.unlink(missing_ok=True)
            raise CommandError(f"central refused the new certificate ({status}: {answer.get('message', answer)})")
        certificate = answer["certificate"].encode()
        serial = x509.load_pem_x509_certificate(certificate).serial_number
        write_credential(self._identity.next_certificate, certificate, PUBLIC)
        commit_rotation(self._identity)
        self.ssl = client_context(self._identity)
        self._on_rotated(self.ssl)
        log.info("device certificate rotated (serial %X)", serial)
        return {"serial": format(serial, "X")}

    async def _request(self, session: aiohttp.ClientSession, method: str, path: str,
                       payload: dict | None = None) -> tuple[int, dict]:
        async with session.request(method, self._identity.central_url + path, json=payload, ssl=self.ssl) as response:
            return await read_answer(response)

    def _stored(self, command_id: int) -> tuple[bool | None, dict]:
        row = self._conn.execute("SELECT ok, result FROM executed_commands WHERE id = ?", [command_id]).fetchone()
        return (None, {}) if row is None else (bool(row[0]), json.loads(row[1]))

    def _store(self, command_id: int, ok: bool, result: dict) -> None:
        self._conn.execute("INSERT INTO executed_commands (id, ok, result, executed_at) VALUES (?, ?, ?, ?)",
                           [command_id, int(ok), json.dumps(result), time.time()])
