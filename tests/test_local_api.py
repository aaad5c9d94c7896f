"""The guards' API against the real server: runtime.serve on 127.0.0.1 over real TLS (the certificate the
appliance makes for itself), a real SQLite database, footage recorded from the demo clip and encrypted at rest.

Requests go out through http.client, so paths are sent exactly as written (traversal attempts included)
and Set-Cookie headers are read as the browser gets them.
"""
from __future__ import annotations

import asyncio
import datetime as dt
import http.client
import json
import logging
import os
import secrets
import socket
import ssl
import stat
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from importlib.metadata import version
from pathlib import Path
from urllib.parse import quote

import av
import cv2
import numpy as np
import pytest
from cryptography import x509
from cryptography.hazmat.primitives.asymmetric import ec
from support.servers import free_port
from support.waiting import wait_for

from vigia.app.appliance import Appliance
from vigia.app.serving import serve
from vigia.appliance.cameras import CameraStatus
from vigia.appliance.config import Config, Http, parse_config
from vigia.appliance.encryption import MAGIC, load_or_create_key, open_media, write_encrypted
from vigia.appliance.notify.links import load_link_key, snapshot_link
from vigia.appliance.recording.recorder import SegmentRecorder
from vigia.appliance.storage import UPSERT_EVENT, EventWriter, connect
from vigia.local_ui import accounts
from vigia.local_ui.openapi import openapi_document
from vigia.local_ui.server import create_app
from vigia.local_ui.tls import TlsError, device_certificate, fingerprint, tls_files
from vigia.scene.events import Event, new_event_id

T0 = 1_750_000_000.0  # wall clock of the first packet of the recorded footage
PASSWORDS = {"gina": "guard-pass-1", "ian": "installer-pass-1", "ada": "admin-pass-1", "lou": "lockout-pass-1"}
ROLES = {"gina": "guard", "ian": "installer", "ada": "admin", "lou": "guard"}

CONFIG = """\
cameras:
  - name: door
    url: {clip}
    record: {{mode: continuous, pre_roll: 2, post_roll: 2, segment_seconds: 4}}
  - name: yard
    url: rtsp://viewer:hunter2@10.0.0.9/stream1
    record: {{mode: "off"}}  # quoted: YAML reads a bare off as false
storage:
  data_dir: {data_dir}
http:
  port: {port}
{extra}"""


@dataclass
class Server:
    appliance: Appliance
    config: Config
    port: int
    tls: ssl.SSLContext
    stop: threading.Event | None = None  # set: the server shuts down

    @property
    def data_dir(self) -> Path:
        return self.config.storage.data_dir

    def db(self):
        return connect(self.config.storage.database)


@dataclass
class Reply:
    status: int
    headers: http.client.HTTPMessage
    body: bytes

    def json(self):
        return json.loads(self.body)


def call(server: Server, method: str, path: str, *, body: bytes | None = None, json_body=None,
         token: str | None = None, csrf: str | None = None, headers: dict | None = None) -> Reply:
    """One request on a new HTTPS connection that trusts only the appliance's own certificate."""
    sent = dict(headers or {})
    if token is not None:
        sent["Cookie"] = f"vigia_session={token}"
    if csrf is not None:
        sent["X-CSRF-Token"] = csrf
    if json_body is not None:
        body = json.dumps(json_body).encode()
        sent.setdefault("Content-Type", "application/json")
    conn = http.client.HTTPSConnection("127.0.0.1", server.port, context=server.tls, timeout=20)
    try:
        conn.request(method, path, body=body, headers=sent)
        response = conn.getresponse()
        return Reply(response.status, response.headers, response.read())
    finally:
        conn.close()


def session_cookie(reply: Reply) -> tuple[str, str]:
    """(token, the whole Set-Cookie header) of a login reply."""
    header = next(h for h in reply.headers.get_all("Set-Cookie") if h.startswith("vigia_session="))
    return header.split(";")[0].split("=", 1)[1], header


def login(server: Server, user: str, password: str | None = None, token: str | None = None) -> tuple[str, str]:
    """(session token, CSRF token)."""
    reply = call(server, "POST", "/api/v1/login", token=token,
                 json_body={"username": user, "password": password or PASSWORDS[user]})
    assert reply.status == 200, reply.body
    return session_cookie(reply)[0], reply.json()["csrf_token"]


@contextmanager
def running(config: Config) -> Iterator[Server]:
    """runtime.serve in a thread of its own (an appliance that is not started: no cameras run)."""
    appliance = Appliance(config)
    stop = threading.Event()
    failed: list[BaseException] = []

    def run() -> None:
        try:
            asyncio.run(serve(appliance, "127.0.0.1", config.http.port, until=stop))
        except BaseException as exc:  # noqa: BLE001 - reported below
            failed.append(exc)

    thread = threading.Thread(target=run, name="api-server", daemon=True)
    thread.start()
    cert = config.storage.data_dir / "tls" / "cert.pem"
    assert wait_for(lambda: cert.exists() or failed, 10, 0.05) and not failed, failed
    server = Server(appliance, config, config.http.port, ssl.create_default_context(cafile=cert), stop)

    def up() -> bool:
        try:
            return call(server, "GET", "/healthz").status == 200
        except OSError:
            return bool(failed)

    assert wait_for(up, 10, 0.05) and not failed, failed
    try:
        yield server
    finally:
        stop.set()
        thread.join(10)


def make_config(clip: Path, data_dir: Path, extra: str = "") -> Config:
    return parse_config(CONFIG.format(clip=clip, data_dir=data_dir, port=free_port(), extra=extra))


def record_footage(clip: Path, config: Config, key: bytes) -> None:
    """The demo clip recorded by camera door in continuous mode, packet at stream time t arriving at T0 + t."""
    camera = config.cameras[0]
    recorder = SegmentRecorder(camera.name, camera.record, config.storage.data_dir, config.storage.database, key)
    with av.open(str(clip)) as container:
        stream = container.streams.video[0]
        first = None
        for packet in container.demux(stream):
            if not packet.size:
                continue
            first = packet.dts if first is None else first
            recorder.on_packet(packet, stream, T0 + float((packet.dts - first) * stream.time_base))
    recorder.close()


def make_event(started_at: float, camera="door", label="person", snapshot=None, ended_after=2.0) -> Event:
    return Event(id=new_event_id(started_at), camera=camera, rule="entry", kind="enter", zone="centre", label=label,
                 track_id=7, start=started_at - T0, started_at=started_at, max_score=0.8, box=(0.1, 0.2, 0.3, 0.4),
                 end=started_at - T0 + ended_after, ended_at=started_at + ended_after, snapshot=snapshot,
                 path=[(0.0, 0.5, 0.5), (1.0, 0.6, 0.6)])


@dataclass
class Site:
    server: Server
    key: bytes
    clip_event: Event      # inside the recorded footage, with a snapshot
    evil_event: Event      # its snapshot column points outside the data directory
    events: list[Event]    # every event, newest first
    jpeg: bytes            # the clip event's snapshot, plain


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory, demo_clip: Path) -> Iterator[Site]:
    data_dir = tmp_path_factory.mktemp("appliance")
    config = make_config(demo_clip, data_dir)
    key = load_or_create_key(config.storage.media_key)
    record_footage(demo_clip, config, key)

    image = np.zeros((90, 160, 3), np.uint8)
    image[20:70, 40:120] = (0, 200, 255)
    jpeg = cv2.imencode(".jpg", image)[1].tobytes()
    (data_dir / "snapshots" / "door").mkdir(parents=True)
    clip_event = make_event(T0 + 6.0, snapshot="snapshots/door/clip-event.jpg")
    write_encrypted(data_dir / clip_event.snapshot, jpeg, key)
    evil_event = make_event(T0 + 50.0, snapshot="../../../../../../etc/passwd")
    others = [make_event(T0 + 100 + 10 * i, camera="yard" if i % 2 else "door", label="car" if i % 3 == 0 else "person")
              for i in range(7)]
    db = connect(config.storage.database)
    for e in [clip_event, evil_event, *others]:
        db.conn.execute(UPSERT_EVENT, e.to_row())
    for user, password in PASSWORDS.items():
        accounts.add_user(db, user, password, ROLES[user], actor=None, remote="test", via="test")
    db.conn.close()
    with running(config) as server:
        yield Site(server, key, clip_event, evil_event,
                   sorted([clip_event, evil_event, *others], key=lambda e: -e.started_at), jpeg)


