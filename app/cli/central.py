"""`vigia central ...`: the central service (ingest, media bucket, CA, NGINX, enrolment tokens, device commands,
the fleet dashboard and its users)."""
from __future__ import annotations

import argparse
import asyncio
import getpass
import json
import logging
import os
import sys
from pathlib import Path

from vigia.app.cli import backup as backup_cli
from vigia.app.cli import replication
from vigia.app.cli.common import CliError, os_user

log = logging.getLogger(__name__)

DSN_ENV = "VIGIA_CENTRAL_DATABASE"
BROKER_ENV = "VIGIA_BROKER_URL"
READ_DSN_ENV = "VIGIA_CENTRAL_READ_DATABASE"
GPU_BATCH = 32            # a re-analysis worker's images per detector run on a GPU
GPU_CONCURRENT_JOBS = 4   # and the clips it analyses at once to fill those batches


def add_commands(commands: argparse._SubParsersAction) -> argparse._SubParsersAction:
    """The `vigia central` actions; returns them, for the ones other modules add (central_retention)."""
    central = commands.add_parser("central", help="the central service: ingest, CA, enrolment tokens").add_subparsers(
        metavar="ACTION")

    serve = _with_database(central.add_parser("serve", help="serve ingest over HTTP, behind the TLS proxy"))
    serve.add_argument("--ca-dir", type=Path, required=True)
    serve.add_argument("--host", default="127.0.0.1")
    serve.add_argument("--port", type=int, default=8600)
    serve.add_argument("--backup-state", type=Path, default=None, metavar="DIR",
                       help="the backups' state folder (`backup status --save` writes it): their age and failures on "
                            "/metrics")
    serve.add_argument("--trusted-proxy", action="append", default=None, type=_proxy,
                       help="address, or network (10.0.0.0/8), whose client-certificate headers are believed "
                            "(default: 127.0.0.1 and ::1)")
    _with_bucket(serve, required=False)
    serve.add_argument("--rollout-interval", type=float, default=10.0, metavar="SECONDS",
                       help="with --bucket: move running model rollouts on this often (default 10; 0: not here)")
    policy = serve.add_argument_group("re-analysis policy", "which new events get a re-analysis job")
    policy.add_argument("--reanalyse-sample", type=float, default=0.05, metavar="SHARE",
                        help="share of each camera's events, drawn at random (default 0.05)")
    policy.add_argument("--reanalyse-below", type=float, default=0.5, metavar="SCORE",
                        help="events whose best score is under this (default 0.5; 0: none)")
    policy.add_argument("--no-reanalyse-alerts", action="store_true", help="not every alert")
    policy.add_argument("--no-reanalysis", action="store_true", help="no jobs at all (no workers deployed)")
    serve.set_defaults(handler=_serve)

    init = _with_bucket(central.add_parser("init", help="make the media bucket: default encryption, lifecycle rules"),
                        required=True)
    init.set_defaults(handler=_init)

    migrate = _with_database(central.add_parser("migrate", help="apply the database migrations"))
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

    token = _with_database(central.add_parser("token", help="a one-time enrolment token for a device (printed once)"))
    token.add_argument("device_id")
    token.add_argument("--ttl", type=float, default=86400, help="seconds it stays valid (default one day)")
    token.set_defaults(handler=_token)

    revoke = _with_database(central.add_parser("revoke", help="refuse a device from its next batch on"))
    revoke.add_argument("device_id")
    revoke.set_defaults(handler=_revoke)

    command = _with_database(central.add_parser("command", help="send a command to a device (audited)"))
    command.add_argument("device_id")
    command.add_argument("--by", default=None, help="who issues it, for the audit (default: the login name)")
    kinds = command.add_subparsers(metavar="COMMAND", dest="kind", required=True)
    kinds.add_parser("upload-clip", help="upload an event's clip").add_argument("event_id")
    layout = kinds.add_parser("set-layout", help="a camera's zones, lines and rules from a JSON file")
    layout.add_argument("camera")
    layout.add_argument("file", type=Path)
    kinds.add_parser("rotate-credentials", help="a new device key and certificate; the old one is superseded")
    command.set_defaults(handler=_command)

    listing = _with_database(central.add_parser("commands", help="a device's commands and their state"))
    listing.add_argument("device_id")
    listing.add_argument("--json", action="store_true")
    listing.set_defaults(handler=_commands)

    dashboard = _with_database(central.add_parser("dashboard", help="serve the fleet dashboard at /dashboard/"))
    _with_bucket(dashboard, required=False)  # where the thumbnails are; without it the dashboard shows none
    dashboard.add_argument("--host", default="127.0.0.1")
    dashboard.add_argument("--port", type=int, default=8700)
    dashboard.add_argument("--cert", type=Path, help="TLS certificate (PEM); without it, plain HTTP behind a TLS proxy")
    dashboard.add_argument("--key", type=Path, help="the certificate's private key (PEM)")
    dashboard.add_argument("--online-minutes", type=float, default=5.0,
                           help="a device with a batch applied within this is online (default 5)")
    _with_metrics_port(dashboard)
    dashboard.add_argument("--read-database", default=os.environ.get(READ_DSN_ENV),
                           help="connection string for the event list and counts, e.g. the hot standby's"
                           f" (target_session_attrs=prefer-standby; default: ${READ_DSN_ENV}, else --database)")
    dashboard.add_argument("--sso-config", type=Path,
                           help="OpenID Connect single sign-on settings (YAML; see vigia.central.dashboard.sso_config)")
    dashboard.add_argument("--admin-totp", choices=("required", "optional"), default="optional",
                           help="required: an admin without a TOTP second factor must enrol one right after logging in "
                           "and can do nothing else until done (default: optional, any user may enrol)")
    dashboard.add_argument("--ca-dir", type=Path,
                           help="central's CA folder: its model-signing.key lets admins approve models here")
    dashboard.set_defaults(handler=_dashboard)

    worker = _with_bucket(_with_database(central.add_parser(
        "worker", help="re-analyse clips from the queue (any number of workers, on any machines)")), required=True)
    _with_broker(worker)
    worker.add_argument("--model", default="yolox_nano",
                        help="an .onnx file, or a name or sha256 prefix in the model store (default yolox_nano)")
    worker.add_argument("--models-dir", type=Path, help="the model store (default: <data dir>/models)")
    worker.add_argument("--backend", default="auto", help="detector back end: auto, tensorrt or onnxruntime")
    worker.add_argument("--no-tiles", action="store_true", help="the whole frame only, no tiles (faster, misses small objects)")
    worker.add_argument("--no-flip", action="store_true", help="no horizontal-flip test-time augmentation")
    worker.add_argument("--threads", type=_positive, help="ONNX Runtime intra-op threads of this worker's detector"
                        " (default: this machine's cores / --local-workers)")
    worker.add_argument("--local-workers", type=_positive, default=1,
                        help="workers started on this machine, sharing its cores (default 1)")
    worker.add_argument("--batch", type=_positive, help="images per detector run, the views of several jobs' frames"
                        f" together (default {GPU_BATCH} on a GPU, 1 on CPU; over 1 on CPU batches there too)")
    worker.add_argument("--concurrent-jobs", type=_positive, help="clips analysed at once, prefetched from the queues"
                        f" (default {GPU_CONCURRENT_JOBS} when the detector batches, else 1)")
    _with_metrics_port(worker)
    worker.set_defaults(handler=_worker)

    grafana = central.add_parser("grafana-dashboards", help="write the Grafana dashboards (JSON) for file provisioning")
    grafana.add_argument("--out", type=Path, required=True, help="folder for the JSON files (made if missing)")
    grafana.set_defaults(handler=_grafana_dashboards)

    reanalyse = _with_database(central.add_parser("reanalyse", help="re-analyse an event, or a device's events since a time"))
    reanalyse.add_argument("event_id", nargs="?")
    reanalyse.add_argument("--device", required=True)
    reanalyse.add_argument("--since", help="ISO 8601 time: every event of the device from then on")
    reanalyse.add_argument("--by", default=None, help="who asks, recorded with the job (default: the login name)")
    reanalyse.set_defaults(handler=_reanalyse)

    status = _with_database(central.add_parser("reanalysis-status", help="re-analysis jobs by state, the oldest's age"))
    status.set_defaults(handler=_reanalysis_status)

    dataset = central.add_parser("dataset", help="hard examples from re-analysis, as versioned datasets").add_subparsers(
        metavar="ACTION", dest="action", required=True)
    create = _with_database(dataset.add_parser("create", help="a new version: every hard example not rejected"))
    create.add_argument("name")
    create.add_argument("--by", default=None)
    _with_database(dataset.add_parser("list", help="datasets and their versions"))
    export = _with_bucket(_with_database(dataset.add_parser("export", help="a version as COCO: images + annotations")),
                          required=True)
    export.add_argument("ref", help="NAME@VERSION")
    export.add_argument("--format", choices=("coco",), default="coco")
    export.add_argument("--out", type=Path, required=True)
    review = _with_database(dataset.add_parser("review", help="accept, reject or fix a hard example's labels"))
    review.add_argument("example_id", type=int)
    review.add_argument("decision", choices=("accepted", "rejected", "fixed"))
    review.add_argument("--labels", type=Path, help='fixed: a JSON file [{"label": "car", "box": [x1, y1, x2, y2]}]')
    review.add_argument("--by", default=None)
    dataset.choices["list"].set_defaults(handler=_dataset)
    for parser in (create, export, review):
        parser.set_defaults(handler=_dataset)

    train = _with_bucket(_with_database(central.add_parser(
        "train", help="fine-tune the edge model on a dataset version; gate it; the model and its lineage JSON, and the"
                      " candidate in the model registry")),
        required=True)
    train.add_argument("--dataset", required=True, help="NAME@VERSION (vigia central dataset list)")
    train.add_argument("--base", type=Path, required=True, help="the base ONNX model (YOLOX layout)")
    train.add_argument("--out", type=Path, required=True, help="the candidate's path (.onnx; lineage beside it)")
    train.add_argument("--replay", type=Path, required=True, help="footage of the base distribution (first half used)")
    train.add_argument("--regression", type=Path, required=True,
                       help="footage from other sites: the fixed regression set (second half used)")
    train.add_argument("--replay-frames", type=int, default=24)
    train.add_argument("--regression-frames", type=int, default=12)
    train.add_argument("--heldout-share", type=float, default=0.3, help="the last part of the dataset's time held out")
    train.add_argument("--iterations", type=int, default=60)
    train.add_argument("--batch", type=int, default=4)
    train.add_argument("--lr", type=float, default=0.002)
    train.add_argument("--seed", type=int, default=0)
    train.add_argument("--train-backbone", action="store_true", help="train the backbone too (default: frozen)")
    train.add_argument("--min-map-gain", type=float, default=0.005, help="held-out mAP@0.5 gain the gate needs")
    train.add_argument("--regression-margin", type=float, default=0.02, help="regression loss the gate allows")
    train.add_argument("--name", help="the candidate's name in the registry (default: the --out file's name)")
    train.set_defaults(handler=_train)

    user = _with_database(central.add_parser("user-add", help="add a dashboard user (password read from stdin)"))
    user.add_argument("username")
    user.add_argument("--role", choices=("viewer", "operator", "admin"), required=True)
    user.set_defaults(handler=_user_add)
    totp_reset = _with_database(central.add_parser(
        "user-totp-reset", help="remove a dashboard user's TOTP second factor (a lost phone); ends their sessions"))
    totp_reset.add_argument("username")
    totp_reset.set_defaults(handler=_user_totp_reset)
    password = _with_database(central.add_parser(
        "user-password", help="change a dashboard user's password (read from stdin): ends their sessions and push "
                              "subscriptions"))
    password.add_argument("username")
    password.set_defaults(handler=_user_password)

    backup_cli.add_commands(central)  # backup config|status|run, restore
    replication.add_commands(central)  # promote, failover-watch, replication-status
    from vigia.app.cli import central_api

    central_api.add_commands(central)  # api, api-client, api-gateway-config, site
    return central


