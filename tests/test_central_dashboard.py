"""The fleet dashboard's API (vigia.central.dashboard.app) on a real PostgreSQL, over HTTPS, with events put
there by the real ingest (vigia.central.ingest.batches, batches made from the appliance's own outbox records) and
thumbnails in an S3 protocol server (moto), recorded as central records them."""
from __future__ import annotations

import asyncio
import dataclasses
import datetime as dt
import hashlib
import importlib.metadata
import json
import os
import ssl
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import aiohttp
import cv2
import msgspec
import numpy as np
import psycopg
import pytest
import yarl
from aiohttp import web
from psycopg_pool import AsyncConnectionPool

from tests.support.s3 import moto_s3
from tests.test_sync_outbox import make_event
from vigia.app.devstack import free_port, temporary_database
from vigia.appliance.metrics import Metrics
from vigia.appliance.outbox import OutboxRecord, camera_health_record, event_record
from vigia.appliance.rollups import MetricsRollups
from vigia.appliance.storage import EventWriter
from vigia.central.dashboard import accounts
from vigia.central.dashboard.app import COOKIE, DashboardSettings, create_app
from vigia.central.ingest.batches import Ingest, prepare_connection
from vigia.central.ingest.ca import init_ca, issue_server_certificate
from vigia.central.ingest.media import RECORD_OBJECT, MediaSettings, init_bucket, s3_client
from vigia.central.models.signing import load_or_create_signing_key
from vigia.scene.events import Event
from vigia.sync.protocol import Batch

USERS = {"vera": ("viewer-pass-1", "viewer"), "otto": ("operator-pass-1", "operator"), "ada": ("admin-pass-1", "admin")}


class FleetCentral:
    """A dashboard served over HTTPS from a thread of its own, and the ingest writing to the same database."""

    def __init__(self, dsn: str, root: Path, media: MediaSettings, port: int | None = None, **settings):
        """`settings`: more of DashboardSettings (`sso`, ...)."""
        self.dsn, self.media, self.root, self.port = dsn, media, root, port or free_port()
        self.settings = settings
        self.url = f"https://127.0.0.1:{self.port}/dashboard"
        self.seq: dict[str, int] = {}
        ca = init_ca(root / "ca")
        load_or_create_signing_key(root / "ca")   # as `central serve` makes it: admins approve models with it
        issue_server_certificate(ca, ["127.0.0.1", "localhost"], root / "tls.crt", root / "tls.key")
        self.tls = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        self.tls.load_cert_chain(root / "tls.crt", root / "tls.key")
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, daemon=True)

    def call(self, coroutine, timeout: float = 60):
        return asyncio.run_coroutine_threadsafe(coroutine, self.loop).result(timeout)

    def start(self) -> FleetCentral:
        self.thread.start()
        self.call(self._start())
        return self

    async def _start(self) -> None:
        self.runner = web.AppRunner(create_app(DashboardSettings(
            self.dsn, online_minutes=5, media=self.media, model_signing_dir=self.root / "ca", **self.settings)),
            access_log=None)
        await self.runner.setup()
        await web.TCPSite(self.runner, "127.0.0.1", self.port, ssl_context=self.tls).start()
        self.pool = AsyncConnectionPool(self.dsn, min_size=1, max_size=2, open=False, configure=prepare_connection)
        await self.pool.open(wait=True, timeout=30)
        self.ingest = Ingest(self.pool)
        async with await psycopg.AsyncConnection.connect(self.dsn, autocommit=True) as conn:
            for name, (password, role) in USERS.items():
                await accounts.add_user(conn, name, password, role)

    def stop(self) -> None:
        async def stop():
            await self.runner.cleanup()
            await self.pool.close()
        self.call(stop())
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(10)

    def enrol(self, device_id: str) -> None:
        """A device row as enrolment leaves it (certificate serial 1)."""
        async def enrol():
            async with self.pool.connection() as conn:
                await conn.execute("INSERT INTO devices (device_id, cert_serial, enrolled_at) VALUES (%s, '1', now())",
                                   [device_id])
        self.call(enrol())
        self.seq[device_id] = 0

    def send(self, device_id: str, events: list[Event], health: dict[str, str] | None = None,
             others: tuple[OutboxRecord, ...] = ()) -> None:
        """One batch through the real ingest: the appliance's outbox records of `events`, camera health, `others`."""
        records = [event_record(e.to_row()) for e in events]
        records += [camera_health_record(camera, state, time.time(), None) for camera, state in (health or {}).items()]
        records += others
        first = self.seq[device_id] + 1
        batch = msgspec.convert({"protocol": 1, "device_id": device_id, "records": [
            {"seq": first + i, "kind": r.kind, "key": r.key, "body": r.body} for i, r in enumerate(records)]}, Batch)
        self.call(self.ingest.apply(device_id, 1, batch))
        self.seq[device_id] = batch.last_seq


    def thumbnail(self, device_id: str, event: Event, jpeg: bytes) -> None:
        """`event`'s thumbnail in the bucket, recorded in media_objects as central does once it checked it."""
        key = f"devices/{device_id}/thumbnails/{event.id}.jpg"
        s3_client(self.media).put_object(Bucket=self.media.bucket, Key=key, Body=jpeg, ContentType="image/jpeg")

        async def record():
            async with self.pool.connection() as conn:
                await conn.execute(RECORD_OBJECT, [device_id, key, "thumbnail", event.id, len(jpeg),
                                                   hashlib.sha256(jpeg).hexdigest()])
        self.call(record())