# -- authentication, sessions, CSRF, roles ----------------------------------------------------


def test_openapi_lists_every_route_and_only_those(site: Site):
    token, _ = login(site.server, "gina")
    served = call(site.server, "GET", "/api/v1/openapi.json", token=token)
    assert served.status == 200 and served.json() == openapi_document()
    app = create_app(site.server.appliance, site.server.config)
    routes = {(route.method.lower(), route.resource.canonical) for route in app.router.routes()}
    documented = {(method, path) for path, item in openapi_document()["paths"].items() for method in item}
    assert routes == documented
    assert len(routes) == 51


def protected_routes(site: Site) -> list[tuple[str, str]]:
    app = create_app(site.server.appliance, site.server.config)
    out = []
    for route in app.router.routes():
        path = route.resource.canonical.replace("{id}", site.clip_event.id).replace("{name}", "door")
        if (route.method, path) not in {("GET", "/healthz"), ("GET", "/metrics"), ("POST", "/api/v1/login"),
                                        ("GET", "/{path}"), ("GET", "/api/v1/setup"), ("POST", "/api/v1/setup/claim"),
                                        ("GET", f"/api/v1/links/snapshot/{site.clip_event.id}"),  # a signed link
                                        ("POST", "/api/v1/push/ack"),  # a signed token
                                        ("POST", "/api/v1/login/totp")}:  # a login's challenge
            out.append((route.method, path))
    return out


def test_anonymous_gets_401_on_every_protected_route(site: Site):
    routes = protected_routes(site)
    assert len(routes) == 42
    for method, path in routes:
        for token in (None, "not-a-token", secrets.token_urlsafe(32)):
            reply = call(site.server, method, path, token=token, json_body={} if method in ("POST", "PUT") else None)
            assert reply.status == 401, (method, path, reply.body)
            assert reply.json() == {"error": "login required"}
    assert call(site.server, "GET", "/api/v1/no-such-route").status == 401  # no route map for strangers
    assert call(site.server, "GET", "/healthz").json() == {"status": "ok", "version": version("vigia"), "cameras": {}}
    assert b"vigia_detector_backlog" in call(site.server, "GET", "/metrics").body


def test_login_sets_a_strict_cookie_and_returns_the_csrf_token(site: Site):
    reply = call(site.server, "POST", "/api/v1/login", json_body={"username": "gina", "password": PASSWORDS["gina"]})
    assert reply.status == 200
    token, header = session_cookie(reply)
    attributes = {part.strip().split("=")[0].lower(): part.strip() for part in header.split(";")[1:]}
    assert {"httponly", "secure", "samesite", "path", "max-age"} <= set(attributes)
    assert attributes["samesite"] == "SameSite=Strict" and attributes["path"] == "Path=/"
    assert attributes["max-age"] == "Max-Age=43200"
    body = reply.json()
    assert body["username"] == "gina" and body["role"] == "guard" and len(body["csrf_token"]) >= 43
    assert token not in reply.body.decode()  # the session token is only in the cookie
    me = call(site.server, "GET", "/api/v1/me", token=token)
    assert me.status == 200 and me.json()["csrf_token"] == body["csrf_token"]
    assert me.headers["Cache-Control"] == "no-store" and me.headers["X-Content-Type-Options"] == "nosniff"
    db = site.server.db()
    stored = [row[0] for row in db.execute("select token_hash from sessions where username = 'gina'")]
    db.conn.close()
    assert accounts.token_hash(token) in stored and token not in stored  # only the hash is kept
    wrong = call(site.server, "POST", "/api/v1/login", json_body={"username": "gina", "password": "guard-pass-2"})
    unknown = call(site.server, "POST", "/api/v1/login", json_body={"username": "nobody", "password": "guard-pass-2"})
    assert wrong.status == unknown.status == 401 and wrong.json() == unknown.json()  # no user enumeration
    assert "Set-Cookie" not in wrong.headers


def test_login_issues_a_new_session_and_ends_the_presented_one(site: Site):
    planted = secrets.token_urlsafe(32)  # an attacker's cookie, set before the guard logs in
    token, _ = login(site.server, "gina", token=planted)
    assert token != planted
    assert call(site.server, "GET", "/api/v1/me", token=planted).status == 401
    assert call(site.server, "GET", "/api/v1/me", token=token).status == 200
    again, _ = login(site.server, "gina", token=token)  # logging in again rotates a live session too
    assert again != token
    assert call(site.server, "GET", "/api/v1/me", token=token).status == 401
    assert call(site.server, "GET", "/api/v1/me", token=again).status == 200


def test_keep_needs_the_sessions_csrf_token_and_is_audited(site: Site):
    event_id = site.clip_event.id
    token, csrf = login(site.server, "gina")
    _, other_csrf = login(site.server, "ian")
    path = f"/api/v1/events/{event_id}/keep"
    assert call(site.server, "POST", path, token=token).status == 403
    assert call(site.server, "POST", path, token=token, csrf="x" * 43).status == 403
    refused = call(site.server, "POST", path, token=token, csrf=other_csrf)
    assert refused.status == 403 and "X-CSRF-Token" in refused.json()["error"]
    db = site.server.db()
    assert db.execute("select keep from events where id = ?", [event_id]).fetchone()[0] == 0
    kept = call(site.server, "POST", path, token=token, csrf=csrf)
    assert kept.status == 200 and kept.json() == {"id": event_id, "keep": True}
    assert db.execute("select keep from events where id = ?", [event_id]).fetchone()[0] == 1
    assert call(site.server, "GET", f"/api/v1/events/{event_id}", token=token).json()["keep"] is True
    released = call(site.server, "POST", path, token=token, csrf=csrf, json_body={"keep": False})
    assert released.status == 200 and db.execute("select keep from events where id = ?", [event_id]).fetchone()[0] == 0
    entries = list(db.query("select * from audit_log where target = ? order by id", [event_id]))
    db.conn.close()
    assert [(e["username"], e["action"], e["remote"]) for e in entries] == [
        ("gina", "event_keep", "127.0.0.1"), ("gina", "event_unkeep", "127.0.0.1")]
    assert json.loads(entries[0]["details"]) == {"keep": True, "was": False}
    assert abs(entries[0]["at"] - time.time()) < 60
    missing = call(site.server, "POST", f"/api/v1/events/{new_event_id(T0)}/keep", token=token, csrf=csrf)
    assert missing.status == 404


def test_five_failures_lock_the_username_even_for_the_right_password(site: Site):
    for attempt in range(5):
        reply = call(site.server, "POST", "/api/v1/login", json_body={"username": "lou", "password": f"guess-{attempt}xx"})
        assert reply.status == 401, attempt
    locked = call(site.server, "POST", "/api/v1/login", json_body={"username": "lou", "password": PASSWORDS["lou"]})
    assert locked.status == 429 and "Set-Cookie" not in locked.headers
    assert 890 <= int(locked.headers["Retry-After"]) <= 900
    db = site.server.db()
    actions = [row[0] for row in db.execute("select action from audit_log where target = 'lou' order by id")]
    assert actions == ["user_created"] + ["login_failed"] * 5 + ["account_locked", "login_refused_locked"]
    remotes = db.execute("select remote from audit_log where target = 'lou' and action != 'user_created'")
    assert {row[0] for row in remotes} == {"127.0.0.1"}
    user = accounts.get_user(db, "lou")
    assert user.locked_until == pytest.approx(time.time() + 900, abs=30)
    # After the lockout the right password works again (the clock moved on, not the test).
    later = accounts.login(db, "lou", PASSWORDS["lou"], "127.0.0.1", now=user.locked_until + 1)
    assert later.status == "ok"
    db.conn.close()


