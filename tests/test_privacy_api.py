"""The guards' API for privacy, against the real server (TLS, SQLite, footage recorded from the demo clip and
encrypted at rest): export for disclosure as a background job (admin; audited), the signage notice, and each
camera's retention. The camera has a privacy mask in its config file: the export has it painted black too."""
from __future__ import annotations

import hashlib
from collections.abc import Iterator
from pathlib import Path

import av
import pytest
from support.servers import free_port
from support.waiting import wait_for

from tests.test_local_api import Server, call, login, running
from tests.test_recording import T0, encode, feed
from vigia.app.cli.main import main as vigia
from vigia.appliance.config import parse_config
from vigia.appliance.encryption import load_or_create_key
from vigia.appliance.recording.recorder import SegmentRecorder
from vigia.appliance.storage import connect
from vigia.local_ui import accounts

SECONDS = 3.0
USERS = {"ada": ("admin-pass-1", "admin"), "gina": ("guard-pass-1", "guard")}
CONFIG = """\
cameras:
  - name: door
    url: {clip}
    record: {{mode: continuous, segment_seconds: 2, retain_days: 14}}
    privacy_masks:
      - {{name: window, polygon: [[0, 0], [0.3, 0], [0.3, 1], [0, 1]]}}
detector: {{model: {model}}}
storage:
  data_dir: {data_dir}
  event_days: {{default: 30, car: 7}}
http:
  port: {port}
privacy:
  controller: Condomínio <Vila Verde>
  purpose: Security of residents and property
  purpose_pt: Segurança dos moradores e do patrimônio
  contact: dpo@vilaverde.example
"""


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory, demo_clip: Path, default_model: Path) -> Iterator[Server]:
    data_dir = tmp_path_factory.mktemp("privacy-api")
    clip = encode(demo_clip, data_dir / "cut.ts", "scale=416:234", SECONDS)
    config = parse_config(CONFIG.format(clip=clip, model=default_model, data_dir=data_dir, port=free_port()))
    _record(clip, config)
    db = connect(config.storage.database)
    for user, (password, role) in USERS.items():
        accounts.add_user(db, user, password, role, actor=None, remote="test", via="test")
    db.conn.close()
    with running(config) as running_server:
        yield running_server


def _record(clip: Path, config) -> None:
    camera = config.cameras[0]
    recorder = SegmentRecorder(camera.name, camera.record, config.storage.data_dir, config.storage.database,
                               load_or_create_key(config.storage.media_key))
    feed(recorder, clip)
    recorder.close()


def sign_in(server: Server, user: str) -> tuple[str, str]:
    return login(server, user, USERS[user][0])


def test_an_admin_exports_for_disclosure_and_downloads_it_audited(server: Server, tmp_path: Path):
    token, csrf = sign_in(server, "ada")
    started = call(server, "POST", "/api/v1/exports", token=token, csrf=csrf,
                   json_body={"camera": "door", "from": T0, "to": T0 + 1, "redact": ["persons"]})  # 1 s: the redaction is slow
    assert started.status == 202, started.body
    job = started.json()
    assert job["state"] == "running" and job["requested_by"] == "ada"
    assert call(server, "GET", f"/api/v1/exports/{job['id']}/video", token=token).status in (200, 409)

    def state() -> dict:
        return call(server, "GET", f"/api/v1/exports/{job['id']}", token=token).json()

    assert wait_for(lambda: state()["state"] != "running", 240, 0.5)
    done = state()
    assert done["state"] == "done", done
    assert done["frames"] >= 20 and done["regions_hidden"] > 0
    assert [j["id"] for j in call(server, "GET", "/api/v1/exports", token=token).json()["exports"]] == [job["id"]]
    video = call(server, "GET", f"/api/v1/exports/{job['id']}/video", token=token)
    assert video.status == 200 and video.headers["Content-Type"] == "video/mp4"
    assert "attachment" in video.headers["Content-Disposition"]
    manifest = call(server, "GET", f"/api/v1/exports/{job['id']}/manifest", token=token).json()
    assert manifest["output"]["sha256"] == hashlib.sha256(video.body).hexdigest()
    assert manifest["requested_by"] == "ada" and manifest["privacy_masks"] == 1
    (tmp_path / "out.mp4").write_bytes(video.body)
    with av.open(str(tmp_path / "out.mp4")) as container:
        frames = [f.to_ndarray(format="bgr24") for f in container.decode(video=0)]
    assert len(frames) == done["frames"]
    assert all(frame[4:-4, 4:120].max() <= 30 for frame in frames), "the camera's privacy mask is black"
    db = connect(server.config.storage.database)
    try:
        actions = [(e["action"], e["username"], e["details"].get("job")) for e in accounts.audit_entries(db)]
    finally:
        db.conn.close()
    assert ("export_redacted", "ada", job["id"]) in actions
    assert actions.count(("export_downloaded", "ada", job["id"])) == 2


