"""The appliance's own software updates (vigia.appliance.software, vigia.sync.software_update, `vigia software`):
real wheels of this tree built with a bumped version, installed offline beside the running release, switched to
with a real restart of a real appliance process (`vigia demo` on the demo clip, kept running by a supervisor that
does what systemd's Restart=always does, through `<root>/current`), health-checked over its /healthz, and rolled
back when the new version does not come up healthy. Unsigned, tampered or foreign-key releases change nothing."""
from __future__ import annotations

import json
import os
import ssl
import subprocess
import sys
import sysconfig
import threading
import urllib.request
from pathlib import Path

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from support.servers import free_port
from support.waiting import wait_for

from vigia.appliance.software import COMPLETE, Layout, build_release, point_current
from vigia.central.models.signing import public_key_b64
from vigia.inference.model_signature import sign_model
from vigia.sync.identity import MODEL_SIGNING_KEY, identity_folder
from vigia.sync.model_download import sha256_of
from vigia.sync.software_update import Exchange, Request

REPO = Path(__file__).resolve().parents[1]
VIGIA = Path(sys.executable).parent / "vigia"
pytestmark = [pytest.mark.slow, pytest.mark.timeout(900)]  # real appliances started three times, on a loaded machine


def _build(source: Path, out: Path) -> Path:
    subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "--no-index", "-q",
                    "-w", str(out), str(source)], check=True, capture_output=True)
    return next(out.glob("vigia-*.whl"))


@pytest.fixture(scope="module")
def good_wheel(tmp_path_factory) -> Path:
    """This tree as Vigia 0.1.1 (its files as git sees them, the version bumped)."""
    source = tmp_path_factory.mktemp("source")
    files = subprocess.run(["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard"], cwd=REPO,
                           capture_output=True, check=True).stdout.decode().split("\0")
    for name in filter(None, files):
        if (REPO / name).is_file():
            (source / name).parent.mkdir(parents=True, exist_ok=True)
            (source / name).write_bytes((REPO / name).read_bytes())
    pyproject = source / "pyproject.toml"
    text = pyproject.read_text()
    assert '\nversion = "0.1.0"\n' in text
    pyproject.write_text(text.replace('\nversion = "0.1.0"\n', '\nversion = "0.1.1"\n'))
    return _build(source, tmp_path_factory.mktemp("good"))


@pytest.fixture(scope="module")
def broken_wheel(tmp_path_factory) -> Path:
    """A Vigia 0.1.2 whose `vigia` exits at once: it never answers /healthz."""
    source = tmp_path_factory.mktemp("broken-source")
    (source / "pyproject.toml").write_text('[build-system]\nrequires = ["setuptools"]\nbuild-backend = '
                                           '"setuptools.build_meta"\n[project]\nname = "vigia"\nversion = "0.1.2"\n'
                                           '[project.scripts]\nvigia = "vigia_broken:main"\n'
                                           '[tool.setuptools]\npy-modules = ["vigia_broken"]\n')
    (source / "vigia_broken.py").write_text("import sys\n\ndef main():\n    sys.exit('vigia 0.1.2: broken on purpose')\n")
    return _build(source, tmp_path_factory.mktemp("broken"))


class Supervisor:
    """systemd's Restart=always for the test: runs `<root>/current/bin/vigia demo ...` again whenever it exits,
    resolving `current` at each start; its pid in `pidfile` (the restart command kills it)."""

    def __init__(self, layout: Layout, args: list[str], env: dict, pidfile: Path):
        self.layout, self.args, self.env, self.pidfile = layout, args, env, pidfile
        self.stopped = threading.Event()
        self.process: subprocess.Popen | None = None
        self.thread = threading.Thread(target=self._loop, daemon=True)

    def _loop(self) -> None:
        while not self.stopped.is_set():
            self.process = subprocess.Popen([str(self.layout.current / "bin" / "vigia"), *self.args], env=self.env,
                                            cwd=self.env["VIGIA_DATA_DIR"], stdout=subprocess.DEVNULL,
                                            stderr=subprocess.DEVNULL)
            self.pidfile.write_text(str(self.process.pid))
            self.process.wait()
            self.stopped.wait(0.5)  # RestartSec

    def __enter__(self) -> Supervisor:
        self.thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self.stopped.set()
        if self.process is not None:
            self.process.terminate()
        self.thread.join(60)