def _with_database(parser: argparse.ArgumentParser) -> argparse.ArgumentParser:
    parser.add_argument("--database", default=os.environ.get(DSN_ENV),
                        help=f"PostgreSQL connection string (default: ${DSN_ENV}; prefer it for passwords)")
    return parser


def _with_bucket(parser: argparse.ArgumentParser, required: bool) -> argparse.ArgumentParser:
    parser.add_argument("--bucket", required=required,
                        help="S3 bucket for media (credentials: AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY)")
    parser.add_argument("--s3-endpoint", help="URL of an S3-compatible service (default: AWS)")
    parser.add_argument("--s3-region", default="us-east-1")
    return parser


def _with_broker(parser: argparse.ArgumentParser) -> argparse.ArgumentParser:
    parser.add_argument("--broker", default=os.environ.get(BROKER_ENV, "amqp://guest:guest@127.0.0.1:5672/"),
                        help=f"RabbitMQ URL (default: ${BROKER_ENV}, else the local broker; prefer it for passwords)")
    return parser


def _positive(value: str) -> int:
    """A whole number of at least 1."""
    try:
        number = int(value)
    except ValueError:
        number = 0
    if number < 1:
        raise argparse.ArgumentTypeError(f"{value!r} is not a whole number of at least 1")
    return number