@contextmanager
def fleet_central(root: Path, port: int | None = None, **settings) -> Iterator[FleetCentral]:
    """A dashboard on a new database, with a media bucket in a moto S3 server (on `port`, with more `settings`)."""
    with pytest.MonkeyPatch.context() as env, moto_s3() as endpoint, temporary_database() as dsn:
        env.setenv("AWS_ACCESS_KEY_ID", "vigia-test-key")
        env.setenv("AWS_SECRET_ACCESS_KEY", "vigia-test-secret")
        media = MediaSettings(endpoint, "vigia-dashboard-test")
        init_bucket(media)
        central = FleetCentral(dsn, root, media, port, **settings).start()
        try:
            yield central
        finally:
            central.stop()


def jpeg(colour: tuple[int, int, int]) -> bytes:
    ok, data = cv2.imencode(".jpg", np.full((90, 160, 3), colour, np.uint8))
    assert ok
    return data.tobytes()


def events_at(start: float, count: int, camera: str = "gate") -> list[Event]:
    return [make_event(start + i, camera=camera) for i in range(count)]


@pytest.fixture(scope="module")
def central(tmp_path_factory) -> Iterator[FleetCentral]:
    with fleet_central(tmp_path_factory.mktemp("dashboard")) as central:
        central.enrol("gate-01")
        central.enrol("dock-02")
        now = central.t0 = time.time()
        central.send("gate-01", events_at(now - 3600, 60), {"gate": "online"})
        dock = events_at(now - 1800, 3, camera="dock")
        dock[0] = dataclasses.replace(dock[0], snapshot="snapshots/dock.jpg.enc")
        central.send("dock-02", dock, {"dock": "reconnecting"})
        central.thumbnail("dock-02", dock[0], jpeg((0, 128, 255)))
        central.with_thumbnail = dock[0].id
        yield central


class Client:
    """An aiohttp session on the dashboard, logged in or not; answers (status, JSON body)."""

    def __init__(self, central: FleetCentral):
        self.central, self.csrf = central, ""

    async def __aenter__(self):
        self.session = aiohttp.ClientSession(cookie_jar=aiohttp.CookieJar(unsafe=True))  # unsafe: an IP address
        return self

    async def __aexit__(self, *exc) -> None:
        await self.session.close()

    async def request(self, method: str, path: str, **kwargs) -> tuple[int, dict]:
        headers = {"X-CSRF-Token": self.csrf, **kwargs.pop("headers", {})}
        async with self.session.request(method, self.central.url + path, ssl=False, headers=headers, **kwargs) as r:
            return r.status, await r.json()

    async def login(self, username: str) -> dict:
        status, body = await self.request("POST", "/api/v1/login",
                                          json={"username": username, "password": USERS[username][0]})
        assert status == 200, body
        self.csrf = body["csrf_token"]
        return body


