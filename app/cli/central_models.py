"""`vigia central models import|list|approve|retire|rollout|rollout-status|resume|audit`: the model registry and
staged rollouts (vigia.central.models)."""
from __future__ import annotations

import argparse
import asyncio
import getpass
import json
import time
from pathlib import Path

from vigia.app.cli.central import _media_settings, _with_bucket, _with_connection, _with_database
from vigia.app.cli.common import CliError


def add_commands(central: argparse._SubParsersAction) -> argparse._SubParsersAction:
    models = central.add_parser("models", help="the model registry: signed models, staged rollouts").add_subparsers(
        metavar="ACTION", required=True)
    imported = _with_bucket(_with_database(models.add_parser("import", help="a model file into the registry (candidate)")),
                            required=True)
    imported.add_argument("path", type=Path)
    imported.add_argument("--name", help="its name (default: the file's name)")
    imported.add_argument("--lineage", type=Path, help="a JSON file: base model, dataset, hyper-parameters...")
    imported.add_argument("--metrics", type=Path, help="a JSON file of its evaluation metrics")
    imported.add_argument("--by", default=None, help="who imports it, for the audit (default: the login name)")
    imported.set_defaults(handler=_import)
    listing = _with_database(models.add_parser("list", help="the registry's models and their states"))
    listing.add_argument("--json", action="store_true")
    listing.set_defaults(handler=_list)
    for action, text in (("approve", "sign a candidate with central's model-signing key: rollouts take it"),
                         ("retire", "offer a model no more")):
        sub = _with_database(models.add_parser(action, help=text))
        sub.add_argument("model_id")
        sub.add_argument("--by", default=None, help="who does it, for the audit (default: the login name)")
        if action == "approve":
            sub.add_argument("--ca-dir", type=Path, required=True, help="central's CA folder (its model-signing.key)")
            sub.add_argument("--override", action="store_true",
                             help="approve a candidate the evaluation gate rejected (audited with the gate's reasons)")
        sub.set_defaults(handler=_approve if action == "approve" else _retire)
    rollout = _with_bucket(_with_database(models.add_parser("rollout", help="roll an approved model out in stages")),
                           required=True)
    rollout.add_argument("model_id")
    rollout_arguments(rollout)
    rollout.add_argument("--watch-s", type=float, default=300.0, help="the device's own watch of the first minutes")
    rollout.add_argument("--health-rollups", type=int, default=2, help="roll-ups under the new model before judging")
    rollout.add_argument("--min-detection-ratio", type=float, default=0.5)
    rollout.add_argument("--min-baseline-per-hour", type=float, default=10.0)
    rollout.set_defaults(handler=_rollout)
    status = _with_bucket(_with_database(models.add_parser("rollout-status", help="a rollout and its devices "
                                                           "(--step: move it on once first)")), required=False)
    status.add_argument("rollout_id", type=int)
    status.add_argument("--step", action="store_true")
    status.add_argument("--json", action="store_true")
    status.set_defaults(handler=_status)
    resumed = _with_database(models.add_parser("resume", help="run a paused rollout again"))
    resumed.add_argument("rollout_id", type=int)
    resumed.add_argument("--by", default=None)
    resumed.set_defaults(handler=_resume)
    audited = _with_database(models.add_parser("audit", help="a model's audit trail (registry, rollouts, devices)"))
    audited.add_argument("model_id")
    audited.add_argument("--json", action="store_true")
    audited.set_defaults(handler=_audit)
    return central


def rollout_arguments(rollout: argparse.ArgumentParser) -> None:
    """The devices, stages and following of a rollout (of a model, or of a release: vigia.app.cli.central_software)."""
    which = rollout.add_mutually_exclusive_group(required=True)
    which.add_argument("--devices", help="comma-separated device names")
    which.add_argument("--site", help="the devices the dashboard places at this site")
    canary = rollout.add_mutually_exclusive_group(required=True)
    canary.add_argument("--canary", help="comma-separated canary devices (first stage)")
    canary.add_argument("--canary-percent", type=float, help="this share of the devices as canaries (at least one)")
    rollout.add_argument("--wave-size", type=int, default=10)
    rollout.add_argument("--follow", action="store_true", help="move the rollout on until it is done or paused")
    rollout.add_argument("--interval", type=float, default=5.0, help="seconds between steps with --follow")
    rollout.add_argument("--timeout", type=float, default=3600.0, help="give up following after this many seconds")
    rollout.add_argument("--by", default=None)
    rollout.add_argument("--json", action="store_true")


def run_rollout(args, start, **thresholds) -> None:
    """Plan the rollout from `args`, start it with `start(conn, plan)` (its id), step it (until done or paused with
    --follow) and show it."""
    from vigia.central.models.rollout import make_plan, site_devices, step

    bucket = _media_settings(args)

    async def work(conn):
        devices = args.devices.split(",") if args.devices else await site_devices(conn, args.site)
        plan = make_plan(devices, canaries=args.canary.split(",") if args.canary else None,
                         canary_percent=args.canary_percent, wave_size=args.wave_size, **thresholds)
        rollout_id = await start(conn, plan)
        status = await step(conn, bucket, rollout_id)
        deadline = time.monotonic() + args.timeout
        while args.follow and status["state"] == "running" and time.monotonic() < deadline:
            await asyncio.sleep(args.interval)
            status = await step(conn, bucket, rollout_id)
        return status

    _show(run(args, work), args.json)