def _proxy(value: str) -> str:
    """An address or a network, as given."""
    import ipaddress

    try:
        ipaddress.ip_network(value, strict=False)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{value!r} is neither an IP address nor a network (10.0.0.0/8)") from None
    return value


def _with_metrics_port(parser: argparse.ArgumentParser) -> argparse.ArgumentParser:
    parser.add_argument("--metrics-port", type=int, help="serve Prometheus metrics at /metrics on this port (default: none)")
    parser.add_argument("--metrics-host", default="127.0.0.1", help="address of the metrics listener (default 127.0.0.1)")
    return parser


def _metrics_at(args) -> tuple[str, int] | None:
    return None if args.metrics_port is None else (args.metrics_host, args.metrics_port)


def _dsn(args) -> str:
    if not args.database:
        raise CliError(f"no database: pass --database or set {DSN_ENV}")
    return args.database


def _media_settings(args):
    """Where central keeps media (--bucket ...), or None without a bucket."""
    from vigia.central.ingest.media import MediaSettings

    return MediaSettings(args.s3_endpoint, args.bucket, args.s3_region) if args.bucket else None


def _with_connection(args, work):
    """`work(conn)` on an autocommit connection to central's database, run to its end."""
    import psycopg

    async def run():
        async with await psycopg.AsyncConnection.connect(_dsn(args), autocommit=True) as conn:
            return await work(conn)

    return asyncio.run(run())


