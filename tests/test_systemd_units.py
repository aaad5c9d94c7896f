"""The unit files in systemd/: systemd's own checker accepts each, the appliance's sandbox rates as
well exposed as systemd measures it, and every command they run is one the `vigia` CLI accepts.

`systemd-analyze verify` insists that ExecStart's program exists, so each unit is checked as a copy whose
/usr/bin/<program> points at the program installed here (the venv's `vigia` and `litestream`); nothing
else in the copy differs.
"""
from __future__ import annotations

import datetime as dt
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
                "vigia-central-dashboard.service": 3.0, "vigia-central-worker@.service": 3.0,
                "vigia-central-retention.service": 3.0, "vigia-central-alerts.service": 3.0,
                "vigia-provision-usb.service": 3.5,
                "vigia-backup-full.service": 2.0, "vigia-backup-incr.service": 2.0,
                "vigia-failover-watch.service": 3.0, "vigia-central-api@.service": 3.0,
                "vigia-software.service": 2.5, "vigia-software-boot.service": 2.5}
# Central's long-running services, each with a unit (the worker's a template: any number of instances).
CENTRAL_SERVICES = {"serve": "vigia-central.service", "dashboard": "vigia-central-dashboard.service",
                    "worker": "vigia-central-worker@.service", "api": "vigia-central-api@.service",
                    "alerts-watch": "vigia-central-alerts.service"}
TIMERS = sorted(p.name for p in UNITS.glob("*.timer"))


def exec_start(unit: Path) -> list[str]:
    return shlex.split(next(line.split("=", 1)[1] for line in unit.read_text().splitlines()
                            if line.startswith("ExecStart=")))


def local_copy(name: str, folder: Path) -> Path:
    """The unit with its /usr/bin/<program> replaced by where that program is installed on this machine; a
    template (name@.service) as its instance name@1.service, which systemd-analyze security needs."""
    text = (UNITS / name).read_text()
    program = exec_start(UNITS / name)[0]
    assert program.startswith("/usr/bin/"), f"{name}: ExecStart runs {program}, expected /usr/bin/..."
    here = shutil.which(Path(program).name, path=f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}")
    assert here, f"{name}: {Path(program).name} is not installed here (pip install -e '.[dev]')"
    copy = folder / name.replace("@.service", "@1.service")
    copy.write_text(text.replace(f"ExecStart={program} ", f"ExecStart={here} "))
    return copy


def analyze(*args: str) -> subprocess.CompletedProcess:
    assert shutil.which("systemd-analyze"), "systemd-analyze is missing: apt-get install systemd (make setup does)"
    return subprocess.run(["systemd-analyze", *args], capture_output=True, text=True, timeout=60, check=False)


def settings_of(name: str) -> dict[str, list[str]]:
    settings: dict[str, list[str]] = {}
    for line in (UNITS / name).read_text().splitlines():
        if "=" in line and not line.startswith("#"):
            key, value = line.split("=", 1)
            settings.setdefault(key, []).append(value)
    return settings


def test_all_units_are_here():
    assert NAMES == sorted(MAX_EXPOSURE)


@pytest.mark.parametrize("name", NAMES)
def test_unit_verifies(name, tmp_path):
    out = analyze("verify", "--man=no", str(local_copy(name, tmp_path)))
    assert out.returncode == 0 and out.stdout + out.stderr == "", out.stdout + out.stderr


@pytest.mark.parametrize("name", NAMES)
def test_unit_exposure(name, tmp_path):
    copy = local_copy(name, tmp_path)
    out = analyze("security", "--offline=yes", str(copy))
    assert out.returncode == 0, out.stderr
    score = float(re.search(rf"Overall exposure level for {re.escape(copy.name)}: (\d+\.\d+)", out.stdout).group(1))
    assert score <= MAX_EXPOSURE[name], out.stdout