def run(central: FleetCentral, work) -> object:
    async def main():
        async with Client(central) as client:
            return await work(client)
    return asyncio.run(main())


def test_anonymous_requests_are_401(central):
    async def work(client: Client):
        for method, path in [("GET", "/api/v1/me"), ("GET", "/api/v1/devices"), ("GET", "/api/v1/events"),
                             ("GET", "/api/v1/counts"), ("GET", "/api/v1/users"), ("POST", "/api/v1/logout"),
                             ("PUT", "/api/v1/devices/gate-01/site"), ("GET", "/api/v1/live")]:
            status, body = await client.request(method, path)
            assert (status, body) == (401, {"error": "login required"}), (method, path)
        client.session.cookie_jar.update_cookies({COOKIE: "x" * 43})
        assert (await client.request("GET", "/api/v1/me"))[0] == 401
    run(central, work)


def test_login_sets_a_secure_session_cookie_and_logout_ends_it(central):
    async def work(client: Client):
        async with client.session.post(central.url + "/api/v1/login", ssl=False,
                                       json={"username": "vera", "password": "wrong-password"}) as r:
            assert r.status == 401 and "Set-Cookie" not in r.headers
        async with client.session.post(central.url + "/api/v1/login", ssl=False,
                                       json={"username": "vera", "password": USERS["vera"][0]}) as r:
            assert r.status == 200
            cookie = r.cookies[COOKIE]
            assert cookie["secure"] and cookie["httponly"] and cookie["samesite"] == "Strict"
            assert cookie["path"] == "/dashboard"
            client.csrf = (await r.json())["csrf_token"]
        status, me = await client.request("GET", "/api/v1/me")
        assert status == 200 and (me["username"], me["role"]) == ("vera", "viewer")
        assert (await client.request("POST", "/api/v1/logout", headers={"X-CSRF-Token": "wrong"}))[0] == 403
        assert (await client.request("POST", "/api/v1/logout")) == (200, {"logged_out": True})
        client.session.cookie_jar.update_cookies({COOKIE: cookie.value})  # the old cookie, presented again
        assert (await client.request("GET", "/api/v1/me"))[0] == 401
    run(central, work)


def test_the_database_keeps_scrypt_hashes_and_session_digests_only(central):
    async def work(client: Client):
        await client.login("ada")
        async def stored():
            async with central.pool.connection() as conn:
                hashes = await (await conn.execute("SELECT password_hash FROM dashboard_users")).fetchall()
                tokens = await (await conn.execute("SELECT token_hash FROM dashboard_sessions")).fetchall()
                return hashes, tokens
        hashes, tokens = await asyncio.wrap_future(asyncio.run_coroutine_threadsafe(stored(), central.loop))
        assert all(h.startswith("scrypt$16384$8$1$") for (h,) in hashes)
        cookie = client.session.cookie_jar.filter_cookies(yarl.URL(central.url + "/"))[COOKIE].value
        assert cookie not in {t for (t,) in tokens} and all(len(t) == 64 for (t,) in tokens)
    run(central, work)


def test_devices_show_online_last_seen_and_camera_health(central):
    async def work(client: Client):
        await client.login("vera")
        status, body = await client.request("GET", "/api/v1/devices")
        assert status == 200
        by_id = {d["device_id"]: d for d in body["devices"]}
        assert set(by_id) == {"gate-01", "dock-02"}
        gate = by_id["gate-01"]
        assert gate["online"] is True and abs(gate["last_seen_at"] - time.time()) < 120
        assert gate["high_water"] == 61
        assert [(c["camera"], c["state"]) for c in gate["cameras"]] == [("gate", "online")]
        assert [(c["camera"], c["state"]) for c in by_id["dock-02"]["cameras"]] == [("dock", "reconnecting")]
    run(central, work)