def _serve(args) -> int:
    from vigia.central.ingest.server import CentralSettings, serve
    from vigia.central.observability.metrics import new_registry
    from vigia.central.reanalysis.policy import Policy

    proxies = frozenset(args.trusted_proxy or ("127.0.0.1", "::1"))
    try:
        policy = None if args.no_reanalysis else Policy(alerts=not args.no_reanalyse_alerts, sample=args.reanalyse_sample,
                                                        score_below=args.reanalyse_below or None)
    except ValueError as exc:
        raise CliError(f"--reanalyse-sample: {exc}") from None
    collectors = []
    if args.backup_state is not None:
        from vigia.central.backup.metrics import saved_status_collector

        collectors.append(saved_status_collector(args.backup_state))
    asyncio.run(serve(CentralSettings(_dsn(args), args.ca_dir, proxies, media=_media_settings(args), reanalysis=policy,
                                      rollout_interval_s=args.rollout_interval or None),
                      args.host, args.port, new_registry(collectors)))
    return 0


def _init(args) -> int:
    from botocore.exceptions import BotoCoreError, ClientError

    from vigia.central.ingest.media import EXPIRY_DAYS, init_bucket

    try:
        created = init_bucket(_media_settings(args))
    except (BotoCoreError, ClientError) as exc:
        raise CliError(f"bucket {args.bucket}: {exc}") from None
    kept = ", ".join(f"{kind}s {days} days" for kind, days in EXPIRY_DAYS.items())
    print(f"bucket {args.bucket} {'made' if created else 'already there'}: encrypted (AES256); {kept};"
          " unfinished multipart uploads aborted after 1 day")
    return 0


def _migrate(args) -> int:
    from vigia.central.migrations import migrate

    version = _with_connection(args, migrate)
    print(f"central database at schema version {version}")
    return 0


def _ca_init(args) -> int:
    from vigia.central.ingest.ca import CaError, init_ca

    try:
        init_ca(args.ca_dir)
    except CaError as exc:
        raise CliError(str(exc)) from None
    print(f"CA made in {args.ca_dir}: give devices {args.ca_dir / 'ca.crt'}; keep ca.key secret")
    return 0


