"""The appliance's side of `install_software` (vigia.sync.commands): a real command poll over mutual TLS to a small
central, the release's signature checked before any download, the wheel downloaded and checked, handed to the root
service, and the command acknowledged only once that service's result is there. Refused releases are acknowledged
at once with their reason, and nothing is handed over."""
from __future__ import annotations

import asyncio
import hashlib
import io
import ssl
import zipfile

import aiohttp
from aiohttp import web
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from support.tls import write_tls_files

from vigia.appliance.storage import connect
from vigia.central.models.signing import public_key_b64
from vigia.inference.model_signature import sign_model
from vigia.sync.commands import CommandHandlers, CommandRunner
from vigia.sync.identity import MODEL_SIGNING_KEY, SyncCredentials
from vigia.sync.software_update import Exchange


def wheel_bytes(version: str) -> bytes:
    """A minimal Vigia wheel: its dist-info says its version."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr(f"vigia-{version}.dist-info/METADATA", f"Metadata-Version: 2.1\nName: vigia\nVersion: {version}\n")
    return buffer.getvalue()


def test_install_software_is_checked_handed_over_and_acknowledged_with_the_root_services_result(tmp_path):
    tls = tmp_path / "tls"
    tls.mkdir()
    write_tls_files(tls)
    folder = tmp_path / "data" / "sync"
    folder.mkdir(parents=True)
    for source, target in (("ca.pem", "ca.crt"), ("server.pem", "device.crt"), ("server.key", "device.key")):
        (folder / target).write_bytes((tls / source).read_bytes())
    key = Ed25519PrivateKey.generate()
    (folder / MODEL_SIGNING_KEY).write_text(public_key_b64(key))
    data = wheel_bytes("0.2.0")
    sha256, size = hashlib.sha256(data).hexdigest(), len(data)
    name = "vigia-0.2.0-py3-none-any.whl"

    def body(**changes) -> dict:
        return {"version": "0.2.0", "filename": name, "sha256": sha256, "size": size,
                "signature": sign_model(key, sha256, size, purpose="software"), "url": "", **changes}

    commands = {1: body(), 2: body(signature=None), 3: body(signature=sign_model(Ed25519PrivateKey.generate(), sha256,
                                                                                  size, purpose="software")),
                4: body(signature=sign_model(key, sha256, size)),  # a model's signature over the same bytes
                5: body(sha256="0" * 64, signature=sign_model(key, "0" * 64, size, purpose="software"))}
    acks: dict[int, dict] = {}

    async def run() -> list[int]:
        app = web.Application()

        async def pending(_request):
            base = f"http://127.0.0.1:{bucket._server.sockets[0].getsockname()[1]}/wheel"  # a presigned URL's place
            return web.json_response({"commands": [{"id": i, "kind": "install_software", "body": {**b, "url": base},
                                                    "created_by": "central:rollout"}
                                                   for i, b in commands.items() if i not in acks]})

        async def ack(request):
            acks[int(request.match_info["id"])] = await request.json()
            return web.json_response({"ok": True})

        async def wheel(_request):
            return web.Response(body=data)
        app.router.add_get("/v1/commands", pending)
        app.router.add_post("/v1/commands/{id}/ack", ack)
        app.router.add_get("/wheel", wheel)
        context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH, cafile=str(tls / "ca.pem"))
        context.load_cert_chain(tls / "server.pem", tls / "server.key")
        context.verify_mode = ssl.CERT_REQUIRED
        runner = web.AppRunner(app)
        await runner.setup()
        site = web.TCPSite(runner, "127.0.0.1", 0, ssl_context=context)
        await site.start()
        bucket = web.TCPSite(runner, "127.0.0.1", 0)
        await bucket.start()
        port = site._server.sockets[0].getsockname()[1]
        identity = SyncCredentials(folder, "dev-a", f"https://127.0.0.1:{port}")
        db = connect(tmp_path / "data" / "vigia.db")
        handlers = CommandHandlers(lambda *a: {}, lambda _c: None, lambda _c: [],
                                   software=Exchange.under(tmp_path / "data"))
        commands_runner = CommandRunner(db.conn, identity, tmp_path / "data" / "vigia.db", None, handlers, lambda _c: None)
        acked = []
        async with aiohttp.ClientSession() as session:
            acked.append(await commands_runner.poll(session))  # 2..5 refused at once; 1 handed over, waiting
            request = Exchange.under(tmp_path / "data").request()
            assert (request.command_id, request.version, request.sha256, request.size) == (1, "0.2.0", sha256, size)
            acked.append(await commands_runner.poll(session))  # 1 still with the root service
            Exchange.under(tmp_path / "data").put_result(1, True, {"version": "0.2.0", "tried": "0.2.0",
                                                                   "previous": "0.1.0", "reason": None})
            acked.append(await commands_runner.poll(session))  # 1 acknowledged with the root service's result
        await runner.cleanup()
        return acked

    assert asyncio.run(run()) == [4, 0, 1]
    exchange = Exchange.under(tmp_path / "data")
    assert acks[2] == {"ok": False, "result": {"refused": True, "version": "0.2.0",
                                              "error": "unsigned: the software carries no signature"}}
    for command_id in (3, 4):
        assert acks[command_id]["ok"] is False and acks[command_id]["result"]["error"].startswith("bad signature")
    assert acks[5]["ok"] is False and acks[5]["result"]["error"].startswith("tampered: the bytes downloaded have sha256")
    assert acks[1] == {"ok": True, "result": {"version": "0.2.0", "tried": "0.2.0", "previous": "0.1.0", "reason": None}}
    assert not exchange.request_file.exists()  # the root service took it (its result removes it)
    handed = exchange.incoming / sha256 / name
    assert handed.read_bytes() == data  # what the root service got: the checked bytes, under their signed name
    assert not (exchange.incoming / ("0" * 64) / name).exists()  # the tampered download was dropped