def test_roles(site: Site):
    guard, guard_csrf = login(site.server, "gina")
    installer, _ = login(site.server, "ian")
    admin, admin_csrf = login(site.server, "ada")
    new_user = {"username": "gus", "password": "gus-password-1", "role": "guard"}
    for path in ("/api/v1/audit", "/api/v1/users"):
        assert call(site.server, "GET", path, token=guard).status == 403
        assert call(site.server, "GET", path, token=installer).status == 403
        assert call(site.server, "GET", path, token=admin).status == 200
    refused = call(site.server, "POST", "/api/v1/users", token=guard, csrf=guard_csrf, json_body=new_user)
    assert refused.status == 403 and refused.json() == {"error": "this needs the admin role"}
    assert call(site.server, "POST", f"/api/v1/events/{site.events[-1].id}/keep", token=guard, csrf=guard_csrf).status == 200
    created = call(site.server, "POST", "/api/v1/users", token=admin, csrf=admin_csrf, json_body=new_user)
    assert created.status == 201 and created.json()["role"] == "guard"
    assert call(site.server, "POST", "/api/v1/users", token=admin, csrf=admin_csrf, json_body=new_user).status == 409
    for bad in ({**new_user, "username": "eve", "role": "root"}, {**new_user, "username": "eve", "password": "short"},
                {**new_user, "username": "../eve"}, {**new_user, "username": "eve", "extra": 1}):
        assert call(site.server, "POST", "/api/v1/users", token=admin, csrf=admin_csrf, json_body=bad).status == 400, bad
    login(site.server, "gus", "gus-password-1")
    users = {u["username"]: u["role"] for u in call(site.server, "GET", "/api/v1/users", token=admin).json()["users"]}
    assert users["gus"] == "guard" and users["ada"] == "admin"
    audit = call(site.server, "GET", "/api/v1/audit?limit=5", token=admin).json()
    assert len(audit["entries"]) == 5 and audit["next"] == {"before": audit["entries"][-1]["id"]}
    created_entry = next(e for e in audit["entries"] if e["action"] == "user_created")
    assert (created_entry["username"], created_entry["target"], created_entry["remote"]) == ("ada", "gus", "127.0.0.1")
    older = call(site.server, "GET", f"/api/v1/audit?limit=5&before={audit['next']['before']}", token=admin).json()
    assert max(e["id"] for e in older["entries"]) < audit["next"]["before"]


def test_logout_ends_the_session(site: Site):
    token, csrf = login(site.server, "ian")
    assert call(site.server, "POST", "/api/v1/logout", token=token).status == 403  # CSRF applies to logout too
    reply = call(site.server, "POST", "/api/v1/logout", token=token, csrf=csrf)
    assert reply.status == 200 and "Max-Age=0" in reply.headers["Set-Cookie"]
    assert call(site.server, "GET", "/api/v1/me", token=token).status == 401
    db = site.server.db()
    assert db.execute("select action from audit_log where username = 'ian' order by id desc").fetchone()[0] == "logout"
    db.conn.close()


def test_idle_expiry_and_the_per_address_limit(tmp_path: Path, demo_clip: Path):
    idle = 4  # seconds: room for a loaded machine's slow request between two touches (every idle / 4)
    config = make_config(demo_clip, tmp_path, f"  session_idle: {idle}\n  login_remote_max_failures: 3\n")
    db = connect(config.storage.database)
    accounts.add_user(db, "gina", PASSWORDS["gina"], "guard", actor=None, remote="test")
    db.conn.close()
    with running(config) as server:
        token, _ = login(server, "gina")

        def noted() -> tuple[float, float]:  # the session's login and last request, as the appliance holds them
            db = server.db()
            try:
                return db.execute("select created_at, last_seen from sessions where username = 'gina'").fetchone()
            finally:
                db.conn.close()

        created, last_seen = noted()
        while last_seen - created <= 1.5 * idle:  # requests keep it alive beyond the idle time ...
            assert wait_for(lambda since=last_seen: time.time() - since > idle / 4 + 0.1, 5, 0.05)  # past touch_every
            assert call(server, "GET", "/api/v1/me", token=token).status == 200
            _, last_seen = noted()
        assert wait_for(lambda: time.time() - noted()[1] > idle, 2 * idle, 0.05)  # ... an idle time ends it
        assert call(server, "GET", "/api/v1/me", token=token).status == 401
        for name in ("x1", "x2", "x3"):  # three different usernames, one address
            assert call(server, "POST", "/api/v1/login", json_body={"username": name, "password": "whatever1"}).status == 401
        throttled = call(server, "POST", "/api/v1/login", json_body={"username": "gina", "password": PASSWORDS["gina"]})
        assert throttled.status == 429 and int(throttled.headers["Retry-After"]) > 800
        db = server.db()
        assert db.execute("select count(*) from audit_log where action = 'login_throttled'").fetchone()[0] == 1
        db.conn.close()


def test_absolute_expiry(tmp_path: Path):
    db = connect(tmp_path / "vigia.db")
    accounts.add_user(db, "gina", PASSWORDS["gina"], "guard", actor=None, remote="test")
    policy = accounts.SessionPolicy(max_age=100.0, idle=30.0)
    outcome = accounts.login(db, "gina", PASSWORDS["gina"], "10.0.0.1", sessions=policy, now=1000.0)
    for now in (1020.0, 1045.0, 1070.0, 1095.0):  # active all along ...
        assert accounts.session_for(db, outcome.token, policy, now=now) is not None
    assert accounts.session_for(db, outcome.token, policy, now=1100.0) is None  # ... and still over at 100 s
    assert db.execute("select count(*) from sessions").fetchone()[0] == 0
    db.conn.close()


# -- events, snapshots, clips -----------------------------------------------------------------


def test_events_list_filters_and_pages(site: Site):
    token, _ = login(site.server, "gina")
    everything = call(site.server, "GET", "/api/v1/events?limit=200", token=token).json()
    assert [e["id"] for e in everything["events"]] == [e.id for e in site.events] and everything["next"] is None
    pages, query = [], "/api/v1/events?limit=4"
    while True:
        page = call(site.server, "GET", query, token=token).json()
        pages.append([e["id"] for e in page["events"]])
        if page["next"] is None:
            break
        query = f"/api/v1/events?limit=4&until={page['next']['until']!r}"
    assert [len(p) for p in pages] == [4, 4, 1] and [i for p in pages for i in p] == [e.id for e in site.events]
    yard = call(site.server, "GET", "/api/v1/events?camera=yard", token=token).json()["events"]
    assert {e["id"] for e in yard} == {e.id for e in site.events if e.camera == "yard"} and len(yard) == 3
    cars = call(site.server, "GET", "/api/v1/events?label=car&camera=door", token=token).json()["events"]
    assert {e["id"] for e in cars} == {e.id for e in site.events if e.label == "car" and e.camera == "door"}
    since = quote(dt.datetime.fromtimestamp(T0 + 110, dt.timezone.utc).isoformat())  # 2025-06-15T15:08:40+00:00
    window = call(site.server, "GET", f"/api/v1/events?since={since}&until={T0 + 140}", token=token).json()["events"]
    assert [e["started_at"] for e in window] == [T0 + 130, T0 + 120, T0 + 110]
    one = call(site.server, "GET", f"/api/v1/events/{site.clip_event.id}", token=token).json()
    assert one["camera"] == "door" and one["started_at"] == T0 + 6 and one["box"] == [0.1, 0.2, 0.3, 0.4]
    assert one["snapshot_url"] == f"/api/v1/events/{site.clip_event.id}/snapshot"
    assert "snapshots/" not in json.dumps(one)  # file paths stay inside the appliance
    assert call(site.server, "GET", f"/api/v1/events/{new_event_id(T0 + 1)}", token=token).status == 404