def _server_cert(args) -> int:
    from vigia.central.ingest.ca import CaError, issue_server_certificate, load_ca

    try:
        ca = load_ca(args.ca_dir)
    except CaError as exc:
        raise CliError(str(exc)) from None
    issue_server_certificate(ca, args.names, args.cert, args.key)
    print(f"certificate {args.cert}, key {args.key}")
    return 0


def _nginx_config(args) -> int:
    from vigia.central.ingest.nginx import NginxSite, nginx_config

    print(nginx_config(NginxSite(args.listen, args.upstream, args.cert.resolve(), args.key.resolve(),
                                 (args.ca_dir / "ca.crt").resolve(), args.prefix.resolve())), end="")
    return 0


def _token(args) -> int:
    from vigia.central.ingest.enrolment import create_token
    from vigia.central.migrations import migrate

    async def work(conn):
        await migrate(conn)
        return await create_token(conn, args.device_id, args.ttl)

    try:
        token = _with_connection(args, work)
    except ValueError as exc:
        raise CliError(str(exc), 2) from None
    print(token)
    return 0


def _revoke(args) -> int:
    from vigia.central.ingest.enrolment import revoke

    if not _with_connection(args, lambda conn: revoke(conn, args.device_id)):
        raise CliError(f"no enrolled, unrevoked device {args.device_id!r}")
    print(f"device {args.device_id} revoked")
    return 0


def _command(args) -> int:
    from vigia.central.ingest.command_store import issue
    from vigia.central.migrations import migrate

    if args.kind == "upload-clip":
        body = {"event_id": args.event_id}
    elif args.kind == "set-layout":
        try:
            body = {"camera": args.camera, "layout": json.loads(args.file.read_text())}
        except (OSError, ValueError) as exc:
            raise CliError(f"cannot read the layout {args.file}: {exc}", 2) from None
    else:
        body = {}

    async def work(conn):
        await migrate(conn)
        return await issue(conn, args.device_id, args.kind.replace("-", "_"), body, args.by or getpass.getuser())

    try:
        command_id = _with_connection(args, work)
    except ValueError as exc:
        raise CliError(str(exc), 2) from None
    print(f"command {command_id} ({args.kind}) queued for {args.device_id}")
    return 0


def _commands(args) -> int:
    from vigia.central.ingest.command_store import list_commands

    rows = _with_connection(args, lambda conn: list_commands(conn, args.device_id))
    if args.json:
        print(json.dumps(rows, default=str))
        return 0
    for row in rows:
        print(f"{row['id']:>6}  {row['kind']:<18} {row['state']:<8} {row['created_at']:%Y-%m-%d %H:%M:%S} "
              f"by {row['created_by']}  {json.dumps(row['result']) if row['result'] is not None else ''}")
    return 0


def _dashboard(args) -> int:
    import ssl

    from vigia.central.dashboard.app import DashboardSettings, serve
    from vigia.central.observability.metrics import new_registry

    if (args.cert is None) != (args.key is None):
        raise CliError("give both --cert and --key, or neither")
    tls = None
    if args.cert:
        tls = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        tls.load_cert_chain(args.cert, args.key)
    sso = None
    if args.sso_config is not None:
        from vigia.central.dashboard.sso_config import SsoConfigError, load_sso_settings

        try:
            sso = load_sso_settings(args.sso_config)
        except SsoConfigError as exc:
            raise CliError(str(exc), 2) from None
    settings = DashboardSettings(_dsn(args), online_minutes=args.online_minutes, media=_media_settings(args),
                                 read_dsn=args.read_database, sso=sso, admin_totp=args.admin_totp == "required",
                                 model_signing_dir=args.ca_dir)
    asyncio.run(serve(settings, args.host, args.port, tls, _metrics_at(args), new_registry()))
    return 0


def _user_add(args) -> int:
    from vigia.central.dashboard import accounts
    from vigia.central.migrations import migrate
    from vigia.kit.passwords import AccountError

    password = getpass.getpass("password: ") if sys.stdin.isatty() else sys.stdin.readline().rstrip("\n")

    async def work(conn) -> None:
        await migrate(conn)
        await accounts.add_user(conn, args.username, password, args.role)

    try:
        _with_connection(args, work)
    except AccountError as exc:
        raise CliError(str(exc), 2) from None
    print(f"dashboard user {args.username} added ({args.role})")
    return 0


