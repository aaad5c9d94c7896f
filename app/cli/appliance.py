"""`vigia run|demo|analyze|export|clip|config check`: the appliance itself, its footage and its config file."""
from __future__ import annotations

import argparse
import asyncio
import json
import logging
import signal
import threading
from pathlib import Path

from vigia.app.cli.common import DATA_DIR_HELP, CliError, add_config_argument, storage_settings
from vigia.appliance.config import default_data_dir, load_config, setup_config

log = logging.getLogger("vigia")


def add_commands(commands: argparse._SubParsersAction) -> None:
    run = commands.add_parser("run", help="run the appliance with a config file")
    run.add_argument("-c", "--config", required=True, type=Path)
    run.add_argument("--setup-if-missing", action="store_true",
                     help="no config file yet (a new device): serve the setup wizard on the LAN instead of failing")
    run.add_argument("--setup-port", type=int, default=8443, help="the wizard's HTTPS port in that case")
    run.set_defaults(handler=_run)

    demo = commands.add_parser("demo", help="run the appliance on the demo clip, printing events")
    demo.add_argument("--clip", type=Path, help="video to loop (default: VIGIA_DEMO_CLIP or ../shared/media/crowd-720p.avi)")
    demo.add_argument("--data-dir", type=Path, default=None, help=f"default: {DATA_DIR_HELP}")
    demo.add_argument("--port", type=int, default=8080)
    demo.add_argument("--seconds", type=float, default=None, help="stop after this long (default: run until Ctrl-C)")
    demo.add_argument("--print-config", action="store_true", help="print the demo's config file and exit")
    demo.add_argument("--no-tls", action="store_true", help="serve plain HTTP (default: HTTPS with the device's certificate)")
    demo.set_defaults(handler=_demo)

    analyze = commands.add_parser("analyze", help="analyse a video file as fast as possible")
    analyze.add_argument("video", type=Path)
    analyze.add_argument("--json", action="store_true", help="print one JSON object (the only output format)")
    analyze.add_argument("-c", "--config", type=Path, help="zones, rules and detector from this config")
    analyze.add_argument("--camera", help="which camera of the config (default: the first)")
    analyze.add_argument("--model", help="ONNX file or model store name (overrides the config)")
    analyze.set_defaults(handler=_analyze)

    export = commands.add_parser("export", help="one camera's footage over a time window as a single MP4 (no re-encode)")
    export.add_argument("out", type=Path, help="the MP4 to write")
    export.add_argument("--camera", required=True)
    export.add_argument("--from", dest="start", required=True, type=_when,
                        help="ISO 8601 time (local unless it has an offset) or epoch seconds")
    export.add_argument("--to", dest="end", required=True, type=_when)
    export.add_argument("--redact", type=_targets, default=None, metavar="persons[,faces,plates]",
                        help="for disclosure: hide these on every frame and re-encode H.264, with a manifest of hashes "
                             "beside the file (OUT.manifest.json)")
    export.add_argument("--keep-event", action="append", default=[], metavar="EVENT_ID",
                        help="with --redact: leave the object of this event visible (repeatable)")
    export.add_argument("--by", default=None, help="who asks, for the audit log (default: the login name)")
    add_config_argument(export, "data directory, key and detector")
    export.set_defaults(handler=_export)

    clip = commands.add_parser("clip", help="an event's clip (pre- and post-roll included) as a plain MP4")
    clip.add_argument("event_id")
    clip.add_argument("out", type=Path)
    add_config_argument(clip, "data directory, key and recording settings")
    clip.set_defaults(handler=_clip)

    config = commands.add_parser("config", help="configuration files").add_subparsers(metavar="ACTION")
    check = config.add_parser("check", help="validate a config file, reporting every error with its line")
    check.add_argument("file", type=Path)
    check.set_defaults(handler=_config_check)


def _run(args) -> int:
    if args.setup_if_missing and not args.config.exists():
        config = setup_config(args.setup_port)
        log.warning("no config file at %s: setup mode, the wizard on https://<this device>:%d/ (claim code: "
                    "`vigia status`)", args.config, args.setup_port)
    else:
        config = load_config(args.config)
    return _serve(config, seconds=None, print_events=False)