def test_an_export_is_for_admins_and_bad_requests_name_the_field(server: Server):
    token, csrf = sign_in(server, "gina")
    body = {"camera": "door", "from": T0, "to": T0 + SECONDS}
    assert call(server, "POST", "/api/v1/exports", token=token, csrf=csrf, json_body=body).status == 403
    assert call(server, "GET", "/api/v1/exports", token=token).status == 403
    token, csrf = sign_in(server, "ada")
    assert call(server, "POST", "/api/v1/exports", token=token, json_body=body).status == 403, "CSRF checked"
    # 400: malformed; 422: well-formed but not acceptable here (no such camera or event, a window backwards)
    for change, field, status in (({"camera": "nope"}, "camera", 422), ({"to": T0 - 1}, "to", 422),
                                  ({"from": "soon"}, "from", 400), ({"redact": ["cats"]}, "redact", 400),
                                  ({"keep_events": ["x"]}, "keep_events", 400),
                                  ({"keep_events": ["01J0000000000000000000000Z"]}, "keep_events", 422)):
        reply = call(server, "POST", "/api/v1/exports", token=token, csrf=csrf, json_body=body | change)
        assert reply.status == status and reply.json()["error"].startswith(field), (change, reply.body)
    assert call(server, "GET", "/api/v1/exports/01J0000000000000000000000Z", token=token).status == 404


def test_the_signage_notice_and_each_cameras_retention(server: Server):
    token, _ = sign_in(server, "gina")
    english = call(server, "GET", "/api/v1/privacy/notice?lang=en", token=token)
    assert english.status == 200 and english.headers["Content-Type"].startswith("text/html")
    text = english.body.decode()
    assert "Condomínio &lt;Vila Verde&gt;" in text and "dpo@vilaverde.example" in text
    assert "door: continuous footage 14 days" in text and "car: 7 days" in text
    portuguese = call(server, "GET", "/api/v1/privacy/notice", token=token).body.decode()
    assert "Segurança dos moradores" in portuguese and "gravação contínua 14 dias" in portuguese
    assert call(server, "GET", "/api/v1/privacy/notice?lang=fr", token=token).status == 400
    assert call(server, "GET", "/api/v1/privacy/notice?lang=en").status == 401
    cameras = call(server, "GET", "/api/v1/cameras", token=token).json()["cameras"]
    assert cameras[0]["retention"] == {"recording": "continuous", "footage_days": 14.0,
                                       "event_days": {"default": 30.0, "car": 7.0}}
    assert cameras[0]["privacy_masks"] == 1


def test_the_notice_from_the_cli_and_what_it_says_when_the_config_lacks_it(tmp_path: Path, capsys):
    config = tmp_path / "vigia.yml"
    config.write_text(CONFIG.format(clip=tmp_path / "x.mp4", model="yolox_nano", data_dir=tmp_path, port=8443))
    out = tmp_path / "notice.html"
    assert vigia(["privacy", "notice", "-c", str(config), "--lang", "en", "--out", str(out)]) == 0
    assert "door: continuous footage 14 days" in out.read_text()
    bare = tmp_path / "bare.yml"
    bare.write_text(f"storage: {{data_dir: {tmp_path}}}\n")
    assert vigia(["privacy", "notice", "-c", str(bare)]) != 0
    assert "set privacy.controller, privacy.purpose and privacy.contact" in capsys.readouterr().err
    blank = tmp_path / "blank.yml"
    blank.write_text("privacy: {controller: ' ', purpose: CCTV, contact: dpo@example.com}\n")
    assert vigia(["privacy", "notice", "-c", str(blank)]) != 0
    assert "privacy.controller" in capsys.readouterr().err
