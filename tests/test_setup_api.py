"""The setup wizard's API on a fresh appliance (no users, no cameras): setup mode, claiming, ONVIF
discovery against a protocol-level responder, stream tests against GStreamer's RTSP server, adding a
camera that starts without a restart, finishing, and enrolment errors."""
from __future__ import annotations

import base64
import http.client
import json
import logging
import ssl
import time
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np
import pytest
from support.appliance import running_appliance
from support.onvif_responder import OnvifResponder, Profile
from support.servers import free_port, start_rtsp_server
from support.waiting import wait_for

from vigia.appliance.config import parse_config
from vigia.appliance.storage import connect
from vigia.provisioning.identity import load_or_create_identity
from vigia.provisioning.state import claim_code, load_setup

ADMIN = {"username": "owner", "password": "first-admin-pass"}


@dataclass
class Client:
    port: int
    tls: ssl.SSLContext
    token: str | None = None
    csrf: str | None = None

    def call(self, method: str, path: str, body=None, *, anonymous: bool = False) -> tuple[int, dict, http.client.HTTPResponse]:
        headers = {}
        if self.token and not anonymous:
            headers["Cookie"] = f"vigia_session={self.token}"
            headers["X-CSRF-Token"] = self.csrf or ""
        data = None
        if body is not None:
            data = json.dumps(body).encode()
            headers["Content-Type"] = "application/json"
        conn = http.client.HTTPSConnection("127.0.0.1", self.port, context=self.tls, timeout=30)
        try:
            conn.request(method, path, body=data, headers=headers)
            response = conn.getresponse()
            raw = response.read()
            return response.status, json.loads(raw) if raw else {}, response
        finally:
            conn.close()

    def claim(self, code: str, **admin) -> tuple[int, dict]:
        status, answer, response = self.call("POST", "/api/v1/setup/claim", {"claim_code": code, **(admin or ADMIN)},
                                             anonymous=True)
        if status == 200:
            cookie = next(h for h in response.headers.get_all("Set-Cookie") if h.startswith("vigia_session="))
            self.token, self.csrf = cookie.split(";")[0].split("=", 1)[1], answer["csrf_token"]
        return status, answer


def fresh_config(data_dir: Path, model: Path | str = "yolox_nano", extra: str = ""):
    return parse_config(f"""
detector:
  model: {model}
storage:
  data_dir: {data_dir}
http:
  port: {free_port()}
{extra}""", source="setup test config")


def the_code(data_dir: Path) -> str:
    identity = load_or_create_identity(data_dir)
    return claim_code(identity, load_setup(data_dir, identity))


def wrong(code: str) -> str:
    """A well-formed claim code that is not `code`."""
    return ("3" if code[0] == "2" else "2") + code[1:]


def test_setup_mode_serves_only_the_wizard_until_claimed(tmp_path: Path, caplog: pytest.LogCaptureFixture):
    caplog.set_level(logging.DEBUG)
    config = fresh_config(tmp_path)
    with running_appliance(config, start_cameras=False) as running:
        client = Client(running.port, running.tls)
        status, setup, _ = client.call("GET", "/api/v1/setup")
        assert status == 200 and setup["state"] == "unclaimed" and setup["cameras"] == []
        assert setup["device"] == load_or_create_identity(tmp_path).short_id
        assert abs(setup["server_time"] - time.time()) < 5
        for method, path in (("GET", "/api/v1/events"), ("GET", "/api/v1/cameras"), ("GET", "/api/v1/users"),
                             ("POST", "/api/v1/setup/cameras/discover"), ("POST", "/api/v1/setup/finish"),
                             ("GET", "/api/v1/openapi.json")):
            status, answer, _ = client.call(method, path, {} if method == "POST" else None)
            assert status == 403 and answer["error"].startswith("setup not finished"), (method, path, answer)
        assert client.call("GET", "/healthz")[0] == 200
        assert client.call("POST", "/api/v1/login", {"username": "owner", "password": "whatever-1"})[0] == 401

        code = the_code(tmp_path)
        assert client.claim(wrong(code)) == (403, {"error": "wrong claim code"})
        assert client.claim(code, username="owner", password="short")[0] == 400
        assert client.claim("not a code")[0] == 403
        status, session = client.claim(code.lower().replace("-", ""))  # as typed: any case, dashes optional
        assert status == 200 and session["username"] == "owner" and session["role"] == "admin"
        assert client.call("GET", "/api/v1/setup")[1]["state"] == "ready"
        assert client.call("GET", "/api/v1/events")[0] == 200  # the new admin is logged in
        assert client.claim(code)[0] == 409                  # once only
        assert Client(running.port, running.tls).claim(code, username="thief", password="thief-pass-1")[0] == 409
        assert client.call("GET", "/api/v1/events", anonymous=True)[0] == 401  # back to the usual rules

        audit = client.call("GET", "/api/v1/audit")[1]["entries"]
        actions = [e["action"] for e in audit]
        assert "device_claimed" in actions and actions.count("claim_failed") == 2
        assert load_setup(tmp_path, load_or_create_identity(tmp_path)).claimed_via == "claim-code"
    logged = caplog.text + json.dumps(audit)
    assert code not in logged and code.replace("-", "") not in logged and ADMIN["password"] not in logged