def test_events_newest_first_in_pages_of_50_with_filters(central):
    async def work(client: Client):
        await client.login("vera")
        status, first = await client.request("GET", "/api/v1/events")
        assert status == 200 and len(first["events"]) == 50 and first["next_page"] == 1
        times = [e["started_at"] for e in first["events"]]
        assert times == sorted(times, reverse=True)
        assert first["events"][0]["device_id"] == "dock-02"  # the newest events are dock-02's
        status, second = await client.request("GET", "/api/v1/events", params={"page": "1"})
        assert len(second["events"]) == 13 and second["next_page"] is None
        status, dock = await client.request("GET", "/api/v1/events", params={"device": "dock-02"})
        assert {e["device_id"] for e in dock["events"]} == {"dock-02"} and len(dock["events"]) == 3
        status, gate = await client.request("GET", "/api/v1/events", params={"camera": "gate", "label": "person"})
        assert len(gate["events"]) == 50 and {e["camera"] for e in gate["events"]} == {"gate"}
        since = dt.datetime.fromtimestamp(central.t0 - 1800 - 0.5, dt.timezone.utc).isoformat()
        status, recent = await client.request("GET", "/api/v1/events", params={"since": since})
        assert {e["device_id"] for e in recent["events"]} == {"dock-02"}
        status, none = await client.request("GET", "/api/v1/events", params={"label": "car"})
        assert (status, none) == (200, {"events": [], "next_page": None})
    run(central, work)


def test_counts_per_device_and_site_per_day(central):
    async def work(client: Client):
        await client.login("otto")
        status, body = await client.request("PUT", "/api/v1/devices/dock-02/site", json={"site": "Porto Norte"})
        assert (status, body) == (200, {"device_id": "dock-02", "site": "Porto Norte"})
        status, body = await client.request("GET", "/api/v1/counts", params={"days": "2"})
        assert status == 200
        totals: dict = {}
        for row in body["counts"]:
            key = (row["device_id"], row["site"])
            totals[key] = totals.get(key, 0) + row["events"]
        assert totals == {("gate-01", None): 60, ("dock-02", "Porto Norte"): 3}
        status, body = await client.request("GET", "/api/v1/events", params={"site": "Porto Norte"})
        assert {e["device_id"] for e in body["events"]} == {"dock-02"}
    run(central, work)


def test_roles_viewer_operator_admin(central):
    async def work(client: Client):
        await client.login("vera")
        assert await client.request("PUT", "/api/v1/devices/gate-01/site", json={"site": "Gate"}) == (
            403, {"error": "this needs the operator role"})
        assert (await client.request("GET", "/api/v1/users"))[0] == 403
        await client.login("otto")
        assert (await client.request("PUT", "/api/v1/devices/gate-01/site", json={"site": "Gate"}))[0] == 200
        assert (await client.request("POST", "/api/v1/users", json={"username": "x", "password": "password-1",
                                                                     "role": "viewer"}))[0] == 403
        await client.login("ada")
        status, body = await client.request("POST", "/api/v1/users",
                                            json={"username": "nina", "password": "new-user-pass", "role": "viewer"})
        assert (status, body) == (201, {"username": "nina", "role": "viewer"})
        assert (await client.request("POST", "/api/v1/users", json={"username": "nina", "password": "new-user-pass",
                                                                     "role": "viewer"}))[0] == 409
        status, body = await client.request("GET", "/api/v1/users")
        assert {u["username"]: u["role"] for u in body["users"]}["nina"] == "viewer"
    run(central, work)


