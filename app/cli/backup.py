"""`vigia central backup config|status|run` and `vigia central restore`: central's PostgreSQL backups with
pgBackRest (two encrypted S3 repositories, WAL archived continuously) and point-in-time recovery into a new
cluster."""
from __future__ import annotations

import argparse
import datetime as dt
import json
import os
from pathlib import Path

from vigia.app.cli.common import CliError

PGBACKREST_CONFIG = Path("/etc/pgbackrest/pgbackrest.conf")
STATE_DIR = Path("/var/lib/vigia-backup")
DSN_ENV = "VIGIA_CENTRAL_DATABASE"


def add_commands(central: argparse._SubParsersAction) -> None:
    backup = central.add_parser("backup", help="central database backups (pgBackRest): config, status, run"
                                ).add_subparsers(metavar="ACTION", dest="action", required=True)

    config = backup.add_parser("config", help="write pgbackrest.conf (owner-only) from a settings file")
    config.add_argument("--settings", type=Path, required=True, help="YAML: pg_path, repos, ...")
    config.add_argument("--out", type=Path, default=PGBACKREST_CONFIG)
    config.set_defaults(handler=_config)

    status = _with_pgbackrest(backup.add_parser("status", help="last backups and WAL per repository; exit 1 unless healthy"))
    status.add_argument("--database", default=os.environ.get(DSN_ENV),
                        help=f"central's database, for the WAL archiver's state (default: ${DSN_ENV})")
    status.add_argument("--json", action="store_true")
    status.add_argument("--save", action="store_true",
                        help="also write it to <state dir>/status.json, which central's /metrics reads (`central serve "
                             "--backup-state DIR`)")
    status.set_defaults(handler=_status)

    run = _with_pgbackrest(backup.add_parser("run", help="a backup into every repository (or those named)"))
    run.add_argument("--type", choices=("full", "diff", "incr"), required=True)
    run.add_argument("--repo", type=int, action="append", help="only this repository (repeatable)")
    run.set_defaults(handler=_run)

    restore = _with_pgbackrest(central.add_parser(
        "restore", help="point-in-time recovery into a NEW cluster (data directory, port); counts its tables"))
    restore.add_argument("--time", required=True, help="ISO 8601 with a time zone, e.g. 2026-12-03T13:37:00+00:00")
    restore.add_argument("--to", type=Path, required=True, help="the new data directory (absent or empty)")
    restore.add_argument("--port", type=int, required=True)
    restore.add_argument("--repo", type=int, help="restore from this repository (default: the first that has it)")
    restore.add_argument("--database", default="vigia", help="the database whose tables are counted (default vigia)")
    restore.add_argument("--stop", action="store_true", help="stop the restored cluster after the check")
    restore.add_argument("--json", action="store_true")
    restore.set_defaults(handler=_restore)


def _with_pgbackrest(parser: argparse.ArgumentParser) -> argparse.ArgumentParser:
    parser.add_argument("--pgbackrest-config", type=Path, default=PGBACKREST_CONFIG)
    parser.add_argument("--stanza", default="vigia")
    parser.add_argument("--run-as", default="postgres",
                        help="when root, run pgbackrest and the restored cluster as this user (default postgres)")
    parser.add_argument("--state-dir", type=Path, default=STATE_DIR, help="where failed runs are tallied")
    return parser


def _pgbackrest(args):
    from vigia.central.backup.pgbackrest import PgBackRest

    return PgBackRest(args.pgbackrest_config, args.stanza, args.run_as)


def _repos(args) -> list[int]:
    from vigia.central.backup.config import BackupConfigError, repo_numbers

    try:
        return repo_numbers(args.pgbackrest_config)
    except BackupConfigError as exc:
        raise CliError(str(exc), 2) from None


def _config(args) -> int:
    from vigia.central.backup.config import BackupConfigError, archive_command, load_settings, write_config

    try:
        settings = load_settings(args.settings)
        write_config(settings, args.out)
    except BackupConfigError as exc:
        raise CliError(str(exc), 2) from None
    print(f"{args.out} written ({len(settings.repos)} repositories, readable by its owner only); in postgresql.conf:")
    print(f"archive_mode = on\narchive_command = '{archive_command(args.out.resolve(), settings.stanza)}'")
    return 0


