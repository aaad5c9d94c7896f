"""The unit files in systemd/: systemd's own checker accepts each, the appliance's sandbox rates as
well exposed as systemd measures it, and every command they run is one the `vigia` CLI accepts.

`systemd-analyze verify` insists that ExecStart's program exists, so each unit is checked as a copy whose
/usr/bin/<program> points at the program installed here (the venv's `vigia` and `litestream`); nothing
else in the copy differs.
"""
from __future__ import annotations

import os
import re
import shlex
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from vigia.app.cli import provisioning as provisioning_cli
from vigia.app.cli.main import parser

UNITS = Path(__file__).resolve().parents[1] / "systemd"
NAMES = sorted(p.name for p in UNITS.glob("*.service"))
# systemd-analyze security's exposure scale: 0 (locked down) .. 10 (unprotected). The USB watcher is
# root with the capability to mount; the others have none.
MAX_EXPOSURE = {"vigia.service": 3.0, "vigia-litestream.service": 3.0, "vigia-central.service": 3.0,
                "vigia-provision-usb.service": 3.5, "vigia-failover-watch.service": 3.0}


def exec_start(unit: Path) -> list[str]:
    return shlex.split(next(line.split("=", 1)[1] for line in unit.read_text().splitlines()
                            if line.startswith("ExecStart=")))


def local_copy(name: str, folder: Path) -> Path:
    """The unit with its /usr/bin/<program> replaced by where that program is installed on this machine."""
    text = (UNITS / name).read_text()
    program = exec_start(UNITS / name)[0]
    assert program.startswith("/usr/bin/"), f"{name}: ExecStart runs {program}, expected /usr/bin/..."
    here = shutil.which(Path(program).name, path=f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}")
    assert here, f"{name}: {Path(program).name} is not installed here (pip install -e '.[dev]')"
    copy = folder / name
    copy.write_text(text.replace(f"ExecStart={program} ", f"ExecStart={here} "))
    return copy


def analyze(*args: str) -> subprocess.CompletedProcess:
    assert shutil.which("systemd-analyze"), "systemd-analyze is missing: apt-get install systemd (make setup does)"
    return subprocess.run(["systemd-analyze", *args], capture_output=True, text=True, timeout=60, check=False)


def test_all_units_are_here():
    assert NAMES == sorted(MAX_EXPOSURE)


@pytest.mark.parametrize("name", NAMES)
def test_unit_verifies(name, tmp_path):
    out = analyze("verify", "--man=no", str(local_copy(name, tmp_path)))
    assert out.returncode == 0 and out.stdout + out.stderr == "", out.stdout + out.stderr


@pytest.mark.parametrize("name", NAMES)
def test_unit_exposure(name, tmp_path):
    out = analyze("security", "--offline=yes", str(local_copy(name, tmp_path)))
    assert out.returncode == 0, out.stderr
    score = float(re.search(rf"Overall exposure level for {re.escape(name)}: (\d+\.\d+)", out.stdout).group(1))
    assert score <= MAX_EXPOSURE[name], out.stdout


@pytest.mark.parametrize("name", [n for n in NAMES if exec_start(UNITS / n)[0] == "/usr/bin/vigia"])
def test_vigia_command_lines_parse(name, capsys):
    argv = exec_start(UNITS / name)[1:]
    args = parser().parse_args(argv)
    if hasattr(args, "target"):  # `vigia provision TARGET ...` parses the rest of its arguments itself
        provisioning_cli.provision_arguments(args)
    assert capsys.readouterr().err == ""


def test_appliance_unit_essentials():
    settings: dict[str, list[str]] = {}
    for line in (UNITS / "vigia.service").read_text().splitlines():
        if "=" in line and not line.startswith("#"):
            key, value = line.split("=", 1)
            settings.setdefault(key, []).append(value)
    assert settings["Type"] == ["notify"] and settings["Restart"] == ["always"] and settings["WatchdogSec"]
    assert settings["User"] == ["vigia"] and settings["CapabilityBoundingSet"] == [""]
    assert settings["ProtectSystem"] == ["strict"] and settings["ReadWritePaths"] == ["/var/lib/vigia"]
    assert "MALLOC_ARENA_MAX=2" in settings["Environment"][0].split()
    assert settings["RestrictAddressFamilies"] == ["AF_INET AF_INET6 AF_UNIX AF_NETLINK"]
    assert "char-video4linux rw" in settings["DeviceAllow"] and "char-nvidia* rw" in settings["DeviceAllow"]