@pytest.mark.parametrize(("method", "path", "options", "message"), [
    ("GET", "/api/v1/events", {"params": {"page": "-1"}}, "page must be a whole number from 0 to 10000"),
    ("GET", "/api/v1/events", {"params": {"since": "yesterday"}}, "since must be epoch seconds or ISO 8601"),
    ("GET", "/api/v1/events", {"params": {"colour": "red"}}, "unknown query parameter 'colour'"),
    ("GET", "/api/v1/events", {"params": {"until": "1e300"}}, "until must lie between 1970 and 2200"),
    ("GET", "/api/v1/events", {"params": {"device": "x" * 65}}, "device must be 1 to 64 characters"),
    ("GET", "/api/v1/events", {"params": {"site": "\x00"}}, "site must not hold control characters"),
    ("GET", "/api/v1/counts", {"params": {"days": "0"}}, "days must be a whole number from 1 to 366"),
    ("PUT", "/api/v1/devices/Not_A_Device/site", {"json": {"site": "a"}}, "not a device id"),
    ("PUT", "/api/v1/devices/gate-01/site", {"json": {"site": ""}}, "site must be 1 to 64 characters"),
    ("PUT", "/api/v1/devices/gate-01/site", {"data": "{", "headers": {"Content-Type": "application/json"}},
     "the body is not valid JSON"),
    ("POST", "/api/v1/users", {"json": {"username": "ok", "password": "short", "role": "admin"}},
     "the password must have at least 8 characters"),
    ("POST", "/api/v1/users", {"json": {"username": "ok", "password": "long-enough", "role": "root"}},
     "the role must be one of viewer, operator, admin"),
    ("POST", "/api/v1/login", {"json": {"username": "ada"}}, "give username and password"),
    ("POST", "/api/v1/login", {"json": ["ada"]}, "the body must be a JSON object"),
])
def test_malformed_input_is_400_naming_the_problem(central, method, path, options, message):
    async def work(client: Client):
        await client.login("ada")
        status, body = await client.request(method, path, **options)
        assert status == 400 and body["error"].startswith(message), body
    run(central, work)


def test_unknown_routes_methods_and_devices_are_json_errors(central):
    async def work(client: Client):
        assert await client.request("GET", "/api/v1/nothing-here") == (404, {"error": "Not Found"})
        assert await client.request("DELETE", "/api/v1/me") == (405, {"error": "Method Not Allowed"})
        await client.login("otto")
        assert await client.request("PUT", "/api/v1/devices/nowhere-09/site", json={"site": "a"}) == (
            404, {"error": "no device 'nowhere-09'"})
    run(central, work)


def test_live_websocket_pushes_ingested_events_and_the_device(central):
    async def work(client: Client):
        await client.login("vera")
        async with client.session.ws_connect(central.url + "/api/v1/live", ssl=False) as ws:
            assert json.loads((await ws.receive(5)).data) == {"type": "hello", "username": "vera"}
            fresh = events_at(time.time(), 2)
            await asyncio.to_thread(central.send, "gate-01", fresh, {"gate": "offline"})
            pushed = json.loads((await ws.receive(5)).data)
            assert pushed["type"] == "events"
            assert {e["id"] for e in pushed["events"]} == {e.id for e in fresh}
            device = json.loads((await ws.receive(5)).data)
            assert device["type"] == "device" and device["device"]["device_id"] == "gate-01"
            assert [c["state"] for c in device["device"]["cameras"]] == ["offline"]
        with pytest.raises(aiohttp.WSServerHandshakeError) as refused:
            await client.session.ws_connect(central.url + "/api/v1/live", ssl=False,
                                            headers={"Origin": "https://evil.example"})
        assert refused.value.status == 403
    run(central, work)


def test_front_end_is_served_under_dashboard_with_a_strict_policy(central):
    async def work(client: Client):
        async with client.session.get(central.url + "/devices", ssl=False) as r:
            if r.status == 503:
                pytest.fail("the dashboard front end is not built: run `make dashboard`")
            assert r.status == 200 and "text/html" in r.headers["Content-Type"]
            assert "script-src 'self'" in r.headers["Content-Security-Policy"]
            assert "unsafe-inline" not in r.headers["Content-Security-Policy"]
    run(central, work)


