"""`vigia central ...` (the central service) and `vigia enroll` / `vigia sync status|dead-letters` (the appliance)."""
from __future__ import annotations

import argparse
import asyncio
import json
import os
import sys
from pathlib import Path

DSN_ENV = "VIGIA_CENTRAL_DATABASE"


def add_commands(commands: argparse._SubParsersAction) -> None:
    central = commands.add_parser("central", help="the central service: ingest, CA, enrolment tokens").add_subparsers(
        metavar="ACTION")

    def with_database(parser: argparse.ArgumentParser) -> argparse.ArgumentParser:
        parser.add_argument("--database", default=os.environ.get(DSN_ENV),
                            help=f"PostgreSQL connection string (default: ${DSN_ENV}; prefer it for passwords)")
        return parser

    def with_bucket(parser: argparse.ArgumentParser, required: bool) -> argparse.ArgumentParser:
        parser.add_argument("--bucket", required=required,
                            help="S3 bucket for media (credentials: AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY)")
        parser.add_argument("--s3-endpoint", help="URL of an S3-compatible service (default: AWS)")
        parser.add_argument("--s3-region", default="us-east-1")
        return parser

    serve = with_database(central.add_parser("serve", help="serve ingest over HTTP, behind the TLS proxy"))
    serve.add_argument("--ca-dir", type=Path, required=True)
    serve.add_argument("--host", default="127.0.0.1")
    serve.add_argument("--port", type=int, default=8600)
    serve.add_argument("--trusted-proxy", action="append", default=None,
                       help="address whose client-certificate headers are believed (default: 127.0.0.1 and ::1)")
    with_bucket(serve, required=False)
    serve.set_defaults(handler=_serve)

    init = with_bucket(central.add_parser("init", help="make the media bucket: default encryption, lifecycle rules"),
                       required=True)
    init.set_defaults(handler=_init)

    migrate = with_database(central.add_parser("migrate", help="apply the database migrations"))
    migrate.set_defaults(handler=_migrate)

    ca = central.add_parser("ca-init", help="make central's certificate authority")
    ca.add_argument("--ca-dir", type=Path, required=True)
    ca.set_defaults(handler=_ca_init)

    cert = central.add_parser("server-cert", help="a TLS certificate for the proxy, signed by central's CA")
    cert.add_argument("names", nargs="+", help="host names and IP addresses (the first is the common name)")
    cert.add_argument("--ca-dir", type=Path, required=True)
    cert.add_argument("--cert", type=Path, required=True)
    cert.add_argument("--key", type=Path, required=True)
    cert.set_defaults(handler=_server_cert)

    nginx = central.add_parser("nginx-config", help="print the NGINX config: TLS, device certificates, round-robin")
    nginx.add_argument("--listen", required=True, help="host:port")
    nginx.add_argument("--upstream", action="append", required=True, help="a central instance, host:port")
    nginx.add_argument("--cert", type=Path, required=True)
    nginx.add_argument("--key", type=Path, required=True)
    nginx.add_argument("--ca-dir", type=Path, required=True)
    nginx.add_argument("--prefix", type=Path, required=True, help="folder for pid, logs and temporary files")
    nginx.set_defaults(handler=_nginx_config)

    token = with_database(central.add_parser("token", help="a one-time enrolment token for a device (printed once)"))
    token.add_argument("device_id")
    token.add_argument("--ttl", type=float, default=86400, help="seconds it stays valid (default one day)")
    token.set_defaults(handler=_token)

    revoke = with_database(central.add_parser("revoke", help="refuse a device from its next batch on"))
    revoke.add_argument("device_id")
    revoke.set_defaults(handler=_revoke)

    command = with_database(central.add_parser("command", help="send a command to a device (audited)"))
    command.add_argument("device_id")
    command.add_argument("--by", default=None, help="who issues it, for the audit (default: the login name)")
    kinds = command.add_subparsers(metavar="COMMAND", dest="kind", required=True)
    kinds.add_parser("upload-clip", help="upload an event's clip").add_argument("event_id")
    layout = kinds.add_parser("set-layout", help="a camera's zones, lines and rules from a JSON file")
    layout.add_argument("camera")
    layout.add_argument("file", type=Path)
    kinds.add_parser("rotate-credentials", help="a new device key and certificate; the old one is superseded")
    command.set_defaults(handler=_command)

    listing = with_database(central.add_parser("commands", help="a device's commands and their state"))
    listing.add_argument("device_id")
    listing.add_argument("--json", action="store_true")
    listing.set_defaults(handler=_commands)

    from vigia.app.cli.central import add_commands as add_dashboard_commands

    add_dashboard_commands(central, with_database, with_bucket)  # vigia central dashboard|user-add

    enroll = commands.add_parser("enroll", help="enrol this appliance with central (token read from stdin)")
    enroll.add_argument("--central", required=True, help="central's URL, https://...")
    enroll.add_argument("--ca", type=Path, required=True, help="central's CA certificate (PEM)")
    enroll.add_argument("-c", "--config", type=Path)
    enroll.set_defaults(handler=_enroll)

    sync = commands.add_parser("sync", help="the appliance's link to central").add_subparsers(metavar="ACTION")
    status = sync.add_parser("status", help="enrolment and outbox backlog")
    status.add_argument("-c", "--config", type=Path)
    status.add_argument("--json", action="store_true")
    status.set_defaults(handler=_status)
    letters = sync.add_parser("dead-letters", help="records central refused as malformed, kept here")
    letters.add_argument("-c", "--config", type=Path)
    letters.add_argument("--limit", type=int, default=50, help="the newest so many (default 50)")
    letters.add_argument("--json", action="store_true", help="one JSON list, bodies included")
    letters.set_defaults(handler=_dead_letters)

    from vigia.sync.litestream import add_commands as add_litestream_commands

    add_litestream_commands(commands)  # vigia litestream config|mirror, vigia restore


