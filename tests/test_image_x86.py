"""The x86 device image: `images/x86/build.sh` builds a Debian root filesystem from scratch (debootstrap from
this machine's apt mirror, wheels from its pip indexes), then the image is booted as far as a chroot goes:
Vigia runs, systemd accepts its units against the image's own files, and the first-boot unit's command,
run as its unit runs it, makes the device identity.

A clean build takes under 2 minutes here (two cores) and ~1.3 GB in the test's temporary folder, removed
after; nothing is cached between runs. Needs root, debootstrap and the built web UI (`make setup`).
"""
from __future__ import annotations

import json
import os
import re
import shlex
import shutil
import stat
import subprocess
import sys
import time
from importlib.metadata import version
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
BUILD = REPO / "images" / "x86" / "build.sh"
UNITS = ["vigia.service", "vigia-litestream.service", "vigia-provision-usb.service", "vigia-setup.service"]
CLAIM_CODE = re.compile(r"^claim code ([2-9A-HJ-NP-Z]{4}-[2-9A-HJ-NP-Z]{4}-[2-9A-HJ-NP-Z]{4})$", re.MULTILINE)

pytestmark = [pytest.mark.slow, pytest.mark.timeout(900)]


@pytest.fixture(scope="module")
def image(tmp_path_factory):
    """The output folder of one clean build (rootfs/ and the .tar.zst), removed after the module."""
    assert os.geteuid() == 0, "the image build needs root (debootstrap, chroot)"
    out = tmp_path_factory.mktemp("image") / "out"
    started = time.monotonic()
    built = subprocess.run(["bash", str(BUILD), str(out), "--tar"], capture_output=True, text=True, timeout=840,
                           env={**os.environ, "PYTHON": sys.executable}, check=False)
    print(f"image built in {time.monotonic() - started:.0f} s")
    try:
        assert built.returncode == 0, built.stderr[-4000:]
        yield out
    finally:
        shutil.rmtree(out, ignore_errors=True)


def in_root(root: Path, *argv: str, user: str | None = None, env: dict[str, str] | None = None,
            ) -> subprocess.CompletedProcess:
    """Run `argv` in the image: own mount and PID namespaces with /proc, a clean environment, as `user`."""
    userspec = ["--userspec={}:{}".format(*ids(root, user))] if user else []
    environment = [f"{k}={v}" for k, v in {"PATH": "/usr/sbin:/usr/bin:/sbin:/bin", **(env or {})}.items()]
    return subprocess.run(["unshare", "--mount", "--pid", "--fork", f"--mount-proc={root}/proc", "chroot",
                           *userspec, str(root), "/usr/bin/env", "-i", *environment, *argv],
                          capture_output=True, text=True, timeout=120, check=False)


def ids(root: Path, user: str) -> tuple[int, int]:
    """The user's uid and gid in the image."""
    entry = next(line.split(":") for line in (root / "etc/passwd").read_text().splitlines()
                 if line.split(":")[0] == user)
    return int(entry[2]), int(entry[3])


def unit_settings(path: Path) -> dict[str, str]:
    """The unit file's `Key=value` lines (the last one wins, enough for the keys read here)."""
    return dict(line.split("=", 1) for line in path.read_text().splitlines() if re.match(r"^[A-Za-z]+=", line))


def test_vigia_runs_in_the_image(image):
    root = image / "rootfs"
    out = in_root(root, "/usr/bin/vigia", "--version")
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == f"vigia {version('vigia')}"
    site = next((root / "opt/vigia/venv/lib").glob("python3.*/site-packages"))
    assert (site / "vigia/local_ui/web/dist/index.html").is_file(), "the wheel lacks the web UI"
    models = in_root(root, "/usr/bin/vigia", "models", "list", "--json", "--store", "/var/lib/vigia/models")
    assert models.returncode == 0 and [m["name"] for m in json.loads(models.stdout)] == ["yolox_nano"], models.stderr
    litestream = in_root(root, "/usr/bin/litestream", "version")
    assert litestream.returncode == 0 and re.match(r"v?0\.5\.", litestream.stdout), litestream.stdout + litestream.stderr


def test_units_verify_against_the_image(image):
    root = image / "rootfs"
    out = subprocess.run(["systemd-analyze", "verify", "--man=no", f"--root={root}", *UNITS],
                         capture_output=True, text=True, timeout=60, check=False)
    assert out.returncode == 0 and out.stdout + out.stderr == "", out.stdout + out.stderr
    wants = root / "etc/systemd/system/multi-user.target.wants"
    assert {p.name for p in wants.iterdir()} >= {*UNITS, "systemd-networkd.service"}
    assert (root / "etc/machine-id").read_text() == "", "the image must not carry a machine id"


def test_first_boot_unit_makes_the_identity(image):
    root = image / "rootfs"
    unit = unit_settings(root / "etc/systemd/system/vigia-setup.service")
    env = dict(pair.split("=", 1) for pair in shlex.split(unit["Environment"]))
    data_dir = root / env["VIGIA_DATA_DIR"].lstrip("/")
    assert not (data_dir / "identity").exists()

    first = in_root(root, *shlex.split(unit["ExecStart"]), user=unit["User"], env=env)
    assert first.returncode == 0, first.stderr
    code = CLAIM_CODE.search(first.stdout)
    assert code, first.stdout
    key = data_dir / "identity/device.key"
    assert key.stat().st_uid == ids(root, unit["User"])[0] and stat.S_IMODE(key.stat().st_mode) == 0o600

    again = in_root(root, *shlex.split(unit["ExecStart"]), user=unit["User"], env=env)
    assert again.returncode == 0 and again.stdout == first.stdout, "the identity changed at the second boot"


def test_tarball_holds_the_root_filesystem(image):
    tarball = image / f"vigia-x86-{version('vigia')}.tar.zst"
    listing = subprocess.run(f"zstd -dc {shlex.quote(str(tarball))} | tar -t", shell=True, capture_output=True,
                             text=True, timeout=300, check=True).stdout.splitlines()
    assert {"./usr/bin/vigia", "./opt/vigia/venv/bin/vigia", "./etc/systemd/system/vigia-setup.service",
            "./var/lib/vigia/"} <= set(listing)