def test_cameras_show_states_never_urls(site: Site):
    token, _ = login(site.server, "gina")
    site.server.appliance.statuses["door"] = CameraStatus("online", T0, None, T0 + 1, 0)
    reply = call(site.server, "GET", "/api/v1/cameras", token=token)
    assert reply.status == 200 and "hunter2" not in reply.body.decode() and "rtsp" not in reply.body.decode()
    states = {c["name"]: (c["state"], c["recording"]) for c in reply.json()["cameras"]}
    assert states == {"door": ("online", "continuous"), "yard": ("starting", "off")}


def test_snapshot_is_decrypted_for_the_guard(site: Site):
    token, _ = login(site.server, "gina")
    stored = site.server.data_dir / site.clip_event.snapshot
    assert stored.read_bytes()[:4] == MAGIC and site.jpeg not in stored.read_bytes()
    reply = call(site.server, "GET", f"/api/v1/events/{site.clip_event.id}/snapshot", token=token)
    assert reply.status == 200 and reply.headers["Content-Type"] == "image/jpeg" and reply.body == site.jpeg
    no_snapshot = next(e for e in site.events if e.snapshot is None)
    assert call(site.server, "GET", f"/api/v1/events/{no_snapshot.id}/snapshot", token=token).status == 404


def test_a_tampered_snapshot_is_refused_and_counted(site: Site):
    data_dir = site.server.data_dir
    event = make_event(T0 + 90.0, snapshot="snapshots/door/tampered.jpg")
    write_encrypted(data_dir / event.snapshot, site.jpeg, site.key)
    stored = bytearray((data_dir / event.snapshot).read_bytes())
    stored[100] ^= 0x01  # one bit of the ciphertext
    (data_dir / event.snapshot).write_bytes(bytes(stored))
    writer = EventWriter(site.server.config.storage.database).start()
    writer.put(event)
    writer.close()
    registry = site.server.appliance.metrics.registry
    before = registry.get_sample_value("vigia_media_integrity_errors_total") or 0.0
    token, _ = login(site.server, "gina")
    reply = call(site.server, "GET", f"/api/v1/events/{event.id}/snapshot", token=token)
    assert reply.status == 500 and "cannot be decrypted" in reply.json()["error"]
    assert registry.get_sample_value("vigia_media_integrity_errors_total") == before + 1


def test_clip_is_served_with_range_requests(site: Site, tmp_path: Path):
    token, _ = login(site.server, "gina")
    path = f"/api/v1/events/{site.clip_event.id}/clip"
    whole = call(site.server, "GET", path, token=token)
    assert whole.status == 200, whole.body[:200]
    assert whole.headers["Content-Type"] == "video/mp4" and whole.headers["Accept-Ranges"] == "bytes"
    db = site.server.db()
    kept = db.execute("select r.path from events e join recordings r on r.id = e.clip where e.id = ?",
                      [site.clip_event.id]).fetchone()[0]
    db.conn.close()
    stored = site.server.data_dir / kept
    assert stored.read_bytes()[:4] == MAGIC  # encrypted at rest ...
    with open_media(stored, site.key) as media:
        plain = media.read()
    assert whole.body == plain and plain[4:8] == b"ftyp" and len(plain) > 4 * 65536  # ... plain on the wire
    (tmp_path / "served.mp4").write_bytes(whole.body)
    probe = subprocess.run(["ffprobe", "-v", "error", "-show_entries", "format=duration", "-of", "csv=p=0",
                            str(tmp_path / "served.mp4")], capture_output=True, text=True, check=True)
    assert float(probe.stdout) >= 6.0  # from the keyframe before the pre-roll to the end of the post-roll

    size = len(plain)
    for header, (start, end) in {"bytes=0-99": (0, 100), "bytes=65500-65599": (65500, 65600),
                                 "bytes=65535-65536": (65535, 65537), "bytes=-100": (size - 100, size),
                                 f"bytes=100-{size + 5000}": (100, size), "bytes=0-0": (0, 1)}.items():
        reply = call(site.server, "GET", path, token=token, headers={"Range": header})
        assert reply.status == 206, header
        assert reply.headers["Content-Range"] == f"bytes {start}-{end - 1}/{size}", header
        assert int(reply.headers["Content-Length"]) == end - start and reply.body == plain[start:end], header
    for header in ("bytes=999999999-", f"bytes={size}-", "bytes=200-100", "bytes=abc", "bytes=-0", "bytes=-"):
        reply = call(site.server, "GET", path, token=token, headers={"Range": header})
        assert reply.status == 416, header
        assert reply.headers["Content-Range"] == f"bytes */{size}" and "error" in reply.json()
    assert call(site.server, "GET", path, token=token, headers={"Range": "items=0-5"}).status == 200  # unknown unit


def test_an_ongoing_events_clip_is_one_file_per_player(site: Site):
    """Footage of an event still going on is assembled up to now as a version of its own, and the request is
    redirected to it: every range request of one player reads the same bytes, however the footage grows."""
    token, _ = login(site.server, "gina")
    ongoing = make_event(T0 + 8.0)
    ongoing.end = ongoing.ended_at = None
    db = site.server.db()
    db.conn.execute(UPSERT_EVENT, ongoing.to_row())
    try:
        path = f"/api/v1/events/{ongoing.id}/clip"
        first = call(site.server, "GET", path, token=token)
        assert first.status == 307
        location = first.headers["Location"]
        assert location.startswith(f"{path}?part=")
        assert call(site.server, "GET", path + "?download=true", token=token).headers["Location"] == \
            f"{path}?download=true&part={location.rpartition('=')[2]}"  # the same version, still downloaded
        whole = call(site.server, "GET", location, token=token)
        assert whole.status == 200 and whole.body[4:8] == b"ftyp" and len(whole.body) > 65536
        part = call(site.server, "GET", location, token=token, headers={"Range": "bytes=1000-"})
        assert part.status == 206 and part.body == whole.body[1000:]
        gone = call(site.server, "GET", f"{path}?part=12345", token=token)
        assert gone.status == 404 and "open the clip again" in gone.json()["error"]
        # The event ends (its post-roll recorded): the final clip is made, and the versions go.
        db.conn.execute("update events set ended_at = ?, \"end\" = ? where id = ?", [T0 + 9.0, 9.0, ongoing.id])
        final = call(site.server, "GET", path, token=token)
        assert final.status == 200 and final.body[4:8] == b"ftyp"
        assert call(site.server, "GET", location, token=token).status == 404
        assert not list((site.server.data_dir / "media" / "door" / "clips").glob(f"{ongoing.id}.part-*"))
    finally:
        db.conn.execute("delete from events where id = ?", [ongoing.id])
        db.conn.close()