def _dsn(args) -> str:
    if not args.database:
        raise SystemExit(f"vigia: no database: pass --database or set {DSN_ENV}")
    return args.database


async def _with_connection(dsn: str, work):
    import psycopg

    async with await psycopg.AsyncConnection.connect(dsn, autocommit=True) as conn:
        return await work(conn)


def _serve(args) -> int:
    from vigia.central.ingest.server import CentralSettings, serve

    proxies = frozenset(args.trusted_proxy or ("127.0.0.1", "::1"))
    media = _media_settings(args) if args.bucket else None
    asyncio.run(serve(CentralSettings(_dsn(args), args.ca_dir, proxies, media=media), args.host, args.port))
    return 0


def _media_settings(args):
    from vigia.central.ingest.media import MediaSettings

    return MediaSettings(args.s3_endpoint, args.bucket, args.s3_region)


def _init(args) -> int:
    from botocore.exceptions import BotoCoreError, ClientError

    from vigia.central.ingest.media import EXPIRY_DAYS, init_bucket

    try:
        created = init_bucket(_media_settings(args))
    except (BotoCoreError, ClientError) as exc:
        print(f"vigia: bucket {args.bucket}: {exc}", file=sys.stderr)
        return 1
    kept = ", ".join(f"{kind}s {days} days" for kind, days in EXPIRY_DAYS.items())
    print(f"bucket {args.bucket} {'made' if created else 'already there'}: encrypted (AES256); {kept};"
          " unfinished multipart uploads aborted after 1 day")
    return 0


def _migrate(args) -> int:
    from vigia.central.migrations import migrate

    version = asyncio.run(_with_connection(_dsn(args), migrate))
    print(f"central database at schema version {version}")
    return 0


def _ca_init(args) -> int:
    from vigia.central.ingest.ca import CaError, init_ca

    try:
        init_ca(args.ca_dir)
    except CaError as exc:
        print(f"vigia: {exc}", file=sys.stderr)
        return 1
    print(f"CA made in {args.ca_dir}: give devices {args.ca_dir / 'ca.crt'}; keep ca.key secret")
    return 0


def _server_cert(args) -> int:
    from vigia.central.ingest.ca import issue_server_certificate, load_ca

    issue_server_certificate(load_ca(args.ca_dir), args.names, args.cert, args.key)
    print(f"certificate {args.cert}, key {args.key}")
    return 0


def _nginx_config(args) -> int:
    from vigia.central.ingest.nginx import NginxSite, nginx_config

    print(nginx_config(NginxSite(args.listen, args.upstream, args.cert.resolve(), args.key.resolve(),
                                 (args.ca_dir / "ca.crt").resolve(), args.prefix.resolve())), end="")
    return 0


def _token(args) -> int:
    from vigia.central.ingest.enrolment import create_token

    async def work(conn):
        from vigia.central.migrations import migrate

        await migrate(conn)
        return await create_token(conn, args.device_id, args.ttl)

    try:
        token = asyncio.run(_with_connection(_dsn(args), work))
    except ValueError as exc:
        print(f"vigia: {exc}", file=sys.stderr)
        return 2
    print(token)
    return 0


def _revoke(args) -> int:
    from vigia.central.ingest.enrolment import revoke

    if not asyncio.run(_with_connection(_dsn(args), lambda conn: revoke(conn, args.device_id))):
        print(f"vigia: no enrolled, unrevoked device {args.device_id!r}", file=sys.stderr)
        return 1
    print(f"device {args.device_id} revoked")
    return 0


