"""`vigia central software import|list|rollout`: Vigia's own releases, signed at import, rolled out in stages like
models (`vigia central models rollout-status|resume|audit` follow them too)."""
from __future__ import annotations

import argparse
import getpass
import json
from pathlib import Path

from vigia.app.cli.central import _media_settings, _with_bucket, _with_database
from vigia.app.cli.central_models import rollout_arguments, run, run_rollout


def add_commands(central: argparse._SubParsersAction) -> argparse._SubParsersAction:
    software = central.add_parser("software", help="the appliance's own releases: signed wheels, staged rollouts"
                                  ).add_subparsers(metavar="ACTION", required=True)
    imported = _with_bucket(_with_database(software.add_parser(
        "import", help="a Vigia wheel into the registry, signed with central's signing key")), required=True)
    imported.add_argument("path", type=Path, help="vigia-VERSION-py3-none-any.whl")
    imported.add_argument("--ca-dir", type=Path, required=True, help="central's CA folder (its model-signing.key)")
    imported.add_argument("--by", default=None, help="who imports it, for the audit (default: the login name)")
    imported.set_defaults(handler=_import)
    listing = _with_database(software.add_parser("list", help="the releases and their states"))
    listing.add_argument("--json", action="store_true")
    listing.set_defaults(handler=_list)
    rollout = _with_bucket(_with_database(software.add_parser("rollout", help="roll a release out in stages")),
                           required=True)
    rollout.add_argument("version")
    rollout_arguments(rollout)
    rollout.set_defaults(handler=_rollout)
    return central


def _line(release: dict) -> str:
    return (f"{release['version']:<16} {release['state']:<11} {release['size']:>10} B  sha256 {release['sha256'][:12]}"
            f"  {release['filename']}")


def _import(args) -> int:
    from vigia.central.models.signing import load_or_create_signing_key
    from vigia.central.software.registry import import_release

    key = load_or_create_signing_key(args.ca_dir)
    release = run(args, lambda conn: import_release(conn, _media_settings(args), args.path, key,
                                                    args.by or getpass.getuser()))
    print(_line(release.as_json()))
    return 0


def _list(args) -> int:
    from vigia.central.software.registry import list_releases

    releases = [r.as_json() for r in run(args, list_releases)]
    print(json.dumps(releases) if args.json else "\n".join(_line(r) for r in releases))
    return 0


def _rollout(args) -> int:
    from vigia.central.models.rollout import start_software_rollout

    run_rollout(args, lambda conn, plan: start_software_rollout(conn, args.version, plan, args.by or getpass.getuser()))
    return 0