def test_path_traversal_finds_nothing(site: Site):
    token, _ = login(site.server, "gina")
    for path in ("/api/v1/events/..%2f..%2fetc%2fpasswd/clip", "/api/v1/events/..%2F..%2Fvigia.db/snapshot",
                 "/api/v1/events/%2e%2e%2f%2e%2e%2fkeys%2fmedia.key/clip", "/api/v1/events/../../etc/passwd",
                 "/api/v1/events/..%5c..%5cvigia.db/snapshot", f"/api/v1/events/{site.clip_event.id}%2f..%2f..%2fvigia.db/clip"):
        reply = call(site.server, "GET", path, token=token)
        assert reply.status in (400, 404), (path, reply.status)
        assert b"root:" not in reply.body and b"SQLite format" not in reply.body
    evil = call(site.server, "GET", f"/api/v1/events/{site.evil_event.id}/snapshot", token=token)
    assert evil.status == 404 and b"root:" not in evil.body  # a stored path outside the data directory


def test_malformed_input_is_a_400_with_a_message(site: Site):
    token, csrf = login(site.server, "gina")
    event = f"/api/v1/events/{site.clip_event.id}"
    keep = f"{event}/keep"
    form, json_type = "application/x-www-form-urlencoded", "application/json"
    cases = [
        ("POST", "/api/v1/login", {"body": b"{", "headers": {"Content-Type": "application/json"}}, 400),
        ("POST", "/api/v1/login", {"json_body": ["gina", "x"]}, 400),
        ("POST", "/api/v1/login", {"json_body": {"username": 1, "password": "x"}}, 400),
        ("POST", "/api/v1/login", {"json_body": {"username": "gina", "password": PASSWORDS["gina"], "admin": True}}, 400),
        ("POST", "/api/v1/login", {}, 400),
        ("POST", "/api/v1/login", {"body": b"username=gina", "headers": {"Content-Type": form}}, 415),
        ("POST", "/api/v1/login", {"body": b"\xff\xfe", "headers": {"Content-Type": "application/json"}}, 400),
        ("POST", keep, {"body": b"{", "headers": {"Content-Type": "application/json"}, "token": token, "csrf": csrf}, 400),
        ("POST", keep, {"json_body": {"keep": "yes"}, "token": token, "csrf": csrf}, 400),
        ("POST", keep, {"json_body": {"hold": True}, "token": token, "csrf": csrf}, 400),
        ("POST", keep, {"body": b"x" * 70_000, "headers": {"Content-Type": json_type}, "token": token, "csrf": csrf}, 413),
        ("GET", "/api/v1/events/not-an-event", {"token": token}, 400),
        ("GET", "/api/v1/audit?before=abc", {"token": login(site.server, "ada")[0]}, 400),
        ("POST", f"{event}/comments", {"json_body": {"text": None}, "token": token, "csrf": csrf}, 400),
        ("POST", f"/api/v1/events/{site.clip_event.id}/ack", {"json_body": {"comment": 5}, "token": token, "csrf": csrf}, 400),
        ("GET", "/api/v1/cameras/attic/layout", {"token": token}, 404),
        ("GET", "/api/v1/cameras/attic/frame", {"token": token}, 404),
        ("GET", "/api/v1/live?after=x&after=y", {"token": token}, 400),
    ]
    ian, ian_csrf = login(site.server, "ian")
    for body in ([1], {"zones": [{"name": 5}]}, {"zones": [{"name": "a", "polygon": "square"}]}, {"rules": [{}]},
                 {"lines": [{"name": "l", "points": [[0, 0], [0, 0]]}]}):
        cases.append(("PUT", "/api/v1/cameras/door/layout", {"json_body": body, "token": ian, "csrf": ian_csrf}, 400))
    for query in ("limit=0", "limit=201", "limit=abc", "limit=-1", "limit=1.5", "since=nan", "until=inf",
                  "since=2026-01-01T00:00:00", "since=yesterday", "camera=", "colour=red", "limit=5&limit=6",
                  "acknowledged=yes", "alert=1", "zone=" + "z" * 65):
        cases.append(("GET", f"/api/v1/events?{query}", {"token": token}, 400))
    for method, path, kwargs, status in cases:
        reply = call(site.server, method, path, **kwargs)
        assert reply.status == status, (path, kwargs.get("json_body", kwargs.get("body")), reply.body)
        assert reply.headers["Content-Type"].startswith("application/json") and reply.json()["error"]


def test_secrets_never_reach_the_log_or_the_audit_trail(site: Site, caplog: pytest.LogCaptureFixture):
    caplog.set_level(logging.DEBUG)
    call(site.server, "POST", "/api/v1/login", json_body={"username": "gina", "password": "Wrong-Secret-42"})
    token, csrf = login(site.server, "ada")
    new_password = "Fresh-Secret-43"
    assert call(site.server, "POST", "/api/v1/users", token=token, csrf=csrf,
                json_body={"username": "sam", "password": new_password, "role": "installer"}).status == 201
    sam, sam_csrf = login(site.server, "sam", new_password)
    assert "ada logged in from 127.0.0.1" in caplog.text
    db = site.server.db()
    audit = json.dumps([list(row) for row in db.execute("select * from audit_log")])
    hashes = [row[0] for row in db.execute("select password_hash from users")]
    db.conn.close()
    for secret in ("Wrong-Secret-42", new_password, PASSWORDS["ada"], token, csrf, sam, sam_csrf, site.key.hex()):
        assert secret not in caplog.text and secret not in audit
    assert all(h.startswith("scrypt$16384$8$1$") and new_password not in h for h in hashes)


# -- TLS, the CLI ----------------------------------------------------------------------------


def test_the_device_certificate(site: Site, tmp_path: Path):
    folder = site.server.data_dir / "tls"
    assert stat.S_IMODE(folder.stat().st_mode) == 0o700
    assert stat.S_IMODE((folder / "key.pem").stat().st_mode) == 0o600
    cert = x509.load_pem_x509_certificate((folder / "cert.pem").read_bytes())
    assert isinstance(cert.public_key(), ec.EllipticCurvePublicKey) and cert.public_key().curve.name == "secp256r1"
    names = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    assert set(names.get_values_for_type(x509.DNSName)) == {socket.gethostname(), "localhost"}
    assert [str(ip) for ip in names.get_values_for_type(x509.IPAddress)] == ["127.0.0.1"]
    assert cert.not_valid_after_utc - cert.not_valid_before_utc == dt.timedelta(days=825, minutes=5)
    served = ssl.get_server_certificate(("127.0.0.1", site.server.port))
    assert x509.load_pem_x509_certificate(served.encode()) == cert
    before = fingerprint(folder / "cert.pem")
    assert fingerprint(device_certificate(site.server.data_dir).certificate) == before  # kept across starts
    # Renewed when it expires within 30 days, and when the key was lost.
    now = dt.datetime.now(dt.timezone.utc)
    other = device_certificate(tmp_path, hostname="gate-box")
    made = fingerprint(other.certificate)
    assert fingerprint(device_certificate(tmp_path, now=now + dt.timedelta(days=794)).certificate) == made
    renewed = fingerprint(device_certificate(tmp_path, now=now + dt.timedelta(days=796)).certificate)
    assert renewed != made
    other.private_key.unlink()
    assert fingerprint(device_certificate(tmp_path).certificate) != renewed
    os.chmod(other.private_key, 0o644)
    with pytest.raises(TlsError, match="chmod 600"):
        device_certificate(tmp_path)
    given = Http(certificate=tmp_path / "site.pem", private_key=tmp_path / "site.key")
    assert tls_files(given, tmp_path).certificate == tmp_path / "site.pem" and not tls_files(given, tmp_path).self_signed


def vigia(*args: object, stdin: str = "", env=None) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "vigia.app.cli.main", *map(str, args)], input=stdin, check=False,
                          capture_output=True, text=True, timeout=60, env=env)