def _demo(args) -> int:
    from vigia.appliance.demo import default_clip, demo_config, demo_config_text

    clip = (args.clip or default_clip()).resolve()
    data_dir = (args.data_dir or default_data_dir()).resolve()
    if args.print_config:
        print(demo_config_text(clip, data_dir, args.port), end="")
        return 0
    if not clip.is_file():
        raise CliError(f"demo clip not found: {clip} (pass --clip or set VIGIA_DEMO_CLIP)", 2)
    config = demo_config(clip, data_dir, args.port)
    if args.no_tls:
        config.http = config.http.model_copy(update={"tls": False})
    _demo_login(config)
    return _serve(config, seconds=args.seconds, print_events=True)


def _demo_login(config) -> None:
    """The demo's first run makes an admin `demo` with a random password, shown once, so the web UI can be tried."""
    import secrets

    from vigia.appliance.storage import database
    from vigia.local_ui import accounts

    scheme = "https" if config.http.tls else "http"
    url = f"{scheme}://127.0.0.1:{config.http.port}/"
    with database(config.storage.database) as db:
        if accounts.list_users(db):
            print(f"web UI: {url} (log in with an account of `vigia users list`)", flush=True)
            return
        password = secrets.token_urlsafe(12)
        accounts.add_user(db, "demo", password, "admin", actor=None, remote=None, via="demo")
    print(f"web UI: {url}  user: demo  password: {password}\n"
          "  (shown this once; `vigia users passwd demo` sets another)", flush=True)


def _serve(config, *, seconds: float | None, print_events: bool) -> int:
    from vigia.app.appliance import Appliance
    from vigia.app.serving import serve
    from vigia.appliance.sinks import ChangeSink
    from vigia.local_ui.tls import TlsError

    appliance = Appliance(config, sinks=[ChangeSink(_print_event)] if print_events else [])
    appliance.start()
    stop = threading.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, lambda *_: stop.set())
    timer = threading.Timer(seconds, stop.set) if seconds is not None else None
    if timer:
        timer.start()
    try:
        from vigia.provisioning.service import around_serving  # identity, mDNS, systemd notify/watchdog

        asyncio.run(around_serving(serve(appliance, config.http.host, config.http.port, until=stop), config, stop))
    except OSError as exc:
        raise CliError(f"cannot serve http on {config.http.host}:{config.http.port}: {exc.strerror or exc}") from None
    except TlsError as exc:
        raise CliError(str(exc)) from None
    finally:
        if timer:
            timer.cancel()
        appliance.stop()
    return 0


def _print_event(change) -> None:
    event = change.event
    if change.change == "update":
        return
    when = f"{event.start:7.2f}s" if change.change == "open" else f"{event.end:7.2f}s"
    where = f" {event.zone}" if event.zone else ""
    extra = "".join(f" {k}={v}" for k, v in event.attributes.items())
    print(f"{when} {change.change:5} {event.camera} {event.rule}{where} {event.label}"
          f"{'' if event.track_id is None else f' #{event.track_id}'} score={event.max_score:.2f}{extra}"
          f"{' ALERT' if event.alert and change.change == 'open' else ''}", flush=True)


def _analyze(args) -> int:
    from vigia.app.appliance import open_detector
    from vigia.appliance.analyze import MediaError, analysis_camera, analyze
    from vigia.appliance.config import Config, Detector

    config = load_config(args.config) if args.config else None
    camera = analysis_camera(args.video, config, args.camera)
    detector_cfg = config.detector if config else Detector()
    if args.model:
        detector_cfg = detector_cfg.model_copy(update={"model": args.model})
    base = config or Config(cameras=[camera])
    detector = open_detector(base.model_copy(update={"detector": detector_cfg}))
    try:
        result = analyze(args.video, camera, detector, detector_cfg.classes)
    except MediaError as exc:
        raise CliError(str(exc)) from None
    finally:
        detector.close()
    print(json.dumps(result.to_json(), indent=None if args.json else 2))
    return 0


def _when(text: str) -> float:
    """An ISO 8601 time (local time unless it carries an offset) or epoch seconds."""
    from datetime import datetime

    try:
        return float(text)
    except ValueError:
        pass
    try:
        return datetime.fromisoformat(text).timestamp()
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a time: {text!r} (use 2026-11-25T14:30:00 or epoch seconds)") from None


def _media_key(storage):
    """The device's media key, when the appliance has made one (its footage is encrypted)."""
    from vigia.appliance.encryption import load_or_create_key

    return load_or_create_key(storage.media_key) if storage.media_key.exists() else None


