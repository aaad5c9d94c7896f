"""`vigia privacy notice`, `vigia privacy request find|export|erase|list`, `vigia privacy verify`, `vigia privacy
report`, `vigia privacy record`: the signage notice (vigia.appliance.privacy.notice), data-subject requests, the audit
log's hash chain, and what the data-protection officer reads."""
from __future__ import annotations

import argparse
import asyncio
import json
from pathlib import Path

from vigia.app.cli.common import CliError, add_config_argument, os_user, storage_settings


def add_commands(commands: argparse._SubParsersAction) -> None:
    from vigia.app.cli.appliance import _when

    privacy = commands.add_parser("privacy", help="the signage notice, data-subject requests, the audit log, "
                                                  "the privacy report")
    actions = privacy.add_subparsers(metavar="ACTION")
    notice = actions.add_parser("notice", help="the signage notice (printable HTML): controller, purpose, each camera's "
                                               "retention and the contact, from the config file's privacy section")
    notice.add_argument("-c", "--config", required=True, type=Path)
    notice.add_argument("--lang", default="pt-BR", choices=["pt-BR", "en"])
    notice.add_argument("--out", type=Path, default=None, help="the HTML file to write (default: standard output)")
    notice.set_defaults(handler=_notice)
    request = actions.add_parser("request", help="a data subject's request: find, export or erase their footage")
    kinds = request.add_subparsers(metavar="KIND")
    for name, help_text in (("find", "the events and recordings of a camera over a time window"),
                            ("export", "a package for the subject: footage redacted, events as JSON, manifest"),
                            ("erase", "erase the window here and at central (a receipt says what went where)")):
        sub = kinds.add_parser(name, help=help_text)
        if name == "export":
            sub.add_argument("out", type=Path, help="the folder to write the package to")
            sub.add_argument("--keep-event", action="append", default=[], metavar="EVENT_ID",
                             help="the subject's event: left visible in the footage (repeatable)")
        sub.add_argument("--camera", required=True)
        sub.add_argument("--from", dest="start", required=True, type=_when, help="ISO 8601 or epoch seconds")
        sub.add_argument("--to", dest="end", required=True, type=_when)
        if name != "find":
            sub.add_argument("--reason", required=True, help="the request's reference (who asked, when, case)")
        sub.add_argument("--by", default=None, help="who handles it, for the audit log (default: the login name)")
        if name == "erase":
            sub.add_argument("--wait", type=float, default=30.0,
                             help="seconds to wait for central's receipt (default 30; the uploader sends it later)")
        add_config_argument(sub, "data directory and cameras")
        sub.set_defaults(handler={"find": _find, "export": _export, "erase": _erase}[name])
    listing = kinds.add_parser("list", help="the requests made and their receipts")
    add_config_argument(listing, "its database")
    listing.set_defaults(handler=_list)

    verify = actions.add_parser("verify", help="check the audit log's hash chain (exit 1 when broken)")
    verify.add_argument("--head", default=None, metavar="ID:HASH",
                        help="a head central holds (its device_records, kind audit_head): it must still be in the chain")
    add_config_argument(verify, "its database")
    verify.set_defaults(handler=_verify)

    report = actions.add_parser("report", help="the data-protection officer's report (HTML)")
    report.add_argument("out", type=Path, help="the HTML file to write")
    report.add_argument("--from", dest="start", required=True, type=_when)
    report.add_argument("--to", dest="end", required=True, type=_when)
    add_config_argument(report, "cameras, retention, recipients and database")
    report.set_defaults(handler=_report)

    record = actions.add_parser("record", help="the record of processing, from the configuration (JSON)")
    add_config_argument(record, "cameras, retention and recipients")
    record.set_defaults(handler=_record)


def _notice(args) -> int:
    from vigia.appliance.config import load_config
    from vigia.appliance.privacy.notice import NoticeError, notice_html

    try:
        html = notice_html(load_config(args.config), args.lang)
    except NoticeError as exc:
        raise CliError(f"{args.config}: {exc}") from None
    if args.out is None:
        print(html, end="")
    else:
        args.out.write_text(html, encoding="utf-8")
        print(f"notice ({args.lang}) written to {args.out}")
    return 0


def _window(args):
    from vigia.appliance.privacy.requests import RequestError, Window

    try:
        return Window(args.camera, args.start, args.end)
    except RequestError as exc:
        raise CliError(str(exc), 2) from None


def _config(args):
    from vigia.appliance.config import Config, load_config

    return load_config(args.config) if args.config else Config()


def _central_url(data_dir: Path) -> str | None:
    from vigia.sync.identity import identity_folder, load_identity

    identity = load_identity(identity_folder(data_dir))
    return identity.central_url if identity else None


def _find(args) -> int:
    from vigia.appliance.privacy.requests import find, record_request
    from vigia.appliance.storage import database
    from vigia.appliance.transactions import write_transaction

    window = _window(args)
    with database(storage_settings(args.config).database) as db:
        findings = find(db.conn, window)
        with write_transaction(db.conn):
            request_id = record_request(db.conn, "find", window, args.by or os_user(), "", "done",
                                        {"events": len(findings.events), "recordings": len(findings.recordings)}, "cli")
    print(json.dumps({"request": request_id, **window.as_json(), **findings.as_json()}, indent=2))
    return 0