def test_cli_users_and_tls(tmp_path: Path):
    env = {**os.environ, "VIGIA_DATA_DIR": str(tmp_path)}
    added = vigia("users", "add", "night-guard", "--role", "guard", stdin="Night-Shift-9\n", env=env)
    assert added.returncode == 0, added.stderr
    assert vigia("users", "add", "night-guard", "--role", "guard", stdin="Night-Shift-9\n", env=env).returncode == 2
    short = vigia("users", "add", "boss", "--role", "admin", stdin="short\n", env=env)
    assert short.returncode == 2 and "at least 8 characters" in short.stderr
    assert vigia("users", "passwd", "night-guard", stdin="Day-Shift-10\n", env=env).returncode == 0
    listed = json.loads(vigia("users", "list", "--json", env=env).stdout)
    assert [(u["username"], u["role"], u["locked"]) for u in listed] == [("night-guard", "guard", False)]
    db = connect(tmp_path / "vigia.db")
    assert accounts.login(db, "night-guard", "Night-Shift-9", "x").status == "invalid"
    assert accounts.login(db, "night-guard", "Day-Shift-10", "x").status == "ok"
    actions = [row for row in db.execute("select action, remote, details from audit_log where target = 'night-guard'")]
    db.conn.close()
    assert [a[0] for a in actions][:2] == ["user_created", "password_changed"]
    assert actions[0][1] == "local" and json.loads(actions[0][2])["via"].startswith("cli:")
    info = vigia("tls", "info", env=env)
    assert info.returncode == 0, info.stderr
    assert fingerprint(tmp_path / "tls" / "cert.pem") in info.stdout and "127.0.0.1" in info.stdout


# -- acknowledgements, comments, zone editor, live WebSocket ----------------------------------


def _add_events(site: Site, *events: Event) -> None:
    db = site.server.db()
    for e in events:
        db.conn.execute(UPSERT_EVENT, e.to_row())
    db.conn.close()


def test_acknowledge_and_comment_are_recorded_and_audited(site: Site):
    alert = make_event(T0 + 500)
    alert.alert, alert.zone = True, "gate"
    _add_events(site, alert)
    token, csrf = login(site.server, "gina")
    path = f"/api/v1/events/{alert.id}"
    unacked = call(site.server, "GET", "/api/v1/events?alert=true&acknowledged=false&zone=gate", token=token).json()
    assert [e["id"] for e in unacked["events"]] == [alert.id] and unacked["events"][0]["acknowledged_at"] is None
    assert call(site.server, "POST", f"{path}/ack", json_body={"comment": "x"}, token=token).status == 403  # no CSRF
    acked = call(site.server, "POST", f"{path}/ack", json_body={"comment": "  checked the gate  "}, token=token, csrf=csrf)
    assert acked.status == 200 and acked.json()["acknowledged_by"] == "gina" and acked.json()["acknowledged_at"] > 0
    first_at = acked.json()["acknowledged_at"]
    other_token, other_csrf = login(site.server, "ian")
    again = call(site.server, "POST", f"{path}/ack", token=other_token, csrf=other_csrf)  # no body: no comment
    assert again.status == 200 and again.json()["acknowledged_by"] == "gina" and again.json()["acknowledged_at"] == first_at
    added = call(site.server, "POST", f"{path}/comments", json_body={"text": "called the police"}, token=token, csrf=csrf)
    assert added.status == 201 and added.json()["text"] == "called the police"
    detail = call(site.server, "GET", path, token=token).json()
    assert [(c["username"], c["kind"], c["text"]) for c in detail["comments"]] == [
        ("gina", "ack", "checked the gate"), ("ian", "ack", ""), ("gina", "comment", "called the police")]
    assert call(site.server, "GET", "/api/v1/events?alert=true&acknowledged=false&zone=gate", token=token).json()["events"] == []
    acknowledged = call(site.server, "GET", "/api/v1/events?acknowledged=true", token=token).json()["events"]
    assert [e["id"] for e in acknowledged] == [alert.id]
    for body, status in (({"text": ""}, 400), ({"text": 5}, 400), ({"text": "x" * 2001}, 400), ({"note": "x"}, 400)):
        assert call(site.server, "POST", f"{path}/comments", json_body=body, token=token, csrf=csrf).status == status
    assert call(site.server, "POST", f"{path}/ack", json_body={"comment": ["x"]}, token=token, csrf=csrf).status == 400
    missing = new_event_id(T0 + 9999)
    assert call(site.server, "POST", f"/api/v1/events/{missing}/ack", token=token, csrf=csrf).status == 404
    assert call(site.server, "GET", "/api/v1/events?alert=maybe", token=token).status == 400
    audit = call(site.server, "GET", "/api/v1/audit?limit=20", token=login(site.server, "ada")[0]).json()["entries"]
    assert {(e["action"], e["username"]) for e in audit if e["target"] == alert.id} == {
        ("event_ack", "gina"), ("event_ack", "ian"), ("event_comment", "gina")}


def test_clip_download_is_an_attachment(site: Site):
    token, _ = login(site.server, "gina")
    reply = call(site.server, "GET", f"/api/v1/events/{site.clip_event.id}/clip?download=true", token=token,
                 headers={"Range": "bytes=0-99"})
    assert reply.status == 206 and reply.headers["Content-Disposition"].startswith("attachment;")
    assert call(site.server, "GET", f"/api/v1/events/{site.clip_event.id}/clip?download=yes", token=token).status == 400