def _targets(text: str) -> frozenset[str]:
    from vigia.appliance.privacy.redact import TARGETS

    chosen = frozenset(part.strip() for part in text.split(",") if part.strip())
    if not chosen or chosen - set(TARGETS):
        raise argparse.ArgumentTypeError(f"{text!r}: a comma-separated choice of {', '.join(TARGETS)}")
    return chosen


def _export(args) -> int:
    import getpass

    from vigia.appliance.recording.export import ExportError, export
    from vigia.appliance.storage import database
    from vigia.local_ui.accounts import audit

    storage = storage_settings(args.config)
    by = args.by or getpass.getuser()
    if args.keep_event and not args.redact:
        raise CliError("--keep-event is for --redact")
    try:
        if args.redact:
            details = _export_redacted(args, storage, by)
        else:
            out = export(storage.database, storage.data_dir, _media_key(storage), args.camera, args.start, args.end,
                         args.out, _privacy_polygons(args, storage, args.camera))
            details = {"file": str(out), "from": args.start, "to": args.end}
            print(f"exported {out}")
    except ExportError as exc:
        raise CliError(str(exc)) from None
    with database(storage.database) as db:
        audit(db, "export_redacted" if args.redact else "export", username=by, target=args.camera,
              remote="cli", details=details)
    return 0


def _privacy_polygons(args, storage, name: str) -> list:
    """The camera's privacy masks (as the UI saved them, else the config file's), painted on what is exported."""
    from vigia.appliance.camera_store import privacy_polygons

    camera = next((c for c in load_config(args.config).cameras if c.name == name), None) if args.config else None
    return privacy_polygons(storage.database, camera, name)


def _export_redacted(args, storage, by: str) -> dict:
    """The disclosure export (vigia.appliance.privacy.disclosure); what the audit log keeps of it."""
    from vigia.appliance.config import Config
    from vigia.appliance.privacy.disclosure import (
        DisclosureError,
        chosen_events,
        disclosure_detector,
        export_for_disclosure,
    )
    from vigia.appliance.privacy.redact import RedactionError, RedactionSettings

    config = load_config(args.config) if args.config else Config()
    try:
        events = chosen_events(storage.database, list(args.keep_event), args.camera)
    except DisclosureError as exc:
        raise CliError(str(exc)) from None
    detector, model = disclosure_detector(config)
    try:
        made = export_for_disclosure(storage.database, storage.data_dir, _media_key(storage), args.camera,
                                     args.start, args.end, args.out, detector, RedactionSettings(targets=args.redact),
                                     events, by, model, _privacy_polygons(args, storage, args.camera))
    except RedactionError as exc:
        raise CliError(str(exc)) from None
    finally:
        detector.close()
    print(f"exported {made.video} ({made.frames} frames, {made.regions_hidden} regions hidden, "
          f"{len(made.kept_tracks)} tracks left visible, {made.seconds:.0f} s); manifest {made.manifest}")
    return {"file": str(made.video), "from": args.start, "to": args.end, "redact": sorted(args.redact),
            "kept_events": list(args.keep_event), "manifest": str(made.manifest)}


def _clip(args) -> int:
    import shutil

    from vigia.appliance.config import Record
    from vigia.appliance.encryption import open_media
    from vigia.appliance.recording.event_clips import event_clip
    from vigia.appliance.recording.export import ExportError
    from vigia.appliance.storage import database

    storage = storage_settings(args.config)
    key = _media_key(storage)
    with database(storage.database) as db:
        row = db.execute("select camera from events where id = ?", [args.event_id]).fetchone()
    if row is None:
        raise CliError(f"no event {args.event_id!r}")
    cameras = {c.name: c.record for c in load_config(args.config).cameras} if args.config else {}
    try:
        kept = event_clip(storage.database, storage.data_dir, key, args.event_id, cameras.get(row[0], Record()),
                          _privacy_polygons(args, storage, row[0]))
    except ExportError as exc:
        raise CliError(str(exc)) from None
    with open_media(kept, key) as media, open(args.out, "wb") as out:
        shutil.copyfileobj(media, out, 1 << 20)
    print(f"clip of event {args.event_id}: {args.out}")
    return 0


def _config_check(args) -> int:
    config = load_config(args.file)
    enabled = sum(c.enabled for c in config.cameras)
    print(f"{args.file}: ok ({len(config.cameras)} cameras, {enabled} enabled)")
    return 0
