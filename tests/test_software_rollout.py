"""Vigia's own releases at central, on a real PostgreSQL and an S3 protocol server: imported and signed
(`vigia central software import|list`), rolled out by the models' staged rollouts with `install_software` commands
whose signature only central's key over the exact bytes passes, for software and not for a model; a device whose
release fails its health check pauses the rollout, and later stages never get it."""
from __future__ import annotations

import asyncio
import hashlib
import json
import os
import subprocess
import sys
import urllib.request
import zipfile
from pathlib import Path

import psycopg
import pytest
from psycopg.types.json import Jsonb
from support.s3 import moto_s3

from vigia.app.devstack import temporary_database
from vigia.central.ingest.media import MediaSettings, init_bucket
from vigia.central.migrations import migrate
from vigia.central.models.registry import RegistryError
from vigia.central.models.rollout import make_plan, start_software_rollout, step
from vigia.central.models.signing import load_or_create_signing_key, public_key_b64
from vigia.inference.model_signature import SignatureRefused, verify_model_signature

BUCKET = "vigia-software-test"


def wheel(folder: Path, version: str, payload: str = "") -> Path:
    """A minimal Vigia wheel: its dist-info says its version."""
    path = folder / f"vigia-{version}-py3-none-any.whl"
    with zipfile.ZipFile(path, "w") as archive:
        archive.writestr(f"vigia-{version}.dist-info/METADATA",
                         f"Metadata-Version: 2.1\nName: vigia\nVersion: {version}\n\n{payload}")
    return path


@pytest.fixture()
def central(tmp_path, monkeypatch):
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "vigia-test-key")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "vigia-test-secret")
    with temporary_database() as dsn, moto_s3() as endpoint:
        bucket = MediaSettings(endpoint, BUCKET)
        init_bucket(bucket)
        yield {"dsn": dsn, "bucket": bucket, "endpoint": endpoint, "ca": tmp_path / "ca"}


def cli(central: dict, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "vigia.app.cli.main", "central", "software", *args], capture_output=True,
                          text=True, timeout=120, env={**os.environ, "VIGIA_CENTRAL_DATABASE": central["dsn"]})


def bucket_args(central: dict) -> list[str]:
    return ["--bucket", BUCKET, "--s3-endpoint", central["endpoint"]]


async def commands(conn, device_id: str) -> list[tuple]:
    cursor = await conn.execute("SELECT id, kind, body FROM device_commands WHERE device_id = %s ORDER BY id", [device_id])
    return await cursor.fetchall()


async def ack(conn, command_id: int, ok: bool, result: dict) -> None:
    """What the ingest does with a device's acknowledgement (POST /v1/commands/{id}/ack)."""
    await conn.execute("UPDATE device_commands SET state = %s, acked_at = now(), result = %s WHERE id = %s",
                       ["done" if ok else "failed", Jsonb(result), command_id])


def test_a_release_is_signed_at_import_and_listed(central, tmp_path):
    ca = central["ca"]
    ca.mkdir()
    release = wheel(tmp_path, "0.2.0")
    done = cli(central, "import", str(release), "--ca-dir", str(ca), *bucket_args(central), "--by", "ops-alice")
    assert done.returncode == 0, done.stderr
    listed = json.loads(cli(central, "list", "--json").stdout)
    assert [(r["version"], r["state"], r["filename"], r["created_by"]) for r in listed] == [
        ("0.2.0", "approved", release.name, "ops-alice")]
    data = release.read_bytes()
    assert listed[0]["sha256"] == hashlib.sha256(data).hexdigest() and listed[0]["size"] == len(data)
    public = public_key_b64(load_or_create_signing_key(ca))
    verify_model_signature(public, listed[0]["signature"], listed[0]["sha256"], len(data), purpose="software")
    with pytest.raises(SignatureRefused, match="bad signature"):  # a release's signature is no model's
        verify_model_signature(public, listed[0]["signature"], listed[0]["sha256"], len(data))
    assert cli(central, "import", str(release), "--ca-dir", str(ca), *bucket_args(central)).returncode == 0  # same bytes
    (tmp_path / "other").mkdir()
    other = wheel(tmp_path / "other", "0.2.0", "rebuilt")
    refused = cli(central, "import", str(other), "--ca-dir", str(ca), *bucket_args(central))
    assert refused.returncode == 2 and "version 0.2.0 is already in the registry with other bytes" in refused.stderr
    bad = tmp_path / "vigia-0.3.0-py3-none-any.whl"
    bad.write_bytes(b"not a zip")
    refused = cli(central, "import", str(bad), "--ca-dir", str(ca), *bucket_args(central))
    assert refused.returncode == 2 and "vigia-0.3.0-py3-none-any.whl: not a readable wheel" in refused.stderr
    assert len(json.loads(cli(central, "list", "--json").stdout)) == 1