@pytest.fixture()
def device(tmp_path, demo_clip, default_model):
    """An appliance whose running release (0.1.0) is this checkout's venv, its data dir, central's key."""
    layout = Layout(tmp_path / "opt")
    old = layout.releases / "0.1.0"
    (old / "bin").mkdir(parents=True)
    (old / "bin" / "vigia").symlink_to(VIGIA)
    (old / COMPLETE).write_text("0.1.0")
    layout.root.mkdir(exist_ok=True)
    point_current(layout, "0.1.0")
    data = tmp_path / "data"
    data.mkdir()
    key = Ed25519PrivateKey.generate()
    identity_folder(data).mkdir(parents=True)
    (identity_folder(data) / MODEL_SIGNING_KEY).write_text(public_key_b64(key))
    env = {**os.environ, "VIGIA_DATA_DIR": str(data)}
    subprocess.run([str(VIGIA), "models", "import", str(default_model)], env=env, cwd=data, check=True, capture_output=True)
    port = free_port()
    args = ["demo", "--clip", str(demo_clip), "--port", str(port), "--seconds", "900"]
    return {"layout": layout, "data": data, "key": key, "env": env, "port": port, "args": args}


def hand_over(device: dict, wheel: Path, command_id: int, *, signature: str | None = "sign", key=None) -> Request:
    """What the appliance leaves for the root service once central's command is downloaded (vigia.sync.commands)."""
    incoming = Exchange.under(device["data"]).incoming / str(command_id)
    incoming.mkdir(parents=True)
    copy = incoming / wheel.name
    copy.write_bytes(wheel.read_bytes())
    sha256, size = sha256_of(copy), copy.stat().st_size
    if signature == "sign":
        signature = sign_model(key or device["key"], sha256, size, purpose="software")
    request = Request(command_id, wheel.name.split("-")[1], sha256, size, signature, str(copy))
    Exchange.under(device["data"]).put_request(request)
    return request


def software(device: dict, *args: str, health_seconds: float = 240) -> subprocess.CompletedProcess:
    return subprocess.run(
        [str(VIGIA), "--log-level", "warning", "software", *args, "--root", str(device["layout"].root),
         *(["--data-dir", str(device["data"]), "--deps-from-running", "--health-seconds", str(health_seconds),
            "--health-url", f"https://127.0.0.1:{device['port']}/healthz",
            "--restart", f"sh -c 'kill -TERM $(cat {device['data'] / 'service.pid'})'"] if args[0] == "apply" else [])],
        capture_output=True, text=True, cwd=device["data"], timeout=600)


def health(device: dict) -> dict | None:
    try:
        context = ssl.create_default_context(cafile=str(device["data"] / "tls" / "cert.pem"))  # made at first start
        with urllib.request.urlopen(f"https://127.0.0.1:{device['port']}/healthz", timeout=5, context=context) as answer:
            return json.loads(answer.read())
    except (OSError, ValueError):
        return None


def serving(device: dict, version: str) -> bool:
    found = health(device)
    return bool(found) and found["version"] == version and found["cameras"].get("concourse", {}).get("state") == "online"


def supervised(device: dict) -> Supervisor:
    return Supervisor(device["layout"], device["args"], device["env"], device["data"] / "service.pid")


def test_a_signed_release_is_installed_beside_switched_to_and_passes_its_health_check(device, good_wheel):
    with supervised(device):
        assert wait_for(lambda: serving(device, "0.1.0"), 240), health(device)
        hand_over(device, good_wheel, 41)
        done = software(device, "apply")
        assert done.returncode == 0, done.stderr + done.stdout
        assert json.loads(done.stdout)["version"] == "0.1.1"
        assert serving(device, "0.1.1")  # the new process, its pipeline running (checked by the health check too)
    layout = device["layout"]
    assert os.readlink(layout.current) == "releases/0.1.1" and not layout.pending.exists()
    assert layout.installed("0.1.0") and layout.installed("0.1.1")  # the one before is kept for a roll-back
    result = json.loads((Exchange.under(device["data"]).result_file).read_text())
    assert result == {"command_id": 41, "ok": True, "version": "0.1.1", "tried": "0.1.1", "previous": "0.1.0"}
    assert not Exchange.under(device["data"]).request_file.exists()
    status = json.loads(software(device, "status").stdout)
    assert status == {"version": "0.1.1", "installed": ["0.1.0", "0.1.1"], "pending": None}


