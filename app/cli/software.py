"""`vigia software apply|boot-check|status`: the appliance's own releases (vigia.appliance.software), run as root by
vigia-software.service (when the appliance leaves a request) and vigia-software-boot.service (at boot)."""
from __future__ import annotations

import argparse
import json
import shlex
import subprocess
import sys
import sysconfig
from pathlib import Path

from vigia.app.cli.common import CliError

DATA_DIR = Path("/var/lib/vigia")
ROOT = Path("/opt/vigia")


def add_commands(commands: argparse._SubParsersAction) -> None:
    software = commands.add_parser("software", help="this appliance's own software releases").add_subparsers(
        metavar="ACTION")
    applied = software.add_parser("apply", help="install the release the appliance was sent, switch to it, check "
                                                "its health, roll back on failure")
    _root(applied)
    applied.add_argument("--data-dir", type=Path, default=DATA_DIR, help=f"the appliance's data (default {DATA_DIR})")
    applied.add_argument("--restart", default="systemctl restart vigia.service",
                         help="the command line that restarts the appliance (default: %(default)s)")
    applied.add_argument("--health-url", default="https://127.0.0.1:8080/healthz", help="default: %(default)s")
    applied.add_argument("--health-ca", type=Path, help="the appliance's certificate (default <data dir>/tls/cert.pem)")
    applied.add_argument("--health-seconds", type=float, default=120.0,
                         help="how long the new version has to answer healthy (default %(default)s)")
    applied.add_argument("--deps-from-running", action="store_true",
                         help="the release takes its dependencies from the running release's site-packages")
    applied.set_defaults(handler=_apply)
    boot = software.add_parser("boot-check", help="at boot: roll back a switch that never became healthy")
    _root(boot)
    boot.set_defaults(handler=_boot_check)
    status = software.add_parser("status", help="the release running, the releases installed, a switch pending")
    _root(status)
    status.set_defaults(handler=_status)


def _root(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--root", type=Path, default=ROOT, help=f"where the releases live (default {ROOT})")


def _apply(args) -> int:
    from vigia.appliance.software import Layout, health_probe, online_cameras
    from vigia.sync.identity import MODEL_SIGNING_KEY, identity_folder
    from vigia.sync.software_update import Exchange, apply_request

    key = identity_folder(args.data_dir) / MODEL_SIGNING_KEY
    if not key.exists():
        raise CliError(f"{key} is missing: the appliance is not enrolled with central", 2)
    cafile = args.health_ca or args.data_dir / "tls" / "cert.pem"
    cameras = online_cameras(args.health_url, cafile)  # the cameras the new version must bring back online

    def restart() -> None:
        done = subprocess.run(shlex.split(args.restart), capture_output=True, text=True)
        if done.returncode != 0:
            print(f"vigia: {args.restart} failed: {done.stderr.strip()}", file=sys.stderr)

    result = apply_request(Exchange.under(args.data_dir), Layout(args.root), key.read_text().strip(), restart,
                           lambda version: health_probe(args.health_url, version, cameras, cafile), args.health_seconds,
                           Path(sysconfig.get_path("purelib")) if args.deps_from_running else None)
    if result is None:
        print("no software request pending")
        return 0
    print(json.dumps(result))
    return 0 if result["ok"] else 1


def _boot_check(args) -> int:
    from vigia.appliance.software import Layout, boot_check

    done = boot_check(Layout(args.root))
    print(json.dumps(done) if done else "no switch pending")
    return 0


def _status(args) -> int:
    from vigia.appliance.software import Layout, read_pending

    layout = Layout(args.root)
    installed = sorted(p.name for p in layout.releases.iterdir() if layout.installed(p.name)) \
        if layout.releases.is_dir() else []
    print(json.dumps({"version": layout.version(), "installed": installed, "pending": read_pending(layout)}))
    return 0
