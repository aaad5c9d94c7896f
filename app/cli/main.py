"""The `vigia` command."""
from __future__ import annotations

import argparse
import asyncio
import json
import logging
import signal
import sys
import threading
from importlib.metadata import version
from pathlib import Path

from vigia.appliance.config import ConfigError, load_config, setup_config
from vigia.inference.errors import BackendUnavailable, ModelError

log = logging.getLogger("vigia")


def main(argv: list[str] | None = None) -> int:
    parser = _parser()
    args = parser.parse_args(argv)
    logging.basicConfig(
        level=getattr(logging, args.log_level.upper()),
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
        stream=sys.stderr,
    )
    if not hasattr(args, "handler"):
        parser.print_help()
        return 2
    try:
        return args.handler(args) or 0
    except ConfigError as exc:
        print(exc.report(), file=sys.stderr)
        return 2
    except (ModelError, BackendUnavailable) as exc:
        print(f"vigia: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="vigia", description="Edge video analytics appliance.")
    parser.add_argument("--version", action="version", version=f"vigia {version('vigia')}")
    parser.add_argument("--log-level", default="info", choices=["debug", "info", "warning", "error"])
    commands = parser.add_subparsers(metavar="COMMAND")

    run = commands.add_parser("run", help="run the appliance with a config file")
    run.add_argument("-c", "--config", required=True, type=Path)
    run.add_argument("--setup-if-missing", action="store_true",
                     help="no config file yet (a new device): serve the setup wizard on the LAN instead of failing")
    run.add_argument("--setup-port", type=int, default=8443, help="the wizard's HTTPS port in that case")
    run.set_defaults(handler=_run)

    demo = commands.add_parser("demo", help="run the appliance on the demo clip, printing events")
    demo.add_argument("--clip", type=Path, help="video to loop (default: VIGIA_DEMO_CLIP or ../shared/media/crowd-720p.avi)")
    demo.add_argument("--data-dir", type=Path, default=None, help="default: VIGIA_DATA_DIR or ./var")
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
    export.add_argument("-c", "--config", type=Path,
                        help="the appliance's config (data directory and key); default: VIGIA_DATA_DIR")
    export.set_defaults(handler=_export)

    clip = commands.add_parser("clip", help="an event's clip (pre- and post-roll included) as a plain MP4")
    clip.add_argument("event_id")
    clip.add_argument("out", type=Path)
    clip.add_argument("-c", "--config", type=Path)
    clip.set_defaults(handler=_clip)

    config = commands.add_parser("config", help="configuration files").add_subparsers(metavar="ACTION")
    check = config.add_parser("check", help="validate a config file, reporting every error with its line")
    check.add_argument("file", type=Path)
    check.set_defaults(handler=_config_check)

    users = commands.add_parser("users", help="local accounts of the guards' web UI").add_subparsers(metavar="ACTION")
    add = users.add_parser("add", help="create an account; the password is read from stdin or asked for")
    add.add_argument("name")
    add.add_argument("--role", required=True, choices=["guard", "installer", "admin"])
    add.add_argument("-c", "--config", type=Path, help="the appliance's config (its database); default: VIGIA_DATA_DIR")
    add.set_defaults(handler=_users_add)
    ulist = users.add_parser("list", help="list the accounts")
    ulist.add_argument("-c", "--config", type=Path)
    ulist.add_argument("--json", action="store_true")
    ulist.set_defaults(handler=_users_list)
    passwd = users.add_parser("passwd", help="set a new password (ends the user's sessions, clears a lockout)")
    passwd.add_argument("name")
    passwd.add_argument("-c", "--config", type=Path)
    passwd.set_defaults(handler=_users_passwd)

    tls = commands.add_parser("tls", help="the HTTPS certificate").add_subparsers(metavar="ACTION")
    info = tls.add_parser("info", help="the certificate served (made now if missing) and its SHA-256 fingerprint")
    info.add_argument("-c", "--config", type=Path)
    info.set_defaults(handler=_tls_info)

    models = commands.add_parser("models", help="the model store").add_subparsers(metavar="ACTION")
    imp = models.add_parser("import", help="validate a model file and add it to the store")
    imp.add_argument("path", type=Path)
    imp.add_argument("--store", type=Path, help="default: <data dir>/models")
    imp.set_defaults(handler=_models_import)
    lst = models.add_parser("list", help="list the models in the store")
    lst.add_argument("--store", type=Path)
    lst.add_argument("--json", action="store_true")
    lst.set_defaults(handler=_models_list)

    from vigia.app.cli.provisioning import add_commands as add_provisioning_commands

    add_provisioning_commands(commands)  # status, discover, provision

    from vigia.app.bench import add_commands as add_bench_commands
    from vigia.app.cli import sync as sync_cli  # vigia central, enroll, sync status

    add_bench_commands(commands.add_parser("bench", help="benchmarks (print JSON)").add_subparsers(metavar="NAME"))
    sync_cli.add_commands(commands)
    return parser


def _store(path: Path | None) -> Path:
    from vigia.appliance.config import Storage

    return path or Storage().models


def _run(args) -> int:
    if args.setup_if_missing and not args.config.exists():
        config = setup_config(args.setup_port)
        log.warning("no config file at %s: setup mode, the wizard on https://<this device>:%d/ (claim code: "
                    "`vigia status`)", args.config, args.setup_port)
    else:
        config = load_config(args.config)
    return _serve(config, seconds=None, print_events=False)


def _demo(args) -> int:
    import os

    from vigia.appliance.demo import default_clip, demo_config, demo_config_text

    clip = (args.clip or default_clip()).resolve()
    data_dir = (args.data_dir or Path(os.environ.get("VIGIA_DATA_DIR", "var"))).resolve()
    if args.print_config:
        print(demo_config_text(clip, data_dir, args.port), end="")
        return 0
    if not clip.is_file():
        print(f"vigia: demo clip not found: {clip} (pass --clip or set VIGIA_DEMO_CLIP)", file=sys.stderr)
        return 2
    config = demo_config(clip, data_dir, args.port)
    if args.no_tls:
        config.http = config.http.model_copy(update={"tls": False})
    _demo_login(config)
    return _serve(config, seconds=args.seconds, print_events=True)


def _demo_login(config) -> None:
    """The demo's first run makes an admin `demo` with a random password, shown once, so the web UI can be tried."""
    import secrets

    from vigia.appliance.storage import connect
    from vigia.local_ui import accounts

    scheme = "https" if config.http.tls else "http"
    url = f"{scheme}://127.0.0.1:{config.http.port}/"
    db = connect(config.storage.database)
    try:
        if accounts.list_users(db):
            print(f"web UI: {url} (log in with an account of `vigia users list`)", flush=True)
            return
        password = secrets.token_urlsafe(12)
        accounts.add_user(db, "demo", password, "admin", actor=None, remote=None, via="demo")
    finally:
        db.conn.close()
    print(f"web UI: {url}  user: demo  password: {password}\n"
          "  (shown this once; `vigia users passwd demo` sets another)", flush=True)


def _serve(config, *, seconds: float | None, print_events: bool) -> int:
    from vigia.app.appliance import Appliance, serve
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
        print(f"vigia: cannot serve http on {config.http.host}:{config.http.port}: {exc.strerror or exc}", file=sys.stderr)
        return 1
    except TlsError as exc:
        print(f"vigia: {exc}", file=sys.stderr)
        return 1
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
        print(f"vigia: {exc}", file=sys.stderr)
        return 1
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


def _export(args) -> int:
    from vigia.appliance.export import ExportError, export

    storage = _settings(args.config)[0]
    key = _media_key(storage)
    try:
        out = export(storage.database, storage.data_dir, key, args.camera, args.start, args.end, args.out)
    except ExportError as exc:
        print(f"vigia: {exc}", file=sys.stderr)
        return 1
    print(f"exported {out}")
    return 0


def _clip(args) -> int:
    import shutil

    from vigia.appliance.config import Record
    from vigia.appliance.encryption import open_media
    from vigia.appliance.export import ExportError, event_clip
    from vigia.appliance.storage import connect

    storage = _settings(args.config)[0]
    key = _media_key(storage)
    db = connect(storage.database)
    row = db.execute("select camera from events where id = ?", [args.event_id]).fetchone()
    db.conn.close()
    if row is None:
        print(f"vigia: no event {args.event_id!r}", file=sys.stderr)
        return 1
    cameras = {c.name: c.record for c in load_config(args.config).cameras} if args.config else {}
    try:
        kept = event_clip(storage.database, storage.data_dir, key, args.event_id, cameras.get(row[0], Record()))
    except ExportError as exc:
        print(f"vigia: {exc}", file=sys.stderr)
        return 1
    with open_media(kept, key) as media, open(args.out, "wb") as out:
        shutil.copyfileobj(media, out, 1 << 20)
    print(f"clip of event {args.event_id}: {args.out}")
    return 0


def _settings(config_path: Path | None):
    """(storage, http) settings of the config file, or the defaults (VIGIA_DATA_DIR)."""
    from vigia.appliance.config import Http, Storage

    if config_path:
        config = load_config(config_path)
        return config.storage, config.http
    return Storage(), Http()


def _read_password(prompt: str = "password: ") -> str:
    """A password from the terminal (asked twice) or the first line of stdin; never from argv."""
    import getpass

    if sys.stdin.isatty():
        password = getpass.getpass(prompt)
        if getpass.getpass("again: ") != password:
            raise ValueError("the passwords differ")
        return password
    return sys.stdin.readline().rstrip("\r\n")


def _users_add(args) -> int:
    from vigia.appliance.storage import connect
    from vigia.local_ui.accounts import AccountError, add_user

    try:
        password = _read_password()
        db = connect(_settings(args.config)[0].database)
        try:
            add_user(db, args.name, password, args.role, actor=None, remote="local", via=f"cli:{_os_user()}")
        finally:
            db.conn.close()
    except (AccountError, ValueError) as exc:
        print(f"vigia: {exc}", file=sys.stderr)
        return 2
    print(f"user {args.name} added ({args.role})")
    return 0


def _users_list(args) -> int:
    import time

    from vigia.appliance.storage import connect
    from vigia.local_ui.accounts import list_users

    db = connect(_settings(args.config)[0].database)
    try:
        users = list_users(db)
    finally:
        db.conn.close()
    now = time.time()
    rows = [{"username": u.username, "role": u.role, "created_at": u.created_at,
             "locked": u.locked_until is not None and u.locked_until > now} for u in users]
    if args.json:
        print(json.dumps(rows))
        return 0
    for row in rows:
        print(f"{row['username']:24} {row['role']:10}{'  locked' if row['locked'] else ''}")
    return 0


def _users_passwd(args) -> int:
    from vigia.appliance.storage import connect
    from vigia.local_ui.accounts import AccountError, set_password

    try:
        password = _read_password("new password: ")
        db = connect(_settings(args.config)[0].database)
        try:
            set_password(db, args.name, password, actor=None, remote="local", via=f"cli:{_os_user()}")
        finally:
            db.conn.close()
    except (AccountError, ValueError) as exc:
        print(f"vigia: {exc}", file=sys.stderr)
        return 2
    print(f"password of {args.name} changed; its sessions are ended")
    return 0


def _os_user() -> str:
    import getpass

    try:
        return getpass.getuser()
    except (KeyError, OSError):
        return "unknown"


def _tls_info(args) -> int:
    from cryptography import x509

    from vigia.local_ui.tls import TlsError, fingerprint, tls_files

    storage, http = _settings(args.config)
    if not http.tls:
        print("vigia: tls is off in this config (a reverse proxy terminates TLS)", file=sys.stderr)
        return 1
    try:
        files = tls_files(http, storage.data_dir)
        cert = x509.load_pem_x509_certificate(files.certificate.read_bytes())
    except (TlsError, OSError, ValueError) as exc:
        print(f"vigia: {exc}", file=sys.stderr)
        return 1
    names = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    print(f"certificate  {files.certificate}{' (self-signed)' if files.self_signed else ''}")
    print(f"names        {', '.join(str(n.value) for n in names)}")
    print(f"valid until  {cert.not_valid_after_utc:%Y-%m-%d %H:%M} UTC")
    print(f"SHA-256      {fingerprint(files.certificate)}")
    return 0


def _config_check(args) -> int:
    config = load_config(args.file)
    enabled = sum(c.enabled for c in config.cameras)
    print(f"{args.file}: ok ({len(config.cameras)} cameras, {enabled} enabled)")
    return 0


def _models_import(args) -> int:
    from vigia.inference.model_store import import_model

    info = import_model(_store(args.store), args.path)
    print(f"imported {info.name} sha256:{info.sha256[:12]} input {info.input_shape} classes {info.num_classes}")
    return 0


def _models_list(args) -> int:
    from dataclasses import asdict

    from vigia.inference.model_store import list_models

    models = list_models(_store(args.store))
    if args.json:
        print(json.dumps([asdict(m) for m in models], default=str))
        return 0
    for m in models:
        print(f"{m.name:24} sha256:{m.sha256[:12]}  input {m.input_shape}  classes {m.num_classes}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