def test_a_release_that_never_becomes_healthy_is_rolled_back(device, broken_wheel):
    with supervised(device):
        assert wait_for(lambda: serving(device, "0.1.0"), 240), health(device)
        hand_over(device, broken_wheel, 42)
        done = software(device, "apply", health_seconds=15)
        assert done.returncode == 1, done.stderr + done.stdout
        result = json.loads(done.stdout)
        assert result["ok"] is False and result["version"] == "0.1.0" and result["tried"] == "0.1.2"
        assert result["error"].startswith("health check failed: https://127.0.0.1:"), result
        assert wait_for(lambda: serving(device, "0.1.0"), 240), health(device)  # the old version runs again
    layout = device["layout"]
    assert os.readlink(layout.current) == "releases/0.1.0" and not layout.pending.exists()
    assert not (layout.releases / "0.1.2").exists()
    stored = json.loads(Exchange.under(device["data"]).result_file.read_text())
    assert stored["command_id"] == 42 and stored["ok"] is False and "health check failed" in stored["error"]


@pytest.mark.parametrize("case, reason", [
    ("unsigned", "unsigned: the software carries no signature"),
    ("other key", "bad signature: not signed by central's model-signing key, or the software was altered"),
    ("tampered", "tampered: the wheel has sha256"),
    ("a model's signature", "bad signature"),
])
def test_an_unsigned_tampered_or_foreign_release_is_refused_and_nothing_changes(device, good_wheel, case, reason):
    if case == "unsigned":
        hand_over(device, good_wheel, 43, signature=None)
    elif case == "other key":
        hand_over(device, good_wheel, 43, key=Ed25519PrivateKey.generate())
    elif case == "tampered":
        request = hand_over(device, good_wheel, 43)
        data = bytearray(Path(request.wheel).read_bytes())
        data[len(data) // 2] ^= 0xFF
        Path(request.wheel).write_bytes(bytes(data))
    else:
        request = hand_over(device, good_wheel, 43, signature=None)
        signed = sign_model(device["key"], request.sha256, request.size)  # purpose "model": not valid for software
        Exchange.under(device["data"]).put_request(Request(**{**request.__dict__, "signature": signed}))
    done = software(device, "apply")
    assert done.returncode == 1, done.stderr + done.stdout
    result = json.loads(done.stdout)
    assert result["refused"] is True and result["error"].startswith(reason) and result["version"] == "0.1.0"
    layout = device["layout"]
    assert os.readlink(layout.current) == "releases/0.1.0" and not layout.pending.exists()
    assert sorted(p.name for p in layout.releases.iterdir()) == ["0.1.0"]
    assert json.loads(Exchange.under(device["data"]).result_file.read_text())["error"].startswith(reason)


def test_a_power_cut_leaves_one_working_version(device, good_wheel, tmp_path):
    layout = device["layout"]
    half = layout.releases / "0.1.1"  # cut during the build: no .complete, so not installed, built again
    (half / "bin").mkdir(parents=True)
    assert not layout.installed("0.1.1")
    assert build_release(layout, good_wheel, deps_site=Path(sysconfig.get_path("purelib"))) == "0.1.1"
    assert layout.installed("0.1.1")
    # cut during the health check: the switch was made, never confirmed; at boot the old version is back
    layout.pending.write_text(json.dumps({"version": "0.1.1", "previous": "0.1.0", "since": 0}))
    point_current(layout, "0.1.1")
    done = software(device, "boot-check")
    assert done.returncode == 0 and json.loads(done.stdout)["rolled_back"] == "0.1.1", done.stderr
    assert os.readlink(layout.current) == "releases/0.1.0" and not layout.pending.exists()
    assert subprocess.run([str(layout.current / "bin" / "vigia"), "--version"], capture_output=True, text=True,
                          cwd=tmp_path).stdout.strip() == "vigia 0.1.0"
    # nothing pending: the boot check changes nothing
    assert software(device, "boot-check").stdout.strip() == "no switch pending"