def test_a_release_rolls_out_in_stages_and_a_failed_health_check_pauses_it(central, tmp_path):
    from vigia.central.software.registry import get_release, import_release

    release_file = wheel(tmp_path, "0.2.0")
    key = load_or_create_signing_key(tmp_path)

    async def work():
        async with await psycopg.AsyncConnection.connect(central["dsn"], autocommit=True) as conn:
            await migrate(conn)
            release = await import_release(conn, central["bucket"], release_file, key, "ops-alice")
            with pytest.raises(RegistryError, match="no release '9.9'"):
                await start_software_rollout(conn, "9.9", make_plan(["dev-a"], canaries=["dev-a"]), "ops-alice")
            plan = make_plan(["dev-a", "dev-b", "dev-c"], canaries=["dev-a"], wave_size=1)
            rollout_id = await start_software_rollout(conn, "0.2.0", plan, "ops-alice")
            status = await step(conn, central["bucket"], rollout_id)
            assert [d["state"] for d in status["devices"]] == ["installing", "waiting", "waiting"]
            [(command_id, kind, body)] = await commands(conn, "dev-a")
            assert kind == "install_software" and await commands(conn, "dev-b") == []
            assert {k: body[k] for k in ("version", "filename", "sha256", "size")} == {
                "version": "0.2.0", "filename": release_file.name, "sha256": release.sha256, "size": release.size}
            verify_model_signature(public_key_b64(key), body["signature"], body["sha256"], body["size"], purpose="software")
            with urllib.request.urlopen(body["url"], timeout=10) as answer:  # the presigned download: the exact bytes
                assert answer.read() == release_file.read_bytes()
            await ack(conn, command_id, True, {"version": "0.2.0", "tried": "0.2.0", "previous": "0.1.0"})
            status = await step(conn, central["bucket"], rollout_id)  # the device's health check passed: updated
            assert [d["state"] for d in status["devices"]] == ["updated", "installing", "waiting"]
            [(command_id, _, _)] = await commands(conn, "dev-b")
            reason = "health check failed: https://127.0.0.1:8080/healthz answers version 0.1.0, not 0.2.0"
            await ack(conn, command_id, False, {"version": "0.1.0", "tried": "0.2.0", "error": reason})
            status = await step(conn, central["bucket"], rollout_id)
            assert status["state"] == "paused" and status["software_version"] == "0.2.0"
            assert status["reason"] == f"dev-b refused the release: {reason}"
            assert [d["state"] for d in status["devices"]] == ["updated", "refused", "waiting"]
            assert await commands(conn, "dev-c") == []  # the later stage never gets it
            assert (await get_release(conn, "0.2.0")).state == "rolling_out"
            cursor = await conn.execute("SELECT device_id, action FROM model_audit WHERE software_version = '0.2.0' "
                                        "ORDER BY id")
            return await cursor.fetchall()

    trail = asyncio.run(work())
    assert trail == [(None, "registered"), (None, "rolling_out"), (None, "rollout_started"), ("dev-a", "install_issued"),
                     ("dev-a", "updated"), (None, "stage_started"), ("dev-b", "install_issued"), ("dev-b", "refused"),
                     (None, "rollout_paused")]