def test_thumbnails_come_from_the_bucket_for_recorded_objects_only(central):
    async def work(client: Client):
        base = "/api/v1/events/dock-02"
        assert (await client.request("GET", f"{base}/{central.with_thumbnail}/thumbnail"))[0] == 401
        await client.login("vera")
        status, body = await client.request("GET", "/api/v1/events", params={"device": "dock-02"})
        assert status == 200
        shown = {e["id"]: (e["has_snapshot"], e["has_thumbnail"]) for e in body["events"]}
        assert shown.pop(central.with_thumbnail) == (True, True)
        assert set(shown.values()) == {(False, False)}
        async with client.session.get(f"{central.url}{base}/{central.with_thumbnail}/thumbnail", ssl=False) as r:
            assert r.status == 200 and r.content_type == "image/jpeg"
            assert await r.read() == jpeg((0, 128, 255))
        async with await psycopg.AsyncConnection.connect(central.dsn) as conn:   # the view is in the access audit
            cursor = await conn.execute("SELECT username, action, remote FROM access_audit WHERE target = %s",
                                        [f"dock-02/{central.with_thumbnail}"])
            assert await cursor.fetchall() == [("vera", "thumbnail_view", "127.0.0.1")]
        other = next(iter(shown))
        assert await client.request("GET", f"{base}/{other}/thumbnail") == (404, {"error": "this event has no thumbnail"})
        assert (await client.request("GET", f"/api/v1/events/gate-01/{central.with_thumbnail}/thumbnail"))[0] == 404
        assert await client.request("GET", f"{base}/not-an-id/thumbnail") == (
            400, {"error": "not an event id (26 characters, digits and capital letters)"})
    run(central, work)


def test_cli_adds_a_user_and_serves_the_dashboard_over_https(central, tmp_path):
    """`vigia central user-add` (password on stdin) and `vigia central dashboard --cert --key` as processes."""
    env = {**os.environ, "VIGIA_CENTRAL_DATABASE": central.dsn}
    vigia = [sys.executable, "-m", "vigia.app.cli.main", "central"]
    added = subprocess.run([*vigia, "user-add", "cli-admin", "--role", "admin"], input="cli-admin-pass\n", check=False,
                           capture_output=True, text=True, env=env, timeout=60)
    assert added.returncode == 0, added.stderr
    assert "cli-admin-pass" not in added.stdout + added.stderr
    again = subprocess.run([*vigia, "user-add", "cli-admin", "--role", "admin"], input="cli-admin-pass\n", check=False,
                           capture_output=True, text=True, env=env, timeout=60)
    assert again.returncode == 2 and "already exists" in again.stderr
    port = free_port()
    log = tmp_path / "dashboard.log"
    with log.open("wb") as stderr:
        process = subprocess.Popen([*vigia, "dashboard", "--port", str(port), "--cert", str(central.root / "tls.crt"),
                                    "--key", str(central.root / "tls.key")], env=env, stderr=stderr)
    try:
        async def work():
            async with aiohttp.ClientSession(cookie_jar=aiohttp.CookieJar(unsafe=True)) as session:
                url = f"https://127.0.0.1:{port}/dashboard/api/v1"
                deadline = time.monotonic() + 60  # a cold start of the CLI on a loaded machine takes seconds
                while time.monotonic() < deadline:
                    try:
                        async with session.post(f"{url}/login", ssl=False,
                                                json={"username": "cli-admin", "password": "cli-admin-pass"}) as r:
                            assert r.status == 200
                            break
                    except aiohttp.ClientConnectionError:
                        assert process.poll() is None, log.read_text()
                        await asyncio.sleep(0.1)
                async with session.get(f"{url}/devices", ssl=False) as r:
                    return r.status, await r.json()
        status, body = asyncio.run(work())
        assert status == 200 and {d["device_id"] for d in body["devices"]} >= {"gate-01", "dock-02"}
    finally:
        process.terminate()
        assert process.wait(10) == 0
    assert "cli-admin-pass" not in log.read_text()


