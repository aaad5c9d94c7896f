"""Models from central's registry to devices: signed, downloaded (resumable), checked, switched between frames, and
rolled out in stages to three enrolled devices through NGINX and central, where a canary with a bad model is rolled
back, the rollout pauses, and the other devices never get it."""
from __future__ import annotations

import asyncio
import hashlib
import json
import os
import subprocess
import sys
import threading
import time
from datetime import datetime, timezone
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import boto3
import psycopg
import pytest
import requests
from aiohttp import web
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from vigia.app.modelfleet import FACTORY_MODEL, edited_model, model_fleet, wait_until
from vigia.central.ingest.command_store import issue
from vigia.central.models.registry import DOWNLOAD_EXPIRES_S, approve_model, download_url, get_model, presigned, register_model
from vigia.central.models.signing import load_or_create_signing_key
from vigia.inference.model_signature import sign_model
from vigia.sync.model_download import DownloadCut, download, sha256_of

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def models(tmp_path_factory, default_model: Path) -> dict[str, Path]:
    folder = tmp_path_factory.mktemp("models")
    return {"good": edited_model(default_model, folder / "retrained.onnx", class_scale=1.0),
            "bad": edited_model(default_model, folder / "zeroed.onnx", class_scale=0.0),
            "other": edited_model(default_model, folder / "other.onnx", class_scale=0.99),
            "small": edited_model(default_model, folder / "small.onnx", input_size=320)}


@pytest.fixture(scope="module")
def fleet(tmp_path_factory, default_model: Path, demo_clip: Path):
    with model_fleet(tmp_path_factory.mktemp("fleet"), 3, default_model, demo_clip, fps=3.0, rollup_s=1.0,
                     instances=1) as fleet:
        yield fleet


def central(fleet, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "vigia.app.cli.main", "central", "models", *args], check=False,
                          capture_output=True, text=True, timeout=180,
                          env={**os.environ, "VIGIA_CENTRAL_DATABASE": fleet.stack.dsn})


def registered(fleet, path: Path, approve: bool = True) -> str:
    """Registered as training would (register_model), approved (signed) as `vigia central models approve` does."""
    async def work():
        async with await psycopg.AsyncConnection.connect(fleet.stack.dsn, autocommit=True) as conn:
            record = await register_model(conn, fleet.bucket, path, {"base": "yolox_nano"}, {"map50": 0.5})
            if approve and record.state == "candidate":
                record = await approve_model(conn, record.id, load_or_create_signing_key(fleet.stack.ca_dir), "ops-alice")
            return record
    record = asyncio.run(work())
    assert record.signature or not approve
    return record.id


def baseline_ready(fleet, rollups: int = 3) -> bool:
    rows = fleet.stack.query("SELECT device_id, count(*) FROM device_records WHERE kind = 'metrics' AND "
                             "(body->'model_health'->'health'->>'frames')::int > 0 GROUP BY 1")
    return len(rows) == len(fleet.devices) and all(n >= rollups for _, n in rows)


def send(fleet, device_id: str, body: dict) -> int:
    async def work():
        async with await psycopg.AsyncConnection.connect(fleet.stack.dsn, autocommit=True) as conn:
            return await issue(conn, device_id, "install_model", body, "ops-alice")
    return asyncio.run(work())


def offer(fleet, model_id: str) -> dict:
    async def work():
        async with await psycopg.AsyncConnection.connect(fleet.stack.dsn, autocommit=True) as conn:
            return await get_model(conn, model_id)
    model = asyncio.run(work())
    return {"model_id": model.id, "sha256": model.sha256, "size": model.size, "signature": model.signature,
            "url": download_url(fleet.bucket, model), "watch_s": 5}


def acked(fleet, command_id: int) -> tuple[str, dict] | None:
    rows = fleet.stack.query("SELECT state, result FROM device_commands WHERE id = %s AND state <> 'pending'", [command_id])
    return rows[0] if rows else None


