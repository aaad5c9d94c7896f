"""`vigia central hold add|list|release` and `vigia central retention run`: legal holds and retention at central
(vigia.central.holds, vigia.central.retention)."""
from __future__ import annotations

import argparse
import getpass
import json
import os

from vigia.app.cli.central import _media_settings, _with_bucket, _with_connection, _with_database
from vigia.app.cli.common import CliError

DAYS_ENV, BUCKET_ENV, S3_ENDPOINT_ENV = "VIGIA_CENTRAL_RETENTION_DAYS", "VIGIA_CENTRAL_BUCKET", "VIGIA_CENTRAL_S3_ENDPOINT"
DEFAULT_DAYS = 365


def add_commands(central: argparse._SubParsersAction) -> None:
    hold = central.add_parser("hold", help="legal holds: rows and objects kept past retention (audited)").add_subparsers(
        metavar="ACTION", required=True)
    add = _with_storage(hold.add_parser("add", help="hold a device's, a site's or an event's rows and objects"))
    add.add_argument("scope", choices=("device", "site", "event"))
    add.add_argument("target", help="the device's name at central, the dashboard's site, or the event id")
    add.add_argument("--reason", required=True, help="why (a case number, a request), kept with the hold")
    add.add_argument("--by", default=None, help="who places it, for the audit (default: the login name)")
    add.set_defaults(handler=_hold_add)
    listing = _with_database(hold.add_parser("list", help="the active holds (--all: released ones too)"))
    listing.add_argument("--all", action="store_true")
    listing.add_argument("--json", action="store_true")
    listing.set_defaults(handler=_hold_list)
    release = _with_storage(hold.add_parser("release", help="end a hold: its rows and objects go as the others do"))
    release.add_argument("hold_id", type=int)
    release.add_argument("--reason", default="", help="why, for the audit")
    release.add_argument("--by", default=None, help="who releases it, for the audit (default: the login name)")
    release.set_defaults(handler=_hold_release)

    retention = central.add_parser("retention", help="drop what is older than the retention days").add_subparsers(
        metavar="ACTION", required=True)
    run = _with_storage(retention.add_parser("run", help="one retention run; prints what went"))
    run.add_argument("--days", type=int, default=int(os.environ.get(DAYS_ENV, DEFAULT_DAYS)),
                     help=f"keep this many days (default: ${DAYS_ENV}, else {DEFAULT_DAYS})")
    run.add_argument("--json", action="store_true")
    run.set_defaults(handler=_retention_run)


def _with_storage(parser: argparse.ArgumentParser) -> argparse.ArgumentParser:
    """Database and (optional) bucket; the bucket defaults from the environment, as the timer's unit gives it."""
    _with_bucket(_with_database(parser), required=False)
    parser.set_defaults(bucket=os.environ.get(BUCKET_ENV), s3_endpoint=os.environ.get(S3_ENDPOINT_ENV))
    return parser


def _store(args):
    from vigia.central.ingest.media import MediaStore

    settings = _media_settings(args)
    return None if settings is None else MediaStore(settings)


def _hold_add(args) -> int:
    from vigia.central.holds import HoldError, place, tag_held_objects
    from vigia.central.migrations import migrate

    store = _store(args)

    async def work(conn):
        await migrate(conn)
        hold = await place(conn, args.scope, args.target, args.reason, args.by or getpass.getuser())
        return hold, (await tag_held_objects(conn, store) if store else None)

    try:
        hold, tagging = _with_connection(args, work)
    except HoldError as exc:
        raise CliError(str(exc), 2) from None
    print(f"legal hold {hold.id} on {hold.scope} {hold.target} ({hold.reason})")
    print(f"objects tagged as held: {tagging.held}" if tagging else
          "objects not tagged (no --bucket): the next retention run with the bucket tags them")
    return 0


def _hold_release(args) -> int:
    from vigia.central.holds import HoldError, release, tag_held_objects

    store = _store(args)

    async def work(conn):
        hold = await release(conn, args.hold_id, args.by or getpass.getuser(), args.reason)
        return hold, (await tag_held_objects(conn, store) if store else None)

    try:
        hold, tagging = _with_connection(args, work)
    except HoldError as exc:
        raise CliError(str(exc), 2) from None
    print(f"legal hold {hold.id} on {hold.scope} {hold.target} released")
    print(f"objects given back to the lifecycle: {tagging.released}" if tagging else
          "objects not tagged back (no --bucket): the next retention run with the bucket does it")
    return 0


def _hold_list(args) -> int:
    from dataclasses import asdict

    from vigia.central.holds import holds
    from vigia.central.migrations import migrate

    async def work(conn):
        await migrate(conn)
        return await holds(conn, args.all)

    rows = _with_connection(args, work)
    if args.json:
        print(json.dumps([asdict(h) for h in rows], default=str))
        return 0
    for h in rows:
        state = f"released {h.released_at:%Y-%m-%d %H:%M} by {h.released_by}" if h.released_at else "active"
        print(f"{h.id:>5}  {h.scope:<6} {h.target}  {h.created_at:%Y-%m-%d %H:%M} by {h.created_by}  {state}  {h.reason}")
    return 0


def _retention_run(args) -> int:
    from vigia.central.migrations import migrate
    from vigia.central.retention import RetentionError, run_retention

    store = _store(args)

    async def work(conn):
        await migrate(conn)
        return await run_retention(conn, args.days, store)

    try:
        report = _with_connection(args, work)
    except RetentionError as exc:
        raise CliError(str(exc), 2) from None
    print(json.dumps(report.to_json()) if args.json else "\n".join(report.lines()))
    return 0