def read_status(args):
    """The backup status (pgBackRest's info, and the archiver's when a database is given)."""
    import psycopg

    from vigia.central.backup.pgbackrest import PgBackRestError
    from vigia.central.backup.status import parse_info, read_archiver

    repos = _repos(args)
    try:
        info = _pgbackrest(args).info()
    except PgBackRestError as exc:
        raise CliError(str(exc)) from None
    archiver = None
    if args.database:
        try:
            with psycopg.connect(args.database) as conn:
                archiver = read_archiver(conn)
        except psycopg.Error as exc:
            raise CliError(f"database: {exc}") from None
    return parse_info(info, len(repos), dt.datetime.now(dt.timezone.utc), archiver)


def _status(args) -> int:
    from vigia.central.backup.runs import read_tally

    status = read_status(args)
    tally = read_tally(args.state_dir / "tally.json")
    report = status.to_json()
    for repo in report["repos"]:
        repo["failed_runs"] = tally.failures.get(repo["repo"], 0)
        repo["last_run_error"] = tally.last_error.get(repo["repo"])
    if args.save:  # world-readable: central's ingest (another user) serves it on /metrics; it holds no secret
        args.state_dir.mkdir(parents=True, exist_ok=True)
        saved = args.state_dir / "status.json"
        saved.with_suffix(".tmp").write_text(json.dumps(report))
        saved.with_suffix(".tmp").chmod(0o644)
        saved.with_suffix(".tmp").replace(saved)
    if args.json:
        print(json.dumps(report, indent=2))
    else:
        print(f"stanza {status.stanza or args.stanza}: {'healthy' if status.healthy else 'NOT HEALTHY'}")
        for repo in report["repos"]:
            ages = ", ".join(f"{k} {_age(s)}" for k, s in repo["age_s"].items() if s is not None) or "none"
            print(f"repo{repo['repo']}: {repo['message']} ({'reachable' if repo['reachable'] else 'UNREACHABLE'});"
                  f" {repo['backups']} backups, last: {ages}; WAL {repo['wal'][0]}..{repo['wal'][1]};"
                  f" failed runs {repo['failed_runs']}")
        if "archiver" in report:
            a = report["archiver"]
            print(f"WAL archiver: last {a['last_archived_wal']} at {a['last_archived_time']};"
                  f" {a['failed_count']} failures{' (FAILING now)' if a['failing'] else ''}")
    return 0 if status.healthy else 1


def _age(seconds: float) -> str:
    return f"{seconds / 3600:.1f} h ago" if seconds >= 3600 else f"{seconds / 60:.0f} min ago"


def _run(args) -> int:
    from vigia.central.backup.runs import run_backups

    repos = args.repo or _repos(args)
    results = run_backups(_pgbackrest(args), args.type, repos, args.state_dir / "tally.json")
    for r in results:
        print(f"repo{r.repo}: {args.type} backup {'done' if r.ok else 'FAILED: ' + (r.error or '')}")
    return 0 if all(r.ok for r in results) else 1


def _restore(args) -> int:
    from vigia.central.backup.pgbackrest import PgBackRestError
    from vigia.central.backup.restore import restore_to_time

    try:
        target = dt.datetime.fromisoformat(args.time)
    except ValueError:
        raise CliError(f"--time {args.time!r}: not an ISO 8601 time", 2) from None
    try:
        result = restore_to_time(_pgbackrest(args), target, args.to.resolve(), args.port, args.database, args.repo,
                                 keep_running=not args.stop)
    except (ValueError, PgBackRestError, RuntimeError, TimeoutError) as exc:
        raise CliError(str(exc), 2 if isinstance(exc, ValueError) else 1) from None
    state = "stopped" if args.stop else f"running on port {args.port}"
    if args.json:
        print(json.dumps({"target": target.isoformat(), "data_dir": str(args.to), "port": args.port,
                          "running": not args.stop, "counts": result.counts}))
    else:
        print(f"restored to {target.isoformat()} in {args.to}, {state}; rows per table in {args.database}:")
        for table, rows in result.counts.items():
            print(f"  {table}: {rows}")
    return 0
