"""Sync end to end: appliance outbox -> uploader -> NGINX (TLS, device certificates) -> two central
instances -> PostgreSQL, with faults. After each, every event is in PostgreSQL exactly once."""
from __future__ import annotations

import asyncio
import logging
import ssl
import subprocess
import sys
import threading
from pathlib import Path

import aiohttp
import pytest
from prometheus_client import CollectorRegistry

from tests.support.waiting import wait_for
from tests.test_sync_outbox import make_event
from vigia.app.devstack import CentralInstance, central_stack, free_port
from vigia.appliance.outbox import backlog, camera_health_record, next_batch
from vigia.appliance.storage import EventWriter, connect, database
from vigia.sync.identity import client_context, enrol
from vigia.sync.metrics import SyncMetrics
from vigia.sync.protocol import encode_batch
from vigia.sync.uploader import Step, Uploader, UploadSettings

FAST = UploadSettings(batch_records=500, backoff_initial_s=0.05, backoff_max_s=0.5, idle_s=0.1, timeout_s=10)


@pytest.fixture(scope="module")
def stack(tmp_path_factory):
    with central_stack(tmp_path_factory.mktemp("central")) as stack:
        yield stack


class Device:
    """An enrolled appliance's database, writer and uploader (no cameras: events are made up)."""

    def __init__(self, root: Path, stack, device_id: str):
        self.root, self.stack, self.device_id = root, stack, device_id
        self.database = root / "vigia.db"
        self.identity = asyncio.run(enrol(root / "sync", stack.url, stack.token(device_id), stack.ca_pem)).identity
        self.events: list = []

    def write(self, count: int, start: float = 1_780_000_000.0, **writer_options) -> None:
        writer = EventWriter(self.database, outbox=True, linger_s=0.01, **writer_options).start()
        try:
            for i in range(count):
                event = make_event(start + len(self.events) + i * 0.001)
                writer.put(event)
                self.events.append(event)
        finally:
            writer.close()

    def uploader(self, settings: UploadSettings = FAST, metrics: SyncMetrics | None = None) -> Uploader:
        return Uploader(self.database, self.device_id, self.identity.central_url, client_context(self.identity), settings,
                        metrics)

    def drain(self, settings: UploadSettings = FAST, timeout: float = 60) -> Uploader:
        uploader = self.uploader(settings)
        try:
            asyncio.run(asyncio.wait_for(uploader.run(asyncio.Event(), until_empty=True), timeout))
        finally:
            uploader.close()
        return uploader

    def backlog(self) -> int:
        with database(self.database) as db:
            return backlog(db.conn).records

    def assert_exactly_once(self) -> None:
        stored = self.stack.query("SELECT event_id, count(*) FROM events WHERE device_id = %s GROUP BY event_id",
                                  [self.device_id])
        counts = dict(stored)
        assert len(counts) == len(self.events), f"{len(self.events) - len(counts)} events missing"
        assert set(counts) == {e.id for e in self.events}
        assert set(counts.values()) == {1}


def post(url: str, body: bytes, context: ssl.SSLContext | None, headers: dict | None = None) -> tuple[int, dict]:
    """One raw batch POST."""
    async def send():
        async with aiohttp.ClientSession(auto_decompress=False) as session, session.post(url, data=body, ssl=context, headers={
                "Content-Type": "application/json", "Content-Encoding": "gzip", **(headers or {})}) as response:
            return response.status, await response.json(content_type=None)
    return asyncio.run(send())


def test_events_reach_postgresql_once_through_nginx(stack, tmp_path):
    device = Device(tmp_path, stack, "plain-01")
    device.write(3000)
    uploader = device.drain()
    device.assert_exactly_once()
    assert device.backlog() == 0
    assert uploader.wire_bytes / len(device.events) < 200  # gzip batches, not one request per event
    assert stack.query("SELECT high_water FROM devices WHERE device_id = 'plain-01'") == [(3000,)]


def test_central_instance_killed_in_the_middle_of_batches(stack, tmp_path):
    device = Device(tmp_path, stack, "killed-01")
    device.write(20000)
    done = threading.Thread(target=device.drain, kwargs={"timeout": 90})
    done.start()
    victim = stack.instances[0]
    try:
        assert wait_for(lambda: stack.query("SELECT count(*) FROM events WHERE device_id = 'killed-01'")[0][0] > 2000, 30, 0.02)
        victim.kill()
        done.join(90)
    finally:
        victim.start()
    assert not done.is_alive()
    device.assert_exactly_once()


