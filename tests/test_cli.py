"""The `vigia` command as a user runs it: bad input gets one clear line, the demo serves metrics."""
import json
import os
import ssl
import subprocess
import sys
import time
import urllib.request

import pytest
from support.servers import free_port

from vigia.appliance.config import Record
from vigia.appliance.encryption import open_media
from vigia.appliance.recording.event_clips import event_clip
from vigia.appliance.storage import connect, list_events
from vigia.local_ui import accounts


def vigia(*args, env=None, timeout=120):
    return subprocess.run([sys.executable, "-m", "vigia.app.cli.main", *map(str, args)],
                          capture_output=True, text=True, timeout=timeout, env=env)


def test_version():
    done = vigia("--version")
    assert done.returncode == 0 and done.stdout.startswith("vigia ")


@pytest.mark.parametrize("kind", ["text", "truncated", "missing"])
def test_analyze_bad_media_is_one_clear_line(kind, tmp_path, demo_clip, default_model):
    path = tmp_path / "clip.avi"
    if kind == "text":
        path.write_text("this is not a video\n")
    elif kind == "truncated":
        path.write_bytes(demo_clip.read_bytes()[:100_000])
    done = vigia("analyze", path, "--json", "--model", default_model)
    assert done.returncode == 1
    assert done.stdout == ""
    assert "Traceback" not in done.stderr
    lines = done.stderr.strip().splitlines()
    assert lines[-1].startswith("vigia: ") and str(path) in lines[-1]
    assert ("no such file" if kind == "missing" else "is not a readable video") in lines[-1]


def test_analyze_with_a_model_that_is_not_onnx(tmp_path, demo_clip):
    fake = tmp_path / "model.onnx"
    fake.write_bytes(b"\x00\x01 definitely not protobuf" * 10)
    done = vigia("analyze", demo_clip, "--json", "--model", fake)
    assert done.returncode == 2
    assert f"{fake} is not an ONNX model" in done.stderr and "Traceback" not in done.stderr


def test_model_store_import_and_list(tmp_path, default_model):
    store = tmp_path / "models"
    done = vigia("models", "import", default_model, "--store", store)
    assert done.returncode == 0, done.stderr
    assert "imported yolox_nano sha256:695e750a5d57" in done.stdout
    listed = json.loads(vigia("models", "list", "--store", store, "--json").stdout)
    assert [(m["name"], m["sha256"][:12], m["num_classes"]) for m in listed] == [("yolox_nano", "695e750a5d57", 80)]
    assert listed[0]["input_shape"] == [1, 3, 416, 416]
    refused = vigia("models", "import", __file__, "--store", store)
    assert refused.returncode == 2 and "is not an ONNX model" in refused.stderr
    assert len(json.loads(vigia("models", "list", "--store", store, "--json").stdout)) == 1


def fetch(url: str, ca=None) -> str:
    context = ssl.create_default_context(cafile=ca) if ca else None  # HTTPS: trust the appliance's own certificate
    with urllib.request.urlopen(url, timeout=5, context=context) as response:
        return response.read().decode()


