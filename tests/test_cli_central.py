"""What the README tells an operator to run, run as they would: central's CA, its proxy's certificate and NGINX
config, its database (migrate, token) from `vigia central ...`; then `vigia enroll`, `vigia sync status` and
`vigia sync dead-letters` on an appliance, against that central (two `vigia central serve` instances behind NGINX,
a real PostgreSQL)."""
from __future__ import annotations

import asyncio
import contextlib
import hashlib
import json
import os
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest
from cryptography import x509

from vigia.app.devstack import NGINX, CentralInstance, free_port, temporary_database
from vigia.appliance.outbox import camera_health_record
from vigia.appliance.storage import EventWriter
from vigia.central.ingest.schema import MIGRATIONS
from vigia.sync.identity import client_context, identity_folder, load_identity
from vigia.sync.uploader import Uploader, UploadSettings


def vigia(*args, stdin: str | None = None, env: dict | None = None) -> subprocess.CompletedProcess:
    environment = {k: v for k, v in os.environ.items() if k != "VIGIA_CENTRAL_DATABASE"}
    return subprocess.run([sys.executable, "-m", "vigia.app.cli.main", *map(str, args)], input=stdin,
                          capture_output=True, text=True, timeout=60, env={**environment, **(env or {})})


def ok(done: subprocess.CompletedProcess) -> str:
    assert done.returncode == 0 and "Traceback" not in done.stderr, done.stderr[-2000:]
    return done.stdout


def refused(done: subprocess.CompletedProcess, code: int, message: str) -> None:
    """One clear line on stderr, the exit code, no traceback."""
    assert done.returncode == code, (done.returncode, done.stderr[-2000:])
    assert f"vigia: {message}" in done.stderr and "Traceback" not in done.stderr, done.stderr[-2000:]


def test_ca_init_and_server_cert_make_what_nginx_and_devices_trust(tmp_path):
    ca = tmp_path / "ca"
    refused(vigia("central", "server-cert", "127.0.0.1", "--ca-dir", ca, "--cert", tmp_path / "c.pem",
                  "--key", tmp_path / "k.pem"), 1, f"cannot load the CA from {ca}")
    assert f"CA made in {ca}: give devices {ca / 'ca.crt'}; keep ca.key secret" in ok(vigia("central", "ca-init",
                                                                                         "--ca-dir", ca))
    assert (ca / "ca.key").stat().st_mode & 0o077 == 0  # the CA's key is its owner's alone
    refused(vigia("central", "ca-init", "--ca-dir", ca), 1, f"a CA already exists in {ca}")

    cert, key = tmp_path / "tls" / "cert.pem", tmp_path / "tls" / "key.pem"
    out = ok(vigia("central", "server-cert", "central.example", "127.0.0.1", "--ca-dir", ca, "--cert", cert, "--key", key))
    assert out == f"certificate {cert}, key {key}\n"
    issued = x509.load_pem_x509_certificate(cert.read_bytes())
    issued.verify_directly_issued_by(x509.load_pem_x509_certificate((ca / "ca.crt").read_bytes()))
    names = issued.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    assert names.get_values_for_type(x509.DNSName) == ["central.example"]
    assert [str(a) for a in names.get_values_for_type(x509.IPAddress)] == ["127.0.0.1"]


@pytest.fixture(scope="module")
def central(tmp_path_factory):
    """Central as the README makes it, each step a `vigia central` command; yields (url, ca dir, dsn)."""
    root = tmp_path_factory.mktemp("central")
    ca, cert, key, prefix = root / "ca", root / "tls" / "cert.pem", root / "tls" / "key.pem", root / "nginx"
    ok(vigia("central", "ca-init", "--ca-dir", ca))
    ok(vigia("central", "server-cert", "127.0.0.1", "localhost", "--ca-dir", ca, "--cert", cert, "--key", key))
    with temporary_database() as dsn, contextlib.ExitStack() as running:
        instances = [CentralInstance(free_port(), dsn, ca, root / "central.log") for _ in range(2)]
        for instance in instances:  # `vigia central serve --ca-dir CA --port P`
            running.callback(instance.stop)
            instance.start()
        listen = f"127.0.0.1:{free_port()}"
        config = ok(vigia("central", "nginx-config", "--listen", listen, "--cert", cert, "--key", key, "--ca-dir", ca,
                          "--prefix", prefix, *[arg for i in instances for arg in ("--upstream", f"127.0.0.1:{i.port}")]))
        (prefix / "tmp").mkdir(parents=True)
        (prefix / "nginx.conf").write_text(config)
        check = subprocess.run([NGINX, "-t", "-p", str(prefix), "-c", str(prefix / "nginx.conf")], capture_output=True,
                               text=True, check=False)
        assert check.returncode == 0, check.stderr
        nginx = subprocess.Popen([NGINX, "-p", str(prefix), "-c", str(prefix / "nginx.conf")], stderr=subprocess.PIPE)
        running.callback(lambda: (nginx.terminate(), nginx.wait(10)))
        listening(listen, nginx)
        yield f"https://{listen}", ca, dsn