def test_zone_editor_layout_needs_an_installer_and_is_validated(site: Site, tmp_path: Path):
    path = "/api/v1/cameras/door/layout"
    guard, guard_csrf = login(site.server, "gina")
    installer, installer_csrf = login(site.server, "ian")
    before = call(site.server, "GET", path, token=guard).json()
    assert before["camera"] == "door" and before["zones"] == [] and before["rules"] == []
    layout = {
        "zones": [{"name": "gate", "polygon": [[0.1, 0.1], [0.5, 0.1], [0.5, 0.6]], "classes": ["person"]}],
        "lines": [{"name": "kerb", "points": [[0.0, 0.8], [1.0, 0.8]]}],
        "rules": [{"name": "at-gate", "type": "enter", "zone": "gate", "alert": True},
                  {"name": "over-kerb", "type": "cross", "line": "kerb", "direction": "left_to_right"}],
    }
    assert call(site.server, "PUT", path, json_body=layout, token=guard, csrf=guard_csrf).status == 403
    assert call(site.server, "PUT", path, json_body=layout, token=installer).status == 403  # no CSRF token
    saved = call(site.server, "PUT", path, json_body=layout, token=installer, csrf=installer_csrf)
    assert saved.status == 200, saved.body
    assert saved.json()["rules"][0] == {"name": "at-gate", "type": "enter", "zone": "gate", "line": None,
                                        "direction": "any", "seconds": None, "count": None, "classes": None, "alert": True,
                                        "upload_clip": False, "notify": [], "schedule": None}
    assert call(site.server, "GET", path, token=guard).json() == saved.json()
    assert [z.name for z in site.server.config.cameras[0].zones] == ["gate"]  # the running config has it
    bad = [
        ({**layout, "zones": [{"name": "gate", "polygon": [[0, 0], [1, 1], [1, 0], [0, 1]]}]},
         "zones[0].polygon: polygon edges cross each other"),
        ({**layout, "zones": [{"name": "gate", "polygon": [[0, 0], [1.5, 0], [0, 1]]}]}, "zones[0].polygon[1][0]"),
        ({**layout, "rules": [{"name": "r", "type": "enter", "zone": "nowhere"}]}, "names zone 'nowhere'"),
        ({**layout, "rules": [{"name": "r", "type": "loiter", "zone": "gate"}]}, "needs seconds"),
        ({**layout, "colour": "red"}, "colour: unknown field"),
        ({**layout, "rules": [{"name": "r", "type": "enter", "zone": "gate", "notify": ["webhook:ops"]}]},
         "rules[0].notify[0]: 'webhook:ops' needs `ops` under `webhooks:` in the config file"),
        ({**layout, "rules": [{"name": "r", "type": "enter", "zone": "gate", "schedule": {"days": ["someday"]}}]},
         "rules[0].schedule.days[0]: Input should be 'mon', 'tue'"),
        ({**layout, "zones": "gate"}, "zones: "),
    ]
    for body, message in bad:
        reply = call(site.server, "PUT", path, json_body=body, token=installer, csrf=installer_csrf)
        assert reply.status == 400 and message in reply.json()["error"], (body, reply.body)
    assert call(site.server, "GET", path, token=guard).json() == saved.json()  # nothing half-applied
    erasing = call(site.server, "PUT", path, json_body={}, token=installer, csrf=installer_csrf)
    assert erasing.status == 400 and all(f"{name}: Field required" in erasing.json()["error"]
                                         for name in ("zones", "lines", "rules")), erasing.body
    assert call(site.server, "GET", path, token=guard).json() == saved.json()  # a malformed body erases nothing
    assert call(site.server, "PUT", "/api/v1/cameras/attic/layout", json_body=layout, token=installer,
                csrf=installer_csrf).status == 404
    # Every layout is kept; the config file's (none) too, and it can be restored.
    assert call(site.server, "GET", path + "/versions", token=guard).status == 403
    listed = call(site.server, "GET", path + "/versions", token=installer).json()["versions"]
    assert [(v["saved_by"], v["zones"]) for v in listed] == [("ian", ["gate"]), (listed[1]["saved_by"], [])]
    assert "config file" in listed[1]["saved_by"]
    restore = f"{path}/versions/{listed[1]['id']}/restore"
    assert call(site.server, "POST", restore, token=installer).status == 403  # no CSRF token
    assert call(site.server, "POST", f"{path}/versions/99999/restore", token=installer, csrf=installer_csrf).status == 404
    restored = call(site.server, "POST", restore, token=installer, csrf=installer_csrf)
    assert restored.status == 200 and restored.json()["zones"] == [] and restored.json()["rules"] == []
    assert site.server.config.cameras[0].zones == []  # applied at once
    again = call(site.server, "POST", f"{path}/versions/{listed[0]['id']}/restore", token=installer, csrf=installer_csrf)
    assert again.status == 200 and again.json() == saved.json()
    entries = call(site.server, "GET", "/api/v1/audit?limit=50", token=login(site.server, "ada")[0]).json()["entries"]
    assert any(e["action"] == "layout_saved" and e["target"] == "door" and e["details"]["zones"] == ["gate"] for e in entries)
    assert any(e["action"] == "layout_restored" and e["details"]["version"] == listed[1]["id"] for e in entries)
    # The next start takes the saved layout over the config file's.
    restarted = make_config(site.server.config.cameras[0].url, site.server.data_dir)
    Appliance(restarted)._load_layouts()
    assert [r.name for r in restarted.cameras[0].rules] == ["at-gate", "over-kerb"]
    assert restarted.cameras[1].rules == []  # yard untouched


def test_a_signed_snapshot_link_serves_the_jpeg_without_a_login_until_it_expires(site: Site):
    key = load_link_key(site.server.config.storage.data_dir)
    url, expires = snapshot_link(key, "https://gate.example.test", site.clip_event.id, 60)
    path = url.removeprefix("https://gate.example.test")
    assert path.startswith(f"/api/v1/links/snapshot/{site.clip_event.id}?expires={expires}&sig=")
    reply = call(site.server, "GET", path)
    assert reply.status == 200 and reply.headers["Content-Type"] == "image/jpeg" and reply.body == site.jpeg
    forged = path[:-4] + ("0000" if not path.endswith("0000") else "1111")
    assert call(site.server, "GET", forged).json() == {"error": "the link's signature does not match"}
    other = path.replace(site.clip_event.id, site.events[0].id)  # a genuine signature is for its event only
    assert call(site.server, "GET", other).status == 403
    expired, _ = snapshot_link(key, "", site.clip_event.id, -10)
    assert call(site.server, "GET", expired).json() == {"error": "the link has expired"}
    assert call(site.server, "GET", f"/api/v1/links/snapshot/{site.clip_event.id}").status == 403  # no signature
    evil, _ = snapshot_link(key, "", site.evil_event.id, 60)
    assert call(site.server, "GET", evil).status == 404  # a path outside the data directory is never served


async def _live(site: Site, token: str | None, query: str = "", origin: str | None = None):
    import aiohttp
    headers = {"Cookie": f"vigia_session={token}"} if token else {}
    if origin:
        headers["Origin"] = origin
    session = aiohttp.ClientSession()
    try:
        ws = await session.ws_connect(f"https://127.0.0.1:{site.server.port}/api/v1/live{query}",
                                      ssl=site.server.tls, headers=headers)
    except BaseException:
        await session.close()
        raise
    return session, ws


def test_live_socket_refuses_strangers_and_foreign_origins(site: Site):
    import aiohttp
    token, _ = login(site.server, "gina")

    async def attempt(token, origin=None, query=""):
        try:
            session, ws = await _live(site, token, query, origin)
        except aiohttp.WSServerHandshakeError as exc:
            return exc.status
        await ws.close()
        await session.close()
        return 101

    assert asyncio.run(attempt(None)) == 401
    assert asyncio.run(attempt("not-a-token")) == 401
    assert asyncio.run(attempt(token, origin="https://evil.example")) == 403
    assert asyncio.run(attempt(token, query="?after=../../etc")) == 400
    assert asyncio.run(attempt(token, origin=f"https://127.0.0.1:{site.server.port}")) == 101


def test_live_socket_catches_up_and_carries_acks(site: Site):
    earlier, missed = make_event(time.time() - 60), make_event(time.time() - 30)
    alert = make_event(time.time() - 10)
    alert.alert = True
    _add_events(site, earlier, missed, alert)
    token, csrf = login(site.server, "gina")

    async def scenario():
        session, ws = await _live(site, token, f"?after={earlier.id}")
        try:
            hello = await ws.receive_json(timeout=5)
            assert hello["type"] == "hello" and {c["name"] for c in hello["cameras"]} == {"door", "yard"}
            assert [e["id"] for e in hello["missed"]] == [missed.id, alert.id]
            assert alert.id in [e["id"] for e in hello["alerts"]]
            await ws.send_json({"type": "watch", "cameras": ["attic"]})
            assert "cameras must be" in (await ws.receive_json(timeout=5))["error"]
            await ws.send_str("{")
            assert (await ws.receive_json(timeout=5))["type"] == "error"
            reply = await asyncio.to_thread(call, site.server, "POST", f"/api/v1/events/{alert.id}/ack",
                                            json_body={"comment": "seen"}, token=token, csrf=csrf)
            assert reply.status == 200
            ack = await ws.receive_json(timeout=5)
            assert ack["type"] == "ack" and ack["event"]["id"] == alert.id and ack["event"]["acknowledged_by"] == "gina"
        finally:
            await ws.close()
            await session.close()
        session, ws = await _live(site, token)
        try:
            hello = await ws.receive_json(timeout=5)
            assert alert.id not in [e["id"] for e in hello["alerts"]] and hello["missed"] == []
        finally:
            await ws.close()
            await session.close()

    asyncio.run(scenario())


def test_logout_closes_the_live_socket(site: Site, monkeypatch: pytest.MonkeyPatch):
    from vigia.local_ui import live_routes
    monkeypatch.setattr(live_routes, "SESSION_CHECK_S", 0.2)
    token, csrf = login(site.server, "gina")

    async def scenario():
        session, ws = await _live(site, token)
        try:
            assert (await ws.receive_json(timeout=5))["type"] == "hello"
            reply = await asyncio.to_thread(call, site.server, "POST", "/api/v1/logout", token=token, csrf=csrf)
            assert reply.status == 200
            closed = await ws.receive(timeout=5)
            assert closed.type.name == "CLOSE" and closed.data == 4401, closed
        finally:
            await session.close()

    asyncio.run(scenario())