def test_wrong_claim_codes_are_rate_limited(tmp_path: Path):
    config = fresh_config(tmp_path, extra="  login_max_failures: 2\n")
    with running_appliance(config, start_cameras=False) as running:
        client = Client(running.port, running.tls)
        code = the_code(tmp_path)
        assert client.claim(wrong(code))[0] == 403
        assert client.claim(wrong(code))[0] == 403
        status, answer = client.claim(code)  # even the right code waits now
        assert status == 429 and "too many" in answer["error"]
        assert client.call("GET", "/api/v1/setup")[1]["state"] == "unclaimed"


def test_cameras_found_by_onvif_tested_and_started_without_a_restart(tmp_path: Path, demo_clip: Path,
                                                                      default_model: Path, caplog):
    caplog.set_level(logging.DEBUG)
    config = fresh_config(tmp_path, default_model)
    rtsp = start_rtsp_server(demo_clip)
    camera = OnvifResponder("admin", "cam-secret-9", rtsp_port=rtsp.port,
                            profiles=[Profile("main", "mainStream", 1280, 720, "/demo")])
    try:
        with running_appliance(config) as running:
            client = Client(running.port, running.tls)
            assert client.claim(the_code(tmp_path))[0] == 200

            status, found, _ = client.call("POST", "/api/v1/setup/cameras/discover")
            assert status == 200, found
            device = next(d for d in found["devices"] if d["endpoint"] == camera.endpoint)
            assert device["xaddr"] == camera.device_xaddr and device["name"] == "TestCam"

            status, refused, _ = client.call("POST", "/api/v1/setup/cameras/probe",
                                             {"xaddr": device["xaddr"], "username": "admin", "password": "wrong"})
            assert status == 403 and "refused the user name or password" in refused["error"]
            status, probed, _ = client.call("POST", "/api/v1/setup/cameras/probe",
                                            {"xaddr": device["xaddr"], "username": "admin", "password": "cam-secret-9"})
            assert status == 200, probed
            assert [p["url"] for p in probed["profiles"]] == [rtsp.url] and probed["url"] == rtsp.url
            assert (probed["codec"], probed["width"], probed["height"]) == ("h264", 1280, 720)
            assert 20 <= probed["fps"] <= 30, probed["fps"]
            assert probed["preview"].startswith("data:image/jpeg;base64,")
            preview = cv2.imdecode(np.frombuffer(base64.b64decode(probed["preview"].split(",", 1)[1]), np.uint8),
                                   cv2.IMREAD_COLOR)
            assert preview.shape[1] == 640 and preview.std() > 10  # a picture, not a blank

            dead = f"rtsp://127.0.0.1:{free_port()}/none"
            status, failed, _ = client.call("POST", "/api/v1/setup/cameras/probe",
                                            {"url": dead, "username": "admin", "password": "cam-secret-9"})
            assert status == 502 and failed["error"].startswith("cannot open the stream")
            assert "cam-secret-9" not in json.dumps(failed)
            assert client.call("POST", "/api/v1/setup/cameras/probe", {"url": "http://x/y"})[0] == 400

            added = {"name": "gate", "url": probed["url"], "username": "admin", "password": "cam-secret-9",
                     "record": "events", "retain_days": 14}
            status, answer, _ = client.call("POST", "/api/v1/setup/cameras", added)
            assert status == 201, answer
            assert wait_for(lambda: client.call("GET", "/healthz")[1]["cameras"].get("gate", {}).get("state")
                            == "online", 20)
            assert client.call("POST", "/api/v1/setup/cameras", added)[0] == 409
            assert client.call("POST", "/api/v1/setup/cameras", {**added, "name": "Bad Name"})[0] == 400
            cameras = client.call("GET", "/api/v1/cameras")[1]["cameras"]
            assert [(c["name"], c["recording"]) for c in cameras] == [("gate", "events")]
            assert "cam-secret-9" not in json.dumps(cameras)
            assert wait_for(lambda: client.call("GET", "/api/v1/events?camera=gate")[1]["events"], 30), \
                "no event from the camera added in the wizard"
        db = connect(config.storage.database)
        saved = json.loads(db.execute("select camera from setup_cameras where name = 'gate'").fetchone()[0])
        db.conn.close()
        assert saved["record"]["retain_days"] == 14
        rtsp.stop()  # GStreamer's test server can abort when a client leaves mid-stream: a fresh one for the restart
        rtsp = start_rtsp_server(demo_clip, port=rtsp.port)
        with running_appliance(fresh_config(tmp_path, default_model)) as again:  # saved: back after a restart
            assert [c.name for c in again.appliance.config.cameras] == ["gate"]
            assert wait_for(lambda: again.appliance.camera_states().get("gate", {}).get("state") == "online", 20)
    finally:
        camera.close()
        rtsp.stop()
    assert "cam-secret-9" not in caplog.text