def listening(address: str, process: subprocess.Popen, timeout: float = 10) -> None:
    host, port = address.rsplit(":", 1)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        assert process.poll() is None, process.stderr.read().decode()
        with contextlib.suppress(OSError), socket.create_connection((host, int(port)), 0.5):
            return
        time.sleep(0.05)
    raise TimeoutError(f"nothing listens on {address}")


def query(dsn: str, sql: str, params: list | None = None) -> list[tuple]:
    import psycopg

    with psycopg.connect(dsn) as conn:
        return conn.execute(sql, params or []).fetchall()


def test_migrate_brings_an_empty_database_to_the_schema_and_needs_one():
    refused(vigia("central", "migrate"), 1, "no database: pass --database or set VIGIA_CENTRAL_DATABASE")
    with temporary_database() as dsn:
        out = ok(vigia("central", "migrate", "--database", dsn))
        assert out == f"central database at schema version {len(MIGRATIONS)}\n"
        assert query(dsn, "SELECT version FROM schema_migrations ORDER BY version") == [
            (v,) for v in range(1, len(MIGRATIONS) + 1)]
        assert query(dsn, "SELECT count(*) FROM devices") == [(0,)]
        assert ok(vigia("central", "migrate", env={"VIGIA_CENTRAL_DATABASE": dsn})) == out  # again: nothing to do


def test_an_appliance_enrols_with_a_token_and_reports_its_link(central, tmp_path):
    url, ca, dsn = central
    env = {"VIGIA_DATA_DIR": str(tmp_path)}
    token = ok(vigia("central", "token", "cli-01", "--ttl", "600", "--database", dsn)).strip()
    assert query(dsn, "SELECT token_sha256, used_at FROM enrolment_tokens WHERE device_id = 'cli-01'") == [
        (hashlib.sha256(token.encode()).hexdigest(), None)]  # stored hashed, unused

    status = json.loads(ok(vigia("sync", "status", "--json", env=env)))
    assert status == {"enrolled": False, "device_id": None, "central_url": None,
                      "backlog": {"records": 0, "by_kind": {}, "oldest_created_at": None, "dropped": 0,
                                  "dead_letters": 0}}
    refused(vigia("enroll", "--central", url, "--ca", ca / "ca.crt", stdin="\n", env=env), 2,
            "give the enrolment token on stdin")
    out = ok(vigia("enroll", "--central", url, "--ca", ca / "ca.crt", stdin=token + "\n", env=env))
    identity = load_identity(identity_folder(tmp_path))
    assert identity is not None and identity.device_id == "cli-01" and identity.central_url == url
    assert out.startswith("enrolled as cli-01 (device identity ") and out.endswith(f") with {url}\n")
    assert query(dsn, "SELECT device_id, revoked_at FROM devices") == [("cli-01", None)]
    refused(vigia("enroll", "--central", url, "--ca", ca / "ca.crt", stdin=token + "\n", env=env), 1,
            "central refused the enrolment (403)")  # a token is used once

    status = json.loads(ok(vigia("sync", "status", "--json", env=env)))
    assert (status["enrolled"], status["device_id"], status["central_url"]) == (True, "cli-01", url)
    text = ok(vigia("sync", "status", env=env))
    assert text.splitlines()[0].split() == ["device", "cli-01", url]

    # A record central refuses as malformed (a camera name over 256 characters) is kept here: dead-letters shows it.
    writer = EventWriter(tmp_path / "vigia.db", outbox=True, linger_s=0.01).start()
    writer.put_record(camera_health_record("c" * 300, "online", 1_780_000_000.0, None))
    writer.put_record(camera_health_record("door", "online", 1_780_000_000.0, None))
    writer.close()
    assert json.loads(ok(vigia("sync", "status", "--json", env=env)))["backlog"]["records"] == 2
    assert json.loads(ok(vigia("sync", "dead-letters", "--json", env=env))) == []
    upload(identity, tmp_path / "vigia.db")
    [letter] = json.loads(ok(vigia("sync", "dead-letters", "--json", env=env)))
    assert (letter["seq"], letter["kind"], letter["key"]) == (1, "camera_health", "c" * 300) and letter["error"]
    assert json.loads(letter["body"])["camera"] == "c" * 300
    [line] = ok(vigia("sync", "dead-letters", env=env)).splitlines()
    assert line.split()[0] == "1" and f"camera_health {'c' * 300}  {letter['error']}" in line
    backlog = json.loads(ok(vigia("sync", "status", "--json", env=env)))["backlog"]
    assert (backlog["records"], backlog["dead_letters"]) == (0, 1)
    assert "dead letters 1" in ok(vigia("sync", "status", env=env))
    assert query(dsn, "SELECT kind, key FROM device_records WHERE device_id = 'cli-01' ORDER BY seq") == [
        ("rejected", "1"), ("camera_health", "door")]


def upload(identity, database: Path) -> None:
    """What the running appliance's uploader does, until the outbox is empty."""
    settings = UploadSettings(backoff_initial_s=0.05, backoff_max_s=0.5, idle_s=0.1)
    uploader = Uploader(database, identity.device_id, identity.central_url, client_context(identity), settings)
    try:
        asyncio.run(asyncio.wait_for(uploader.run(asyncio.Event(), until_empty=True), 60))
    finally:
        uploader.close()