def _user_totp_reset(args) -> int:
    from vigia.central.dashboard import totp
    from vigia.central.migrations import migrate

    async def work(conn) -> bool | None:
        await migrate(conn)
        cursor = await conn.execute("SELECT 1 FROM dashboard_users WHERE username = %s", [args.username])
        if await cursor.fetchone() is None:
            return None
        return await totp.reset(conn, args.username, via=f"cli:{os_user()}")

    removed = _with_connection(args, work)
    if removed is None:
        raise CliError(f"no dashboard user {args.username!r}", 2)
    print(f"second factor of {args.username} removed; its sessions are ended" if removed
          else f"{args.username} had no second factor")
    return 0


def _user_password(args) -> int:
    from vigia.central.dashboard import accounts
    from vigia.central.migrations import migrate
    from vigia.kit.passwords import AccountError

    password = getpass.getpass("new password: ") if sys.stdin.isatty() else sys.stdin.readline().rstrip("\n")
    ended: list[tuple[int, int]] = []

    async def work(conn) -> None:
        await migrate(conn)
        ended.append(await accounts.set_password(conn, args.username, password))

    try:
        _with_connection(args, work)
    except AccountError as exc:
        raise CliError(str(exc), 2) from None
    sessions, pushes = ended[0]
    print(f"password of dashboard user {args.username} changed: {sessions} sessions ended, {pushes} push "
          "subscriptions removed")
    return 0