def test_finish_enrol_and_roles(tmp_path: Path):
    config = fresh_config(tmp_path)
    with running_appliance(config, start_cameras=False) as running:
        client = Client(running.port, running.tls)
        assert client.claim(the_code(tmp_path))[0] == 200
        assert client.call("POST", "/api/v1/setup/finish", {"time_zone": "Mars/Olympus"})[0] == 400
        status, site, _ = client.call("POST", "/api/v1/setup/finish", {"time_zone": "America/Sao_Paulo"})
        assert status == 200 and site["finished_by"] == "owner"
        setup = client.call("GET", "/api/v1/setup")[1]
        assert setup["time_zone"] == "America/Sao_Paulo" and setup["finished_at"] and not setup["enrolled"]
        stranger = client.call("GET", "/api/v1/setup", anonymous=True)[1]  # claimed: no site details without login
        assert set(stranger) == {"state", "device", "server_time"} and stranger["state"] == "ready"

        ca_pem = (tmp_path / "tls" / "cert.pem").read_text()
        nowhere = f"https://127.0.0.1:{free_port()}"
        status, failed, _ = client.call("POST", "/api/v1/setup/enrol",
                                        {"central_url": nowhere, "token": "one-time-token", "ca_pem": ca_pem})
        assert status == 502 and failed["error"].startswith(f"cannot reach central at {nowhere}")
        assert "one-time-token" not in failed["error"]
        assert client.call("POST", "/api/v1/setup/enrol", {"central_url": "http://x", "token": "t",
                                                           "ca_pem": ca_pem})[0] == 400

        assert client.call("POST", "/api/v1/users", {"username": "gus", "password": "guard-pass-1",
                                                     "role": "guard"})[0] == 201
        guard = Client(running.port, running.tls)
        status, answer, response = guard.call("POST", "/api/v1/login", {"username": "gus", "password": "guard-pass-1"})
        cookie = next(h for h in response.headers.get_all("Set-Cookie") if h.startswith("vigia_session="))
        guard.token, guard.csrf = cookie.split(";")[0].split("=", 1)[1], answer["csrf_token"]
        for path, body in (("/api/v1/setup/cameras/discover", None), ("/api/v1/setup/cameras/probe", {"url": "rtsp://x/y"}),
                           ("/api/v1/setup/finish", {"time_zone": "UTC"})):
            assert guard.call("POST", path, body)[0] == 403, path


def test_the_wizard_enrols_with_a_real_central(tmp_path: Path, default_model: Path):
    """Central behind NGINX (device certificates) with PostgreSQL: the wizard's enrolment makes the device's
    key and certificate, and the next start sends the appliance's records to central."""
    from vigia.app.appliance import Appliance
    from vigia.app.devstack import central_stack
    from vigia.sync.identity import identity_folder, load_identity

    config = fresh_config(tmp_path / "device")
    with central_stack(tmp_path / "central") as stack:
        with running_appliance(config, start_cameras=False) as running:
            client = Client(running.port, running.tls)
            assert client.claim(the_code(tmp_path / "device"))[0] == 200
            token = stack.token("site-42")
            body = {"central_url": stack.url, "token": token, "ca_pem": stack.ca_pem.decode()}
            status, answer, _ = client.call("POST", "/api/v1/setup/enrol", body)
            assert status == 200, answer
            assert answer == {"enrolled": True, "device_id": "site-42", "central_url": stack.url, "restart_needed": True}
            assert client.call("GET", "/api/v1/setup")[1]["enrolled"] is True
            assert client.call("POST", "/api/v1/setup/enrol", body)[0] == 502  # the token works once
        identity = load_identity(identity_folder(config.storage.data_dir))
        assert identity is not None and identity.device_id == "site-42"
        assert (identity_folder(config.storage.data_dir) / "device.key").stat().st_mode & 0o777 == 0o600
        # The restart the answer asks for: the outbox is on and a camera-health record reaches central.
        restarted = parse_config(f"""
cameras:
  - {{name: gate, url: "rtsp://127.0.0.1:{free_port()}/none"}}
detector:
  model: {default_model}
storage:
  data_dir: {config.storage.data_dir}
""", source="after enrolment")
        appliance = Appliance(restarted)
        appliance.start()
        try:
            assert wait_for(lambda: stack.query(
                "SELECT count(*) FROM device_records WHERE device_id = 'site-42' AND kind = 'camera_health'")[0][0] >= 1,
                60, 0.5)
        finally:
            appliance.stop()


def test_a_camera_added_without_a_usable_model_is_refused_and_not_saved(tmp_path: Path):
    config = fresh_config(tmp_path, model="no-such-model")
    with running_appliance(config) as running:  # started: no camera, so no detector needed yet
        client = Client(running.port, running.tls)
        assert client.claim(the_code(tmp_path))[0] == 200
        status, answer, _ = client.call("POST", "/api/v1/setup/cameras",
                                        {"name": "gate", "url": "rtsp://127.0.0.1:8554/gate"})
        assert status == 503 and "no model 'no-such-model'" in answer["error"], answer
        assert client.call("GET", "/api/v1/cameras")[1]["cameras"] == []
    db = connect(config.storage.database)
    assert db.execute("select count(*) from setup_cameras").fetchone()[0] == 0
    db.conn.close()