def _export(args) -> int:
    from vigia.app.appliance import open_detector
    from vigia.app.cli.appliance import _media_key
    from vigia.appliance.privacy.disclosure import export_for_disclosure
    from vigia.appliance.privacy.package import write_package
    from vigia.appliance.privacy.redact import RedactionError, RedactionSettings
    from vigia.appliance.privacy.requests import find, record_request
    from vigia.appliance.recording.export import ExportError
    from vigia.appliance.storage import database
    from vigia.appliance.transactions import write_transaction
    from vigia.inference.model_store import resolve
    from vigia.scene.events import Event

    window, config, by = _window(args), _config(args), args.by or os_user()
    storage = config.storage if args.config else storage_settings(None)
    with database(storage.database) as db:
        findings = find(db.conn, window)
        rows = {e["id"] for e in findings.events}
        unknown = [e for e in args.keep_event if e not in rows]
        if unknown:
            raise CliError(f"--keep-event {unknown[0]}: not an event of camera {window.camera} in the window", 2)
        keep = [Event.from_row(next(db.query("select * from events where id = ?", [e]))) for e in args.keep_event]
    footage, note = [], ""
    low = config.model_copy(update={"detector": config.detector.model_copy(update={"score_threshold": 0.1})})
    detector = open_detector(low)
    try:
        made = export_for_disclosure(storage.database, storage.data_dir, _media_key(storage), window.camera,
                                     window.start, window.end, args.out / "footage.mp4", detector,
                                     RedactionSettings(), keep, by, resolve(config.storage.models, config.detector.model))
        footage = [made.video, made.manifest]
    except ExportError as exc:
        note = f"no footage: {exc}"
    except RedactionError as exc:
        raise CliError(str(exc)) from None
    finally:
        detector.close()
    manifest = write_package(args.out, window, findings, footage, by, note)
    with database(storage.database) as db, write_transaction(db.conn):
        request_id = record_request(db.conn, "export", window, by, args.reason, "done",
                                    {"package": str(args.out), "files": manifest["files"]}, "cli")
    print(f"request {request_id}: package {args.out} ({len(findings.events)} events, "
          f"{'footage redacted' if footage else note}); manifest {args.out / 'manifest.json'}")
    return 0


def _erase(args) -> int:
    from vigia.appliance.privacy.requests import ErasureRefused, RequestError, erase
    from vigia.appliance.storage import database

    window, storage = _window(args), storage_settings(args.config)
    central_url = _central_url(storage.data_dir)
    with database(storage.database) as db:
        try:
            receipt = erase(db.conn, storage.data_dir, window, args.by or os_user(), args.reason, "cli",
                            central=central_url is not None)
        except ErasureRefused as exc:
            print(json.dumps(exc.receipt, indent=2))
            raise CliError(str(exc)) from None
        except RequestError as exc:
            raise CliError(str(exc), 2) from None
        if central_url is not None:
            receipt = asyncio.run(_central_part(db.conn, storage.data_dir, receipt, args.wait))
    print(json.dumps(receipt, indent=2))
    return 0


async def _central_part(conn, data_dir: Path, receipt: dict, wait_s: float) -> dict:
    """Send the erasure to central once it may go (vigia.sync.erasures); the receipt as it stands then."""
    import aiohttp

    from vigia.sync.erasures import send_ready
    from vigia.sync.identity import client_context, identity_folder, load_identity

    identity = load_identity(identity_folder(data_dir))
    loop = asyncio.get_running_loop()
    deadline = loop.time() + wait_s
    async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=30)) as session:
        while True:
            await send_ready(conn, session, identity.central_url, client_context(identity))
            state = conn.execute("SELECT state, receipt FROM privacy_requests WHERE id = ?",
                                 [receipt["request"]]).fetchone()
            if state[0] != "central_pending" or loop.time() >= deadline:
                return json.loads(state[1])
            await asyncio.sleep(1.0)


def _list(args) -> int:
    from vigia.appliance.privacy.requests import requests
    from vigia.appliance.storage import database

    with database(storage_settings(args.config).database) as db:
        print(json.dumps(requests(db.conn), indent=2))
    return 0


def _verify(args) -> int:
    from vigia.appliance import audit_log
    from vigia.appliance.storage import database

    known = None
    if args.head:
        entry, _, digest = args.head.partition(":")
        if not entry.isdigit() or len(digest) != 64:
            raise CliError("--head: ID:HASH, the entry id and its 64 hex digit hash", 2)
        known = audit_log.Head(int(entry), digest)
    with database(storage_settings(args.config).database) as db:
        check = audit_log.verify(db.conn, known)
    print(json.dumps(check.as_json(), indent=2))
    return 0 if check.ok else 1


def _report(args) -> int:
    from vigia.appliance.privacy.report import access_report
    from vigia.appliance.storage import database

    config = _config(args)
    storage = config.storage if args.config else storage_settings(None)
    if args.end <= args.start:
        raise CliError("--to must come after --from", 2)
    with database(storage.database) as db:
        text = access_report(db.conn, config, args.start, args.end, _central_url(storage.data_dir))
    args.out.write_text(text)
    print(f"report {args.out}")
    return 0


def _record(args) -> int:
    from vigia.appliance.privacy.report import record_of_processing

    config = _config(args)
    storage = config.storage if args.config else storage_settings(None)
    print(json.dumps(record_of_processing(config, _central_url(storage.data_dir)), indent=2, ensure_ascii=False))
    return 0