@pytest.mark.parametrize("name", [n for n in NAMES if exec_start(UNITS / n)[0] == "/usr/bin/vigia"])
def test_vigia_command_lines_parse(name, capsys):
    argv = [arg.replace("%i", "1") for arg in exec_start(UNITS / name)[1:]]  # a template's instance: @1
    args = parser().parse_args(argv)
    if hasattr(args, "target"):  # `vigia provision TARGET ...` parses the rest of its arguments itself
        provisioning_cli.provision_arguments(args)
    assert capsys.readouterr().err == ""


def test_appliance_unit_essentials():
    settings = settings_of("vigia.service")
    assert settings["Type"] == ["notify"] and settings["Restart"] == ["always"] and settings["WatchdogSec"]
    assert settings["User"] == ["vigia"] and settings["CapabilityBoundingSet"] == [""]
    assert settings["ProtectSystem"] == ["strict"] and settings["ReadWritePaths"] == ["/var/lib/vigia"]
    assert "MALLOC_ARENA_MAX=2" in settings["Environment"][0].split()
    assert settings["RestrictAddressFamilies"] == ["AF_INET AF_INET6 AF_UNIX AF_NETLINK"]
    assert "char-video4linux rw" in settings["DeviceAllow"] and "char-nvidia* rw" in settings["DeviceAllow"]


def test_every_central_service_has_a_unit():
    for action, name in CENTRAL_SERVICES.items():
        assert exec_start(UNITS / name)[1:3] == ["central", action], name


@pytest.mark.parametrize("name", sorted(CENTRAL_SERVICES.values()))
def test_central_units_keep_secrets_off_the_command_line(name):
    settings = settings_of(name)
    assert settings["EnvironmentFile"] == ["/etc/vigia/central.env"], name
    assert not re.search(r"://|--database|--broker|password", settings["ExecStart"][0], re.IGNORECASE), name
    assert settings["DynamicUser"] == ["yes"] and settings["CapabilityBoundingSet"] == [""], name
    assert settings["ProtectSystem"] == ["strict"] and settings["NoNewPrivileges"] == ["yes"], name


def test_worker_instances_share_one_user_and_reach_only_the_gpu():
    settings = settings_of("vigia-central-worker@.service")
    assert settings["User"] == ["vigia-central-worker"]  # one dynamic user for every instance: one model store
    assert "--models-dir /var/lib/vigia-central-worker/models" in settings["ExecStart"][0]
    assert settings["StateDirectory"] == ["vigia-central-worker"]
    assert settings["DevicePolicy"] == ["closed"] and all(d.startswith("char-nvidia") for d in settings["DeviceAllow"])


@pytest.mark.parametrize("name", TIMERS)
def test_timer_verifies_with_its_service(name, tmp_path):
    timer = (UNITS / name).read_text()
    service = next((line.split("=", 1)[1] for line in timer.splitlines() if line.startswith("Unit=")),
                   name.replace(".timer", ".service"))  # systemd's default: the service of the timer's name
    (tmp_path / name).write_text(timer)
    out = analyze("verify", "--man=no", str(local_copy(service, tmp_path)), str(tmp_path / name))
    assert out.returncode == 0 and out.stdout + out.stderr == "", out.stdout + out.stderr
    assert "OnCalendar=" in timer and "Persistent=true" in timer


def test_backup_timers_full_daily_incremental_hourly():
    """systemd's own reading of the timers: the next two runs are a day apart (full), an hour apart (incremental)."""
    for name, period in (("vigia-backup-full.timer", 86400), ("vigia-backup-incr.timer", 3600)):
        calendar = next(line.split("=", 1)[1] for line in (UNITS / name).read_text().splitlines()
                        if line.startswith("OnCalendar="))
        out = analyze("calendar", "--iterations=2", calendar)
        assert out.returncode == 0, out.stderr
        runs = [dt.datetime.strptime(line.split(": ", 1)[1].strip()[4:23], "%Y-%m-%d %H:%M:%S")
                for line in out.stdout.splitlines() if line.strip().startswith(("Next elapse:", "Iter. #2:"))]
        assert len(runs) == 2 and (runs[1] - runs[0]).total_seconds() == period, out.stdout