def test_demo_prints_events_serves_metrics_and_stores_events(tmp_path, demo_clip, default_model):
    env = {**os.environ, "VIGIA_DATA_DIR": str(tmp_path)}
    assert vigia("models", "import", default_model, env=env).returncode == 0
    port = free_port()
    proc = subprocess.Popen(
        [sys.executable, "-m", "vigia.app.cli.main", "demo", "--clip", str(demo_clip), "--port", str(port), "--seconds", "120"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env,
    )
    try:
        metrics, health = "", {}
        deadline = time.monotonic() + 90  # seconds: generous for a loaded machine; it ends at the first event
        while time.monotonic() < deadline:
            time.sleep(1)
            try:
                metrics = fetch(f"https://127.0.0.1:{port}/metrics", tmp_path / "tls" / "cert.pem")
                health = json.loads(fetch(f"https://127.0.0.1:{port}/healthz", tmp_path / "tls" / "cert.pem"))
            except OSError:
                continue
            if 'vigia_events_total{camera="concourse",rule="centre-entry"}' in metrics:
                time.sleep(3)  # footage after the first event, for its clip below
                break
        assert health["cameras"]["concourse"]["state"] == "online"
        assert 'vigia_camera_state{camera="concourse",vigia_camera_state="online"} 1.0' in metrics
        assert 'vigia_camera_frames_total{camera="concourse"}' in metrics
        assert "vigia_inference_seconds_bucket" in metrics
        assert 'vigia_events_total{camera="concourse",rule="centre-entry"}' in metrics
    finally:
        proc.terminate()
        out, err = proc.communicate(timeout=30)
    assert proc.returncode == 0, err[-2000:]
    lines = out.splitlines()
    assert any(" open  concourse centre-entry centre person #" in line for line in lines), out[:2000]
    login = next(line for line in lines if line.startswith("web UI: "))  # the first run makes a login for the UI
    assert login.startswith(f"web UI: https://127.0.0.1:{port}/  user: demo  password: ")
    db = connect(tmp_path / "vigia.db")
    stored = db.execute("select password_hash, role from users where username = 'demo'").fetchone()
    assert stored[1] == "admin" and accounts.verify_password(login.rsplit(" ", 1)[1], stored[0])
    db.conn.close()
    db = connect(tmp_path / "vigia.db")
    events = list_events(db, limit=1000)
    assert len(events) >= 3
    closed = [e for e in events if e.end is not None and e.snapshot]
    assert closed, "closed events have snapshots"
    snapshot = tmp_path / closed[0].snapshot
    deadline = time.monotonic() + 5
    while not snapshot.exists() and time.monotonic() < deadline:
        time.sleep(0.2)
    assert snapshot.read_bytes()[:4] == b"VGM1"  # encrypted at rest by default ...
    key = (tmp_path / "keys" / "media.key").read_bytes()
    with open_media(snapshot, key) as media:
        assert media.read(3) == b"\xff\xd8\xff"  # ... and a JPEG inside
    segments = list((tmp_path / "media" / "concourse").rglob("*.mp4"))
    assert segments, "events mode recorded footage around the events"

    # The event's clip, pre-roll included, comes out as a plain MP4 any player opens.
    first = min(closed, key=lambda e: e.started_at)
    clip = tmp_path / "clip.mp4"
    done = vigia("clip", first.id, clip, env=env)
    assert done.returncode == 0, done.stderr
    probe = subprocess.run(["ffprobe", "-v", "error", "-show_entries", "format=duration:stream=codec_name,width",
                            "-of", "json", str(clip)], capture_output=True, text=True, check=True)
    info = json.loads(probe.stdout)
    assert info["streams"][0]["codec_name"] == "h264" and info["streams"][0]["width"] == 1280
    assert float(info["format"]["duration"]) >= 1.0
    db = connect(tmp_path / "vigia.db")
    clip_of = lambda: db.execute("select clip from events where id = ?", [first.id]).fetchone()[0]  # noqa: E731
    assert clip_of() is None  # its post-roll is still to come: assembled up to now, not kept yet
    kept = event_clip(tmp_path / "vigia.db", tmp_path, key, first.id, Record(post_roll=0))
    assert db.execute("select kind, state, path from recordings where id = ?", [clip_of()]).fetchone() == (
        "clip", "complete", str(kept.relative_to(tmp_path)))
    assert event_clip(tmp_path / "vigia.db", tmp_path, key, first.id, Record(post_roll=0)) == kept  # kept once
    missing = vigia("export", tmp_path / "x.mp4", "--camera", "nosuch",
                    "--from", "2020-01-01T00:00:00", "--to", "2020-01-01T00:01:00", env=env)
    assert missing.returncode == 1 and "unknown camera 'nosuch'" in missing.stderr


def test_a_new_device_without_a_config_serves_the_setup_wizard(tmp_path):
    """What vigia.service runs: no config file yet, so setup mode on every interface, not a restart loop."""
    missing = tmp_path / "config.yml"
    refused = vigia("run", "-c", missing)
    assert refused.returncode == 2 and str(missing) in refused.stderr  # without the flag: the clear error as before
    port = free_port()
    env = {**os.environ, "VIGIA_DATA_DIR": str(tmp_path)}
    proc = subprocess.Popen([sys.executable, "-m", "vigia.app.cli.main", "run", "-c", str(missing), "--setup-if-missing",
                             "--setup-port", str(port)], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)
    try:
        setup, deadline = None, time.monotonic() + 30
        while setup is None and time.monotonic() < deadline:
            time.sleep(0.5)
            try:
                setup = json.loads(fetch(f"https://127.0.0.1:{port}/api/v1/setup", tmp_path / "tls" / "cert.pem"))
            except OSError:
                continue
        assert setup is not None and setup["state"] == "unclaimed", setup
        with pytest.raises(urllib.error.HTTPError) as blocked:
            fetch(f"https://127.0.0.1:{port}/api/v1/events", tmp_path / "tls" / "cert.pem")
        assert blocked.value.code == 403  # only the wizard until the device is claimed
    finally:
        proc.terminate()
        _, err = proc.communicate(timeout=30)
    assert proc.returncode == 0, err[-2000:]
    assert f"no config file at {missing}: setup mode" in err and not missing.exists()
    assert "detector not loaded (no camera)" in err  # no model in the store yet: the wizard still serves