def test_shutdown_closes_live_sockets_at_once(tmp_path: Path, demo_clip: Path):
    import aiohttp
    config = make_config(demo_clip, tmp_path)
    db = connect(config.storage.database)
    accounts.add_user(db, "gina", PASSWORDS["gina"], "guard", actor=None, remote="test", via="test")
    db.conn.close()

    async def scenario(server: Server) -> tuple[object, float]:
        token, _ = await asyncio.to_thread(login, server, "gina")
        async with aiohttp.ClientSession() as session:
            async with session.ws_connect(f"https://127.0.0.1:{server.port}/api/v1/live", ssl=server.tls,
                                          headers={"Cookie": f"vigia_session={token}"}) as ws:
                assert (await ws.receive_json(timeout=5))["type"] == "hello"
                started = time.monotonic()
                stopping = asyncio.create_task(asyncio.to_thread(stop_server))
                closed = await ws.receive(timeout=10)
                await stopping
                return closed, time.monotonic() - started

    with running(config) as server:
        stop_server = server.stop.set
        closed, took = asyncio.run(scenario(server))
    assert closed.type.name == "CLOSE" and closed.data == 1001 and took < 5, (closed, took)


def test_sync_status_shows_the_outbox_backlog(site: Site):
    token, _ = login(site.server, "gina")
    status = call(site.server, "GET", "/api/v1/sync", token=token).json()
    assert status["enrolled"] is False and status["central_url"] is None and status["dropped"] == 0
    db = site.server.db()
    before = status["backlog"]
    db.execute("insert into outbox (kind, key, priority, body, created_at) values ('event', 'k1', 1, '{}', 1.0)")
    db.conn.close()
    after = call(site.server, "GET", "/api/v1/sync", token=token).json()
    assert after["backlog"] == before + 1 and after["by_kind"].get("event", 0) >= 1


def test_front_end_files_are_public_and_confined(site: Site, tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    dist = tmp_path / "dist"
    (dist / "assets").mkdir(parents=True)
    (dist / "index.html").write_text("<!doctype html><title>Vigia</title>")
    (dist / "assets" / "app-1234.js").write_text("console.log('vigia')")
    (tmp_path / "secret.txt").write_text("not for the browser")
    monkeypatch.setenv("VIGIA_UI_DIST", str(dist))
    page = call(site.server, "GET", "/")
    assert page.status == 200 and b"<title>Vigia</title>" in page.body
    assert "script-src 'self'" in page.headers["Content-Security-Policy"] and page.headers["Cache-Control"] == "no-cache"
    asset = call(site.server, "GET", "/assets/app-1234.js")
    assert asset.status == 200 and "immutable" in asset.headers["Cache-Control"]
    assert call(site.server, "GET", "/events/01ABC").body == page.body  # the app routes on the client
    for path in ("/../secret.txt", "/..%2fsecret.txt", "/%2e%2e/secret.txt", "/assets/..%2f..%2fsecret.txt",
                 "/assets/%2e%2e/%2e%2e/secret.txt", "//etc/passwd", "/..%2f..%2f..%2f..%2fetc%2fpasswd"):
        reply = call(site.server, "GET", path)
        assert b"not for the browser" not in reply.body and b"root:" not in reply.body, path
        assert reply.status in (200, 400, 403, 404), (path, reply.status)
    assert call(site.server, "GET", "/api/v1/not-a-route").status == 401  # the API's namespace is never the app's


# -- privacy: footage access audited, data-subject requests (admin) ----------------------------


def _audited(server: Server, action: str, target: str) -> list[tuple]:
    db = server.db()
    try:
        return db.execute("select username, remote from audit_log where action = ? and target = ?",
                          [action, target]).fetchall()
    finally:
        db.conn.close()


def test_footage_access_is_audited_once_per_opening(site: Site):
    token, _ = login(site.server, "gina")
    event_id = site.clip_event.id
    assert call(site.server, "GET", f"/api/v1/events/{event_id}/snapshot", token=token).status == 200
    assert _audited(site.server, "snapshot_view", event_id)[-1] == ("gina", "127.0.0.1")
    views = len(_audited(site.server, "clip_view", event_id))
    assert call(site.server, "GET", f"/api/v1/events/{event_id}/clip", token=token,
                headers={"Range": "bytes=0-99"}).status == 206
    assert call(site.server, "GET", f"/api/v1/events/{event_id}/clip", token=token,
                headers={"Range": "bytes=65500-65599"}).status == 206   # a seek: the same opening
    assert len(_audited(site.server, "clip_view", event_id)) == views + 1
    assert call(site.server, "GET", f"/api/v1/events/{event_id}/clip?download=true", token=token).status == 200
    assert _audited(site.server, "clip_download", event_id)[-1] == ("gina", "127.0.0.1")
    admin, _ = login(site.server, "ada")
    chain = call(site.server, "GET", "/api/v1/privacy/audit/verify", token=admin).json()
    assert chain["ok"] is True and chain["entries"] > 0


def test_data_subject_requests_are_for_admins_and_held_events_refuse_erasure(site: Site):
    guard, guard_csrf = login(site.server, "gina")
    admin, csrf = login(site.server, "ada")
    event = site.clip_event
    window = {"camera": event.camera, "from": event.started_at - 1, "to": event.started_at + 1}
    assert call(site.server, "POST", "/api/v1/privacy/requests", token=guard, csrf=guard_csrf,
                json_body={"kind": "find", **window}).status == 403
    assert call(site.server, "GET", "/api/v1/privacy/audit/verify", token=guard).status == 403
    found = call(site.server, "POST", "/api/v1/privacy/requests", token=admin, csrf=csrf,
                 json_body={"kind": "find", **window})
    assert found.status == 200 and event.id in [e["id"] for e in found.json()["events"]]
    assert found.json()["recordings"]   # the segments of the window
    bad = call(site.server, "POST", "/api/v1/privacy/requests", token=admin, csrf=csrf,
               json_body={"kind": "erase", **window, "to": window["from"] - 5, "reason": "r"})
    assert bad.status == 422 and "to" in bad.json()["error"]   # well-formed, but the window ends before it starts
    unknown = call(site.server, "POST", "/api/v1/privacy/requests", token=admin, csrf=csrf,
                   json_body={"kind": "forget", **window})
    assert unknown.status == 400 and "kind" in unknown.json()["error"]
    assert call(site.server, "POST", f"/api/v1/events/{event.id}/keep", token=admin, csrf=csrf).status == 200
    try:
        refused = call(site.server, "POST", "/api/v1/privacy/requests", token=admin, csrf=csrf,
                       json_body={"kind": "erase", **window, "reason": "request 1"})
        assert refused.status == 409 and f"event {event.id}" in refused.json()["error"]
        assert "kept by ada" in refused.json()["error"]
    finally:
        call(site.server, "POST", f"/api/v1/events/{event.id}/keep", token=admin, csrf=csrf,
             json_body={"keep": False})
    assert call(site.server, "GET", f"/api/v1/events/{event.id}", token=admin).status == 200   # nothing erased
    erased = call(site.server, "POST", "/api/v1/privacy/requests", token=admin, csrf=csrf,   # yard: nothing there
                  json_body={"kind": "erase", "camera": "yard", "from": T0 - 100, "to": T0 - 50, "reason": "request 2"})
    assert erased.status == 200 and erased.json()["appliance"]["events"] == [] and erased.json()["central"] is None
    listed = call(site.server, "GET", "/api/v1/privacy/requests", token=admin).json()["requests"]
    assert [(r["kind"], r["state"]) for r in listed][:3] == [("erase", "done"), ("erase", "refused"), ("find", "done")]