def test_nginx_stopped_while_events_pile_up_and_the_outbox_overflows(stack, tmp_path):
    device = Device(tmp_path, stack, "offline-01")
    stack.nginx.stop()
    settings = UploadSettings(batch_records=500, backoff_initial_s=0.05, backoff_max_s=0.3, idle_s=0.1, timeout_s=5,
                              outbox_max_records=2500, housekeeping_s=0.0)
    stop = asyncio.Event()
    result = {}
    registry = CollectorRegistry()
    metrics = SyncMetrics.create(registry)

    def upload():
        uploader = device.uploader(settings, metrics)
        result["uploader"] = uploader

        async def main():
            task = asyncio.create_task(uploader.run(stop, until_empty=True))
            result["loop"] = asyncio.get_running_loop()
            await task
        asyncio.run(main())
        uploader.close()

    try:
        device.write(2000)
        writer = EventWriter(device.database, outbox=True, linger_s=0.01).start()
        for i in range(1500):  # low-priority state records: the bound drops the oldest of these, never events
            writer.put_record(camera_health_record(f"cam{i}", "offline", 1_780_000_000.0 + i, "no route"))
        writer.close()
        thread = threading.Thread(target=upload)
        thread.start()
        retries = {"outcome": "retry"}  # offline: the uploader tried, backed off and tried again ...
        assert wait_for(lambda: (registry.get_sample_value("vigia_sync_batches_total", retries) or 0) >= 2, 30, 0.02)
        assert stack.query("SELECT count(*) FROM events WHERE device_id = 'offline-01'") == [(0,)]
        assert device.backlog() == 2500  # ... and the bound holds
    finally:
        stack.nginx.start()
    thread.join(60)
    assert not thread.is_alive()
    device.assert_exactly_once()
    kept = stack.query("SELECT key FROM device_records WHERE device_id = 'offline-01' ORDER BY key")
    assert sorted(k for (k,) in kept) == sorted(f"cam{i}" for i in range(1000, 1500))
    db = connect(device.database)
    assert backlog(db.conn).dropped == 1000
    db.conn.close()


def test_restart_with_a_batch_central_applied_but_never_answered(stack, tmp_path):
    device = Device(tmp_path, stack, "restart-01")
    device.write(1200)
    db = connect(device.database)
    batch = next_batch(db.conn, 500, 1 << 22)  # numbered, then the appliance "crashes" after sending it
    db.conn.close()
    status, answer = post(f"{stack.url}/v1/batches", encode_batch(device.device_id, batch), client_context(device.identity))
    assert (status, answer["high_water"]) == (200, 500)
    device.write(300)  # more events after the restart
    device.drain()
    device.assert_exactly_once()
    assert stack.query("SELECT high_water FROM devices WHERE device_id = 'restart-01'") == [(1500,)]


def test_old_batch_replayed_is_refused_and_changes_nothing(stack, tmp_path):
    device = Device(tmp_path, stack, "replay-01")
    device.write(100)
    db = connect(device.database)
    old = encode_batch(device.device_id, next_batch(db.conn, 50, 1 << 22))
    db.conn.close()
    device.drain()
    status, answer = post(f"{stack.url}/v1/batches", old, client_context(device.identity))
    assert status == 409 and answer["error"] == "replayed" and answer["high_water"] == 100
    device.assert_exactly_once()


def test_batches_of_another_device_or_without_certificate_are_refused(stack, tmp_path):
    victim = Device(tmp_path / "a", stack, "victim-01")
    intruder = Device(tmp_path / "b", stack, "intruder-01")
    victim.write(10)
    db = connect(victim.database)
    body = encode_batch(victim.device_id, next_batch(db.conn, 10, 1 << 22))
    db.conn.close()
    url = f"{stack.url}/v1/batches"
    status, answer = post(url, body, client_context(intruder.identity))
    assert (status, answer["error"]) == (403, "wrong_device")
    serial = stack.query("SELECT cert_serial FROM devices WHERE device_id = 'victim-01'")[0][0]
    forged = {"X-Client-Verify": "SUCCESS", "X-Client-S-DN": "CN=victim-01", "X-Client-Serial": serial}
    no_certificate = ssl.create_default_context(cadata=stack.ca_pem.decode())
    status, answer = post(url, body, no_certificate, forged)  # NGINX replaces the forged headers
    assert (status, answer["error"]) == (401, "unauthenticated")
    # Straight to a central instance from an address it does not trust as a proxy: no identity either.
    lone = CentralInstance(free_port(), stack.dsn, stack.ca_dir, tmp_path / "lone.log", ["--trusted-proxy", "192.0.2.1"])
    lone.start()
    try:
        status, answer = post(f"http://127.0.0.1:{lone.port}/v1/batches", body, None, forged)
        assert (status, answer["error"]) == (401, "unauthenticated")
    finally:
        lone.stop()
    assert stack.query("SELECT count(*) FROM events WHERE device_id = 'victim-01'") == [(0,)]
    victim.drain()
    victim.assert_exactly_once()


def test_revoked_device_is_refused_at_its_next_batch(stack, tmp_path):
    device = Device(tmp_path, stack, "revoked-01")
    device.write(10)
    device.drain()
    subprocess.run([sys.executable, "-m", "vigia.app.cli.main", "central", "revoke", "revoked-01",
                    "--database", stack.dsn], check=True, capture_output=True)
    device.write(5)
    uploader = device.uploader()

    async def one_step():
        async with aiohttp.ClientSession() as session:
            return await uploader.step(session)
    try:
        assert asyncio.run(one_step()) is Step.REFUSED
    finally:
        uploader.close()
    assert device.backlog() == 5  # kept, in case the device is enrolled again
    assert stack.query("SELECT count(*) FROM events WHERE device_id = 'revoked-01'") == [(10,)]


def test_enrolment_token_works_once_and_never_reaches_the_logs(stack, tmp_path, caplog):
    caplog.set_level(logging.INFO)
    token = stack.token("once-01")
    asyncio.run(enrol(tmp_path / "a", stack.url, token, stack.ca_pem))
    from vigia.sync.identity import EnrolmentError
    with pytest.raises(EnrolmentError, match="unknown, expired or already used"):
        asyncio.run(enrol(tmp_path / "b", stack.url, token, stack.ca_pem))
    logs = caplog.text + (stack.root / "central.log").read_text()
    assert "once-01" in logs and token not in logs
    assert (tmp_path / "a" / "device.key").stat().st_mode & 0o077 == 0