def _command(args) -> int:
    import getpass

    from vigia.central.ingest.commands import issue

    if args.kind == "upload-clip":
        body = {"event_id": args.event_id}
    elif args.kind == "set-layout":
        try:
            body = {"camera": args.camera, "layout": json.loads(args.file.read_text())}
        except (OSError, ValueError) as exc:
            print(f"vigia: cannot read the layout {args.file}: {exc}", file=sys.stderr)
            return 2
    else:
        body = {}

    async def work(conn):
        from vigia.central.migrations import migrate

        await migrate(conn)
        return await issue(conn, args.device_id, args.kind.replace("-", "_"), body, args.by or getpass.getuser())

    try:
        command_id = asyncio.run(_with_connection(_dsn(args), work))
    except ValueError as exc:
        print(f"vigia: {exc}", file=sys.stderr)
        return 2
    print(f"command {command_id} ({args.kind}) queued for {args.device_id}")
    return 0


def _commands(args) -> int:
    from vigia.central.ingest.commands import list_commands

    rows = asyncio.run(_with_connection(_dsn(args), lambda conn: list_commands(conn, args.device_id)))
    if args.json:
        print(json.dumps(rows, default=str))
        return 0
    for row in rows:
        print(f"{row['id']:>6}  {row['kind']:<18} {row['state']:<8} {row['created_at']:%Y-%m-%d %H:%M:%S} "
              f"by {row['created_by']}  {json.dumps(row['result']) if row['result'] is not None else ''}")
    return 0


def _storage(config: Path | None):
    from vigia.appliance.config import Storage, load_config

    return load_config(config).storage if config else Storage()


def _enroll(args) -> int:
    from vigia.appliance.storage import connect
    from vigia.provisioning.identity import IdentityError, load_or_create_identity
    from vigia.sync.identity import EnrolmentError, enrol, identity_folder

    storage = _storage(args.config)
    token = sys.stdin.readline().strip()
    if not token:
        print("vigia: give the enrolment token on stdin", file=sys.stderr)
        return 2
    try:  # the device's permanent identity (as the appliance makes it at first start) signs the CSR
        identity = load_or_create_identity(storage.data_dir)
    except IdentityError as exc:
        print(f"vigia: {exc}", file=sys.stderr)
        return 1
    try:
        enrolment = asyncio.run(enrol(identity_folder(storage.data_dir), args.central, token, args.ca.read_bytes(),
                                      identity))
    except (EnrolmentError, OSError) as exc:
        print(f"vigia: {exc}", file=sys.stderr)
        return 1
    db = connect(storage.database)
    try:  # central may already hold records of this device id (a re-enrolment): go on after them
        db.execute("UPDATE sync_state SET value = max(value, ?) WHERE name = 'last_seq'", [enrolment.high_water])
    finally:
        db.conn.close()
    print(f"enrolled as {enrolment.identity.device_id} (device identity {identity.short_id})"
          f" with {enrolment.identity.central_url}")
    return 0


def _status(args) -> int:
    from dataclasses import asdict

    from vigia.appliance.outbox import backlog
    from vigia.appliance.storage import connect
    from vigia.sync.identity import identity_folder, load_identity

    storage = _storage(args.config)
    identity = load_identity(identity_folder(storage.data_dir))
    db = connect(storage.database)
    try:
        pending = backlog(db.conn)
    finally:
        db.conn.close()
    state = {"enrolled": identity is not None, "device_id": identity and identity.device_id,
             "central_url": identity and identity.central_url, "backlog": asdict(pending)}
    if args.json:
        print(json.dumps(state))
        return 0
    print(f"device     {state['device_id'] or '(not enrolled)'}  {state['central_url'] or ''}")
    print(f"backlog    {pending.records} records {pending.by_kind}; dropped since start {pending.dropped};"
          f" dead letters {pending.dead_letters}")
    return 0


def _dead_letters(args) -> int:
    import datetime as dt
    from dataclasses import asdict

    from vigia.appliance.outbox import dead_letters
    from vigia.appliance.storage import connect

    db = connect(_storage(args.config).database)
    try:
        letters = dead_letters(db.conn, args.limit)
    finally:
        db.conn.close()
    if args.json:
        print(json.dumps([asdict(letter) for letter in letters]))
        return 0
    for letter in letters:
        when = dt.datetime.fromtimestamp(letter.rejected_at).strftime("%Y-%m-%d %H:%M:%S")
        print(f"{letter.seq:>8}  {when}  {letter.kind:<13} {letter.key}  {letter.error}")
    return 0