def _json_file(path: Path | None, what: str) -> dict:
    if path is None:
        return {}
    try:
        data = json.loads(path.read_text())
    except (OSError, ValueError) as exc:
        raise CliError(f"--{what}: cannot read {path}: {exc}", 2) from None
    if not isinstance(data, dict):
        raise CliError(f"--{what}: {path} must hold a JSON object", 2)
    return data


def run(args, work):
    from vigia.central.migrations import migrate
    from vigia.central.models.registry import RegistryError
    from vigia.inference.errors import ModelError

    async def migrated(conn):
        await migrate(conn)
        return await work(conn)
    try:
        return _with_connection(args, migrated)
    except (RegistryError, ModelError, ValueError) as exc:
        raise CliError(str(exc), 2) from None


def _print(record, as_json: bool) -> None:
    print(json.dumps(record, default=str) if as_json else
          f"{record['id']}  {record['state']:<11} {record['size']:>10} B  sha256 {record['sha256'][:12]}  "
          f"{'signed' if record['signature'] else 'unsigned'}")


def _import(args) -> int:
    from vigia.central.models.registry import register_model

    lineage, metrics = _json_file(args.lineage, "lineage"), _json_file(args.metrics, "metrics")
    record = run(args, lambda conn: register_model(conn, _media_settings(args), args.path, lineage, metrics,
                                                     name=args.name, actor=args.by or getpass.getuser()))
    _print(record.as_json(), False)
    return 0


def _list(args) -> int:
    from vigia.central.models.registry import list_models

    records = [m.as_json() for m in run(args, list_models)]
    if args.json:
        print(json.dumps(records, default=str))
    for record in [] if args.json else records:
        _print(record, False)
    return 0


def _approve(args) -> int:
    from vigia.central.models.registry import approve_model
    from vigia.central.models.signing import load_or_create_signing_key

    key = load_or_create_signing_key(args.ca_dir)
    _print(run(args, lambda conn: approve_model(conn, args.model_id, key, args.by or getpass.getuser(),
                                                override=args.override)).as_json(), False)
    return 0


def _retire(args) -> int:
    from vigia.central.models.registry import retire_model

    _print(run(args, lambda conn: retire_model(conn, args.model_id, args.by or getpass.getuser())).as_json(), False)
    return 0


def _rollout(args) -> int:
    from vigia.central.models.rollout import start_rollout

    run_rollout(args, lambda conn, plan: start_rollout(conn, args.model_id, plan, args.by or getpass.getuser()),
                watch_s=args.watch_s, health_rollups=args.health_rollups, min_detection_ratio=args.min_detection_ratio,
                min_baseline_per_hour=args.min_baseline_per_hour)
    return 0


def _show(status: dict, as_json: bool) -> None:
    if as_json:
        print(json.dumps(status, default=str))
        return
    what = status["model_id"] or f"release {status['software_version']}"
    print(f"rollout {status['id']} of {what}: {status['state']} (stage {status['stage']})"
          f"{'  ' + status['reason'] if status['reason'] else ''}")
    for device in status["devices"]:
        print(f"  stage {device['stage']}  {device['device_id']:<24} {device['state']:<12} {device['reason'] or ''}")


def _status(args) -> int:
    from vigia.central.models.rollout import rollout_status, step

    if args.step and not args.bucket:
        raise CliError("--step needs --bucket (the models' presigned URLs)", 2)
    _show(run(args, lambda conn: step(conn, _media_settings(args), args.rollout_id) if args.step
               else rollout_status(conn, args.rollout_id)), args.json)
    return 0


def _resume(args) -> int:
    from vigia.central.models.rollout import resume

    run(args, lambda conn: resume(conn, args.rollout_id, args.by or getpass.getuser()))
    print(f"rollout {args.rollout_id} running again: move it on with `vigia central models rollout-status"
          f" {args.rollout_id} --step`")
    return 0


def _audit(args) -> int:
    async def work(conn):
        cursor = await conn.execute("SELECT at, rollout_id, device_id, action, actor, detail FROM model_audit "
                                    "WHERE model_id = %s ORDER BY id", [args.model_id])
        return await cursor.fetchall()
    rows = run(args, work)
    if args.json:
        print(json.dumps([dict(zip(("at", "rollout", "device", "action", "actor", "detail"), r)) for r in rows], default=str))
        return 0
    for at, rollout_id, device_id, action, actor, detail in rows:
        print(f"{at:%Y-%m-%d %H:%M:%S}  {action:<18} {actor:<16} {rollout_id or '':>4} {device_id or '':<20} "
              f"{json.dumps(detail)}")
    return 0