def _worker(args) -> int:
    from vigia.appliance.config import Storage
    from vigia.central.observability.metrics import new_registry
    from vigia.central.reanalysis.broker import BrokerSettings
    from vigia.central.reanalysis.views import ViewSettings
    from vigia.central.reanalysis.worker import WorkerSettings, serve
    from vigia.inference.factory import create_detector
    from vigia.inference.model_store import resolve

    views = ViewSettings(tiles=not args.no_tiles, flip=not args.no_flip)
    model = resolve(args.models_dir or Storage().models, args.model)
    threads = args.threads or max(1, len(os.sched_getaffinity(0)) // args.local_workers)
    detector = create_detector(args.backend, model, score_threshold=views.score_threshold, threads=threads,
                               batching=None if args.batch is None else args.batch > 1, max_batch=args.batch or GPU_BATCH)
    batches = getattr(detector, "max_batch", 1) > 1
    concurrent = args.concurrent_jobs or (GPU_CONCURRENT_JOBS if batches else 1)
    log.info("worker detector: %s, %d intra-op threads, batches of up to %d images, %d jobs at once", detector.name,
             threads, getattr(detector, "max_batch", 1), concurrent)
    settings = WorkerSettings(_dsn(args), _media_settings(args), BrokerSettings(args.broker), views, model.stem,
                              concurrent_jobs=concurrent)
    try:
        asyncio.run(serve(settings, detector, _metrics_at(args), new_registry()))
    finally:
        detector.close()
    return 0


def _grafana_dashboards(args) -> int:
    from vigia.central.observability.grafana import write_dashboards

    try:
        written = write_dashboards(args.out)
    except OSError as exc:
        raise CliError(f"cannot write the dashboards to {args.out}: {exc}") from None
    print("\n".join(str(path) for path in written))
    return 0


def _reanalyse(args) -> int:
    import datetime as dt

    from vigia.central.reanalysis.jobs import request

    if (args.event_id is None) == (args.since is None):
        raise CliError("give an EVENT_ID or --since TIME (not both)")
    since = None
    if args.since is not None:
        try:
            since = dt.datetime.fromisoformat(args.since)
        except ValueError:
            raise CliError(f"--since {args.since!r} is not an ISO 8601 time (e.g. 2026-12-01T08:00:00+00:00)") from None
        since = since if since.tzinfo else since.replace(tzinfo=dt.timezone.utc)
    by = args.by or getpass.getuser()

    async def work(conn):
        return await request(conn, f"cli:{by}", args.device, event_id=args.event_id, since=since)

    created = _with_connection(args, work)
    if not created and args.event_id:
        raise CliError(f"device {args.device} has no event {args.event_id}, or it is being re-analysed already")
    print(json.dumps({"jobs": created}))
    return 0


def _reanalysis_status(args) -> int:
    from vigia.central.reanalysis.jobs import queue_stats

    print(json.dumps(_with_connection(args, queue_stats)))
    return 0


def _dataset(args) -> int:
    from vigia.central.reanalysis import datasets

    by = f"cli:{getattr(args, 'by', None) or getpass.getuser()}"

    async def work(conn):
        if args.action == "create":
            version, count = await datasets.create(conn, args.name, by)
            return {"name": args.name, "version": version, "examples": count}
        if args.action == "list":
            return await datasets.listing(conn)
        if args.action == "review":
            labels = json.loads(args.labels.read_text()) if args.labels else None
            await datasets.review(conn, args.example_id, args.decision, by, labels)
            return {"id": args.example_id, "review": args.decision}
        name, _, version = args.ref.partition("@")
        if not version.isdigit():
            raise CliError(f"{args.ref!r}: give NAME@VERSION (vigia central dataset list shows them)")
        from vigia.central.ingest.media import s3_client

        return await datasets.export_coco(conn, s3_client(_media_settings(args)), args.bucket, name, int(version), args.out)

    try:
        print(json.dumps(_with_connection(args, work)))
    except ValueError as exc:
        raise CliError(str(exc)) from None
    return 0


def _train(args) -> int:
    """Export the dataset version, train a candidate from it, print the gate's verdict; exit 3 when it is rejected."""
    import tempfile

    from vigia.central.ingest.media import s3_client
    from vigia.central.reanalysis import datasets
    from vigia.central.training.data import DatasetError
    from vigia.central.training.evaluate import GateSettings
    from vigia.central.training.pipeline import TrainingJob, train_candidate
    from vigia.central.training.train import TrainConfig
    from vigia.inference.errors import ModelError

    name, _, version = args.dataset.partition("@")
    if not name or not version.isdigit():
        raise CliError(f"--dataset {args.dataset!r}: give NAME@VERSION (vigia central dataset list shows them)")
    for field, path in (("--base", args.base), ("--replay", args.replay), ("--regression", args.regression)):
        if not path.is_file():
            raise CliError(f"{field}: {path} is not a file")
    with tempfile.TemporaryDirectory(prefix="vigia-train-") as folder:
        async def export(conn):
            return await datasets.export_coco(conn, s3_client(_media_settings(args)), args.bucket, name, int(version),
                                              Path(folder))

        try:
            _with_connection(args, export)
            config = TrainConfig(iterations=args.iterations, batch=args.batch, lr=args.lr, seed=args.seed,
                                 freeze_backbone=not args.train_backbone)
            job = TrainingJob(Path(folder), args.dataset, args.base, args.out, args.replay, args.regression,
                              replay_frames=args.replay_frames, regression_frames=args.regression_frames,
                              heldout_share=args.heldout_share, config=config,
                              gate=GateSettings(args.min_map_gain, args.regression_margin))
            candidate = train_candidate(job)
        except (ValueError, DatasetError, ModelError) as exc:
            raise CliError(str(exc)) from None
    record = _with_connection(args, lambda conn: _register_candidate(conn, _media_settings(args), candidate, args.name))
    print(json.dumps({"model": str(candidate.path), "lineage": str(candidate.lineage_path),
                      "sha256": candidate.lineage.sha256, "gate_passed": candidate.gate.passed,
                      "gate": candidate.gate.reasons, "train_seconds": candidate.lineage.train_seconds,
                      "model_id": record.id, "state": record.state}, indent=2))
    return 0 if candidate.gate.passed else 3


async def _register_candidate(conn, bucket, candidate, name: str | None):
    """The candidate in the registry (S3 and PostgreSQL) with its lineage and the gate's verdict: a rejected one stays
    a candidate flagged rejected (approving it needs an override)."""
    from dataclasses import asdict

    from vigia.central.migrations import migrate
    from vigia.central.models.registry import register_model

    await migrate(conn)
    lineage = asdict(candidate.lineage)
    metrics = {"gate": {"passed": candidate.gate.passed, "reasons": candidate.gate.reasons,
                        "settings": asdict(candidate.gate.settings)}, **lineage.pop("metrics")}
    return await register_model(conn, bucket, candidate.path, lineage, metrics, name=name, actor="central:train")