def test_every_dashboard_instance_sees_every_ingested_event(central):
    """A second dashboard instance on the same database: both push the batch the ingest commits."""
    port = free_port()

    async def start_second():
        runner = web.AppRunner(create_app(DashboardSettings(central.dsn)), access_log=None)
        await runner.setup()
        await web.TCPSite(runner, "127.0.0.1", port, ssl_context=central.tls).start()
        return runner
    second = central.call(start_second())
    try:
        async def work(client: Client):
            await client.login("vera")  # sessions live in PostgreSQL: valid on every instance
            urls = [central.url, f"https://127.0.0.1:{port}/dashboard"]
            sockets = [await client.session.ws_connect(url + "/api/v1/live", ssl=False) for url in urls]
            for ws in sockets:
                assert json.loads((await ws.receive(5)).data)["type"] == "hello"
            fresh = events_at(time.time(), 3, camera="dock")
            await asyncio.to_thread(central.send, "dock-02", fresh)
            for ws in sockets:
                pushed = json.loads((await ws.receive(5)).data)
                assert pushed["type"] == "events" and {e["id"] for e in pushed["events"]} == {e.id for e in fresh}
                await ws.close()
        run(central, work)
    finally:
        central.call(second.cleanup())


def test_wrong_passwords_lock_the_username(central):
    async def work(client: Client):
        await client.login("ada")
        assert (await client.request("POST", "/api/v1/users", json={"username": "lena", "password": "lena-password",
                                                                     "role": "viewer"}))[0] == 201
        async with Client(central) as guesser:
            for _ in range(5):
                assert (await guesser.request("POST", "/api/v1/login", json={"username": "lena", "password": "guess"}))[0] == 401
            status, body = await guesser.request("POST", "/api/v1/login",
                                                 json={"username": "lena", "password": "lena-password"})
            assert (status, body) == (429, {"error": "too many failed logins: try again later"})
            status, _ = await guesser.request("POST", "/api/v1/login", json={"username": "nobody", "password": "guess"})
            assert status == 401  # an unknown name answers like a wrong password
    run(central, work)


def test_devices_show_version_backlog_and_disk_from_the_latest_metrics_rollup(central, tmp_path):
    """Two roll-ups in one batch (one received_at): the later one (higher seq) is shown."""
    writer = EventWriter(tmp_path / "vigia.db", outbox=True).start()
    try:
        rollups = MetricsRollups(Metrics.create(), tmp_path / "vigia.db", tmp_path, writer.put_record)
        older = rollups.record()
        writer.put_record(camera_health_record("yard", "online", time.time(), None))
        writer.flush()
        newer = rollups.record()
    finally:
        writer.close()
    assert (older.body["backlog"], newer.body["backlog"]) == (0, 1)
    central.enrol("yard-03")

    async def devices(client: Client) -> dict:
        await client.login("vera")
        status, body = await client.request("GET", "/api/v1/devices")
        assert status == 200
        return {d["device_id"]: d for d in body["devices"]}

    assert run(central, devices)["yard-03"]["metrics"] is None  # a dash until a roll-up arrives
    central.send("yard-03", [], others=(older, newer))
    metrics = run(central, devices)["yard-03"]["metrics"]
    assert {name: metrics[name] for name in ("version", "backlog", "disk_free_bytes")} == {
        "version": importlib.metadata.version("vigia"), "backlog": 1, "disk_free_bytes": newer.body["disk_free_bytes"]}


LOGIN = "/api/v1/login"


@contextmanager
def more_dashboards(central: FleetCentral, count: int, logins: accounts.LoginPolicy) -> Iterator[list[str]]:
    """`count` more dashboard instances on central's database with the login policy `logins`: their URLs."""
    async def start():
        runners, urls = [], []
        for _ in range(count):
            port = free_port()
            runner = web.AppRunner(create_app(DashboardSettings(central.dsn, logins=logins)), access_log=None)
            await runner.setup()
            await web.TCPSite(runner, "127.0.0.1", port, ssl_context=central.tls).start()
            runners.append(runner)
            urls.append(f"https://127.0.0.1:{port}/dashboard")
        return runners, urls
    runners, urls = central.call(start())
    try:
        yield urls
    finally:
        for runner in runners:
            central.call(runner.cleanup())