def test_refused_models_leave_the_old_model_running_with_the_reason(fleet, models):
    device = fleet.devices[2]
    running = device.model_id
    other_id, small_id = registered(fleet, models["other"]), registered(fleet, models["small"])
    unsigned = {**offer(fleet, other_id), "signature": None}
    stranger = offer(fleet, other_id)
    stranger["signature"] = sign_model(Ed25519PrivateKey.generate(), stranger["sha256"], stranger["size"])
    tampered = offer(fleet, other_id)
    s3 = boto3.client("s3", endpoint_url=fleet.s3_endpoint, region_name="us-east-1")
    key = f"models/{tampered['sha256']}.onnx"
    data = bytearray(models["other"].read_bytes())
    data[len(data) // 2] ^= 0xFF  # one byte flipped in S3: same size, other sha256
    s3.put_object(Bucket="vigia-models", Key=key, Body=bytes(data))
    wrong_shape = offer(fleet, small_id)
    sent = {name: send(fleet, device.device_id, body) for name, body in
            (("unsigned", unsigned), ("stranger", stranger), ("tampered", tampered), ("wrong_shape", wrong_shape))}
    assert wait_until(lambda: all(acked(fleet, c) for c in sent.values()), 60)
    results = {name: acked(fleet, c) for name, c in sent.items()}
    for name, (state, result) in results.items():
        assert state == "failed" and result["refused"] is True, (name, result)
    assert "unsigned" in results["unsigned"][1]["error"]
    assert "bad signature" in results["stranger"][1]["error"]
    assert "tampered" in results["tampered"][1]["error"]
    assert "wrong input shape" in results["wrong_shape"][1]["error"] and "320x320" in results["wrong_shape"][1]["error"]
    assert device.model_id == running
    assert not list((device.root / "model-slot" / "incoming").glob("*"))  # nothing refused is kept


def test_a_canary_with_a_bad_model_is_rolled_back_the_rollout_pauses_and_a_good_one_reaches_the_fleet(fleet, models):
    bad_id, good_id = registered(fleet, models["bad"]), registered(fleet, models["good"])
    candidate = registered(fleet, models["good"], approve=False)
    assert candidate == good_id  # the same bytes again: the same record
    assert wait_until(lambda: baseline_ready(fleet), 60)
    devices = ",".join(d.device_id for d in fleet.devices)
    rollout = ["--devices", devices, "--canary", "fleet-01", "--wave-size", "2", "--watch-s", "30",
               "--health-rollups", "2", "--json", *fleet.central_args()]
    done = central(fleet, "rollout", bad_id, *rollout)  # started; `central serve` moves it on (--rollout-interval)
    assert done.returncode == 0, done.stderr
    rollout_id = json.loads(done.stdout)["id"]
    assert wait_until(lambda: fleet.stack.query("SELECT state FROM rollouts WHERE id = %s", [rollout_id]) != [("running",)],
                      120)
    status = json.loads(central(fleet, "rollout-status", str(rollout_id), "--json").stdout)
    assert status["state"] == "paused", status
    states = {d["device_id"]: d["state"] for d in status["devices"]}
    assert states == {"fleet-01": "rolled_back", "fleet-02": "waiting", "fleet-03": "waiting"}
    assert "person" in status["reason"] and "below 50%" in status["reason"]
    assert wait_until(lambda: fleet.devices[0].model_id == FACTORY_MODEL, 30)  # central's rollback_model ran
    assert fleet.stack.query("SELECT count(*) FROM device_commands WHERE kind = 'install_model' AND body->>'model_id' = %s"
                             " AND device_id <> 'fleet-01'", [bad_id]) == [(0,)]
    assert all(d.model_id != bad_id for d in fleet.devices)
    actions = [row[0] for row in fleet.stack.query("SELECT action FROM model_audit WHERE model_id = %s ORDER BY id", [bad_id])]
    assert actions[:2] == ["registered", "approved"]
    assert {"rollout_started", "install_issued", "installed", "rolled_back", "rollout_paused"} <= set(actions)

    done = central(fleet, "rollout", good_id, *rollout, "--follow", "--interval", "0.3", "--timeout", "120")
    assert done.returncode == 0, done.stderr
    status = json.loads(done.stdout)
    assert status["state"] == "done", status
    assert {(d["device_id"], d["stage"], d["state"]) for d in status["devices"]} == {
        ("fleet-01", 0, "updated"), ("fleet-02", 1, "updated"), ("fleet-03", 1, "updated")}  # the canary, one wave
    assert [d.model_id for d in fleet.devices] == [good_id] * 3
    listed = json.loads(central(fleet, "list", "--json").stdout)
    assert {m["id"]: m["state"] for m in listed}[good_id] == "deployed"
    active = json.loads((fleet.devices[1].root / "model-slot" / "active.json").read_text())
    assert active["model_id"] == good_id and Path(active["path"]).is_file()  # a restart starts the new model


def test_a_model_download_cut_halfway_resumes_with_a_range_request(tmp_path, default_model: Path):
    data = default_model.read_bytes()
    ranges: list[str | None] = []

    async def serve(request: web.Request) -> web.StreamResponse:
        ranges.append(request.headers.get("Range"))
        if len(ranges) == 1:  # the first answer stops half-way: the connection is cut
            response = web.StreamResponse(headers={"Content-Length": str(len(data))})
            await response.prepare(request)
            await response.write(data[:len(data) // 2])
            request.transport.close()
            return response
        start = int(request.headers["Range"].removeprefix("bytes=").rstrip("-"))
        return web.Response(status=206, body=data[start:],
                            headers={"Content-Range": f"bytes {start}-{len(data) - 1}/{len(data)}"})

    loop = asyncio.new_event_loop()
    app = web.Application()
    app.router.add_get("/model", serve)
    runner = web.AppRunner(app)
    loop.run_until_complete(runner.setup())
    site = web.TCPSite(runner, "127.0.0.1", 0)
    loop.run_until_complete(site.start())
    port = site._server.sockets[0].getsockname()[1]
    thread = threading.Thread(target=loop.run_forever, daemon=True)
    thread.start()
    dest = tmp_path / "model.onnx"

    async def fetch():
        import aiohttp
        async with aiohttp.ClientSession() as session:
            return await download(session, f"http://127.0.0.1:{port}/model", dest, len(data))
    try:
        with pytest.raises(DownloadCut):
            asyncio.run(fetch())
        cut = (tmp_path / "model.onnx.part").stat().st_size
        assert 0 < cut < len(data) and not dest.exists()
        asyncio.run(fetch())
    finally:
        asyncio.run_coroutine_threadsafe(runner.cleanup(), loop).result(10)
        loop.call_soon_threadsafe(loop.stop)
        thread.join(10)
    assert ranges == [None, f"bytes={cut}-"]  # the second request asked only for what was missing
    assert sha256_of(dest) == sha256_of(default_model)


def test_a_device_back_after_its_link_expired_gets_a_fresh_one(fleet, models):
    """An install_model whose link was presigned to live one second (as a device offline for longer than a link
    lives finds it) is delivered with a link presigned anew, for the ingest's link life (6 h), that downloads the
    model. Asked of central as NGINX asks it, for a device enrolled but away (no uploader taking the command)."""
    model_id = registered(fleet, models["good"])
    fleet.stack.query("INSERT INTO devices (device_id, cert_serial, enrolled_at) VALUES ('away-09', 'AB', now()) "
                      "ON CONFLICT DO NOTHING RETURNING device_id")
    stale = offer(fleet, model_id)
    stale["url"] = presigned(fleet.bucket, f"models/{stale['sha256']}.onnx", expires_s=1)
    issued = int(time.time())
    command_id = send(fleet, "away-09", stale)
    assert wait_until(lambda: time.time() > issued + 2, 10)  # the stale link has expired
    headers = {"X-Client-Verify": "SUCCESS", "X-Client-S-DN": "CN=away-09", "X-Client-Serial": "AB"}
    upstream = f"http://127.0.0.1:{fleet.stack.instances[0].port}"
    answer = requests.get(f"{upstream}/v1/commands", headers=headers, timeout=30)
    assert answer.status_code == 200, answer.text
    [delivered] = [c for c in answer.json()["commands"] if c["id"] == command_id]
    fresh = parse_qs(urlsplit(delivered["body"]["url"]).query)
    signed_at = datetime.strptime(fresh["X-Amz-Date"][0], "%Y%m%dT%H%M%SZ").replace(tzinfo=timezone.utc).timestamp()
    assert parse_qs(urlsplit(stale["url"]).query)["X-Amz-Expires"] == ["1"]
    assert fresh["X-Amz-Expires"] == [str(DOWNLOAD_EXPIRES_S)] and signed_at >= issued + 2 - 1
    assert {k: v for k, v in delivered["body"].items() if k != "url"} == {k: v for k, v in stale.items() if k != "url"}
    body = requests.get(delivered["body"]["url"], timeout=30)
    assert body.status_code == 200 and hashlib.sha256(body.content).hexdigest() == stale["sha256"]
    stored = fleet.stack.query("SELECT body->>'url' FROM device_commands WHERE id = %s", [command_id])
    assert stored == [(stale["url"],)]  # the command itself is unchanged: each delivery presigns again
