"""`make demo`'s steps as a user who is not root, in a folder of their own and without VIGIA_DATA_DIR: every command
run from a checkout keeps its data in ./var, so the model the first step imports is the one the demo finds."""
from __future__ import annotations

import json
import os
import pwd
import shlex
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest
from support.servers import free_port

REPO = Path(__file__).resolve().parents[1]
USER = "vigia-demo-test"
DEMO_SECONDS = "6"



@pytest.fixture(scope="module")
def user() -> pwd.struct_passwd:
    """An unprivileged system user (made if absent): no home, no login shell."""
    try:
        return pwd.getpwnam(USER)
    except KeyError:
        subprocess.run(["useradd", "--system", "--no-create-home", "--shell", "/usr/sbin/nologin", USER], check=True)
        return pwd.getpwnam(USER)


def as_user(user: pwd.struct_passwd, argv: list[str], cwd: Path, env: dict[str, str]) -> subprocess.CompletedProcess:
    """`argv` as `user`. The venv's interpreter may live under root's home (pyenv: /root is 0700), so the user keeps
    one capability, CAP_DAC_READ_SEARCH: it reads any file, and writes only where `user` may."""
    return subprocess.run(["setpriv", f"--reuid={user.pw_uid}", f"--regid={user.pw_gid}", "--clear-groups",
                           "--inh-caps=+dac_read_search", "--ambient-caps=+dac_read_search", "--", *argv],
                          cwd=cwd, env=env, capture_output=True, text=True, timeout=120, check=False)


def demo_steps() -> list[list[str]]:
    """The commands of the Makefile's `demo` target (its `setup` prerequisite left out), with this venv's `vigia`."""
    out = subprocess.run(["make", "-s", "-n", "-o", "setup", "demo", f"BIN={Path(sys.executable).parent}"], cwd=REPO,
                         capture_output=True, text=True, check=True).stdout
    return [shlex.split(line) for line in out.splitlines() if line.strip()]


def test_every_command_from_a_checkout_keeps_its_data_in_dot_var(tmp_path, default_model):
    env = {k: v for k, v in os.environ.items() if k != "VIGIA_DATA_DIR"}

    def vigia(*args: str) -> str:
        done = subprocess.run([sys.executable, "-m", "vigia.app.cli.main", *args], cwd=tmp_path, env=env,
                              capture_output=True, text=True, timeout=60, check=False)
        assert done.returncode == 0, done.stderr[-2000:]
        return done.stdout

    vigia("models", "import", str(default_model))
    assert (tmp_path / "var" / "models").is_dir()
    assert [m["name"] for m in json.loads(vigia("models", "list", "--json"))] == ["yolox_nano"]
    assert f"data_dir: {tmp_path / 'var'}\n" in vigia("demo", "--print-config")
    vigia("sync", "status")
    vigia("users", "list")
    assert (tmp_path / "var" / "vigia.db").is_file()
    assert f"- path: {tmp_path / 'var' / 'vigia.db'}\n" in vigia("litestream", "config")


@pytest.mark.skipif(os.geteuid() != 0, reason="switching to an unprivileged user needs root (as CI runs)")
def test_make_demo_steps_as_an_unprivileged_user(user, default_model, demo_clip):
    import_model, demo = demo_steps()
    assert import_model[1:3] == ["models", "import"], import_model
    assert Path(import_model[3]).resolve() == default_model.resolve(), import_model  # ../shared may be a link
    assert demo[1:3] == ["demo", "--clip"] and Path(demo[3]).resolve() == demo_clip.resolve(), demo
    port = free_port()
    env = {k: v for k, v in os.environ.items() if k != "VIGIA_DATA_DIR"}
    folder = Path(tempfile.mkdtemp(prefix="vigia-demo-"))
    try:
        os.chown(folder, user.pw_uid, user.pw_gid)
        env["HOME"] = str(folder)
        imported = as_user(user, import_model, folder, env)
        assert imported.returncode == 0 and "Traceback" not in imported.stderr, imported.stderr[-3000:]
        assert imported.stdout.startswith("imported yolox_nano sha256:")
        store = folder / "var" / "models"
        assert store.is_dir() and store.stat().st_uid == user.pw_uid

        ran = as_user(user, [*demo, "--seconds", DEMO_SECONDS, "--port", str(port)], folder, env)
        assert ran.returncode == 0 and "Traceback" not in ran.stderr, ran.stderr[-3000:]
        assert f"web UI: https://127.0.0.1:{port}/  user: demo  password: " in ran.stdout
        assert "no model" not in ran.stderr and (folder / "var" / "vigia.db").stat().st_uid == user.pw_uid
        assert (folder / "var" / "tls" / "cert.pem").is_file()  # the device's certificate, made in the same place
    finally:
        shutil.rmtree(folder)