class ClientAt(Client):
    """A Client of the dashboard at `url` connecting from `address` (all of 127.0.0.0/8 reaches 127.0.0.1)."""

    def __init__(self, url: str, address: str):
        super().__init__(dataclasses.make_dataclass("At", ["url"])(url))
        self.address = address

    async def __aenter__(self):
        self.session = aiohttp.ClientSession(connector=aiohttp.TCPConnector(local_addr=(self.address, 0)),
                                             cookie_jar=aiohttp.CookieJar(unsafe=True))
        return self

    async def attempt(self, username: str, password: str) -> tuple[int, dict, int | None]:
        """A login: status, body and Retry-After."""
        async with self.session.post(self.central.url + LOGIN, ssl=False,
                                     json={"username": username, "password": password}) as r:
            retry = r.headers.get("Retry-After")
            return r.status, await r.json(), None if retry is None else int(retry)


def test_spraying_usernames_from_one_address_is_refused_for_a_window(central):
    # The window holds the four failures however slowly a loaded machine checks their passwords (scrypt).
    window = 20
    policy = accounts.LoginPolicy(remote_max_failures=4, remote_window=float(window))
    with more_dashboards(central, 1, policy) as [url]:
        async def work():
            async with ClientAt(url, "127.0.0.2") as sprayer, ClientAt(url, "127.0.0.3") as bystander:
                for i in range(4):
                    assert (await sprayer.attempt(f"spray-{i}", "guess"))[:2] == (401, {"error": "wrong username or password"})
                status, body, retry = await sprayer.attempt("spray-4", "guess")
                assert status == 429 and retry is not None and 1 <= retry <= window
                assert body == {"error": f"too many failed logins from your address: try again in {retry} s"}
                assert (await sprayer.attempt("vera", USERS["vera"][0]))[0] == 429  # the right password too
                for _ in range(6):  # passwords are not even checked: vera's username is not locked by these
                    assert (await sprayer.attempt("vera", "guess"))[0] == 429
                status, _, _ = await bystander.attempt("vera", USERS["vera"][0])
                assert status == 200  # another address is not limited ...
                status, _, retry = await sprayer.attempt("vera", USERS["vera"][0])
                assert status == 429  # ... and its success does not reset this one
                await asyncio.sleep(retry + 0.1)
                status, body, _ = await sprayer.attempt("vera", USERS["vera"][0])
                assert status == 200 and body["username"] == "vera"

            async def expired():
                async with central.pool.connection() as conn:
                    cursor = await conn.execute("SELECT count(*) FROM dashboard_login_failures"
                                                " WHERE failed_at <= now() - make_interval(secs => %s)", [window])
                    return (await cursor.fetchone())[0]
            assert await asyncio.wrap_future(asyncio.run_coroutine_threadsafe(expired(), central.loop)) == 0  # pruned
        asyncio.run(work())


def test_failures_per_address_are_counted_across_dashboard_instances(central):
    policy = accounts.LoginPolicy(remote_max_failures=4, remote_window=60.0)
    with more_dashboards(central, 2, policy) as [first, second]:
        async def work():
            async with ClientAt(first, "127.0.0.4") as on_first, ClientAt(second, "127.0.0.4") as on_second, \
                    ClientAt(second, "127.0.0.5") as other:
                for client in (on_first, on_second, on_first, on_second):
                    assert (await client.attempt("nobody", "guess"))[0] == 401
                for client in (on_first, on_second):
                    status, _, retry = await client.attempt("ada", USERS["ada"][0])
                    assert status == 429 and 50 <= retry <= 60
                assert (await other.attempt("nobody", "guess"))[0] == 401
                assert (await other.attempt("ada", USERS["ada"][0]))[0] == 200
        asyncio.run(work())
