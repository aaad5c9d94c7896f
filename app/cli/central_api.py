"""`vigia central api ...`: the external API for third-party systems, its clients, its gateway, device sites."""
from __future__ import annotations

import argparse
import asyncio
import json
import os
from pathlib import Path

from vigia.app.cli.common import CliError

REDIS_ENV = "VIGIA_REDIS_URL"
DSN_ENV = "VIGIA_CENTRAL_DATABASE"   # as `vigia central ...`


def _with_database(parser: argparse.ArgumentParser) -> argparse.ArgumentParser:
    parser.add_argument("--database", default=os.environ.get(DSN_ENV),
                        help=f"PostgreSQL connection string (default: ${DSN_ENV}; prefer it for passwords)")
    return parser


def _dsn(args) -> str:
    if not args.database:
        raise CliError(f"no database: pass --database or set {DSN_ENV}")
    return args.database


def _with_connection(args, work):
    """`work(conn)` on an autocommit connection to central's database (migrated first), run to its end."""
    import psycopg

    from vigia.central.migrations import migrate

    async def run():
        async with await psycopg.AsyncConnection.connect(_dsn(args), autocommit=True) as conn:
            await migrate(conn)
            return await work(conn)

    return asyncio.run(run())


def add_commands(central: argparse._SubParsersAction) -> None:
    """Add `api`, `api-client`, `api-gateway-config` and `site` to `vigia central`."""
    api = _with_database(central.add_parser(
        "api", help="serve the external API (REST /api/v1, GraphQL /graphql, OAuth2) behind the gateway"))
    api.add_argument("--bucket", help="S3 bucket of the clips (credentials: AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY)")
    api.add_argument("--s3-endpoint", help="URL of an S3-compatible service (default: AWS)")
    api.add_argument("--s3-region", default="us-east-1")
    api.add_argument("--host", default="127.0.0.1")
    api.add_argument("--port", type=int, default=8800)
    api.add_argument("--redis", default=os.environ.get(REDIS_ENV, "redis://127.0.0.1:6379/0"),
                     help=f"Redis URL, shared by every instance (default: ${REDIS_ENV}, else the local one)")
    api.add_argument("--redis-prefix", default="vigia:api:", help="prefix of this API's keys in Redis")
    api.add_argument("--cache-seconds", type=float, default=5.0, help="answers cached this long (0: none; default 5)")
    api.add_argument("--trusted-proxy", action="append", default=None,
                     help="address whose X-Real-IP is believed (default: 127.0.0.1 and ::1)")
    api.set_defaults(handler=_api)

    clients = central.add_parser("api-client", help="clients of the external API").add_subparsers(
        metavar="ACTION", dest="action", required=True)
    add = _with_database(clients.add_parser("add", help="register a client; its secret is printed once"))
    add.add_argument("client_id")
    add.add_argument("--name", help="who it is (default: the id)")
    add.add_argument("--scope", action="append", required=True,
                     help="devices:read, events:read, tracks:read, verdicts:read or clips:read (repeat for more)")
    add.add_argument("--site", action="append", help="a site whose devices it sees (repeat; default: every site)")
    add.add_argument("--rate", type=int, default=600, help="calls a minute (default 600)")
    listing = _with_database(clients.add_parser("list", help="clients, their scopes, sites and limits"))
    listing.add_argument("--json", action="store_true")
    revoke = _with_database(clients.add_parser("revoke", help="revoke a client (or only its tokens) at once"))
    revoke.add_argument("client_id")
    revoke.add_argument("--tokens-only", action="store_true", help="revoke its tokens; it may ask for new ones")
    for parser in (add, listing, revoke):
        parser.set_defaults(handler=_api_client)

    gateway = central.add_parser("api-gateway-config", help="print the NGINX gateway config of the external API")
    gateway.add_argument("--listen", required=True, help="host:port")
    gateway.add_argument("--upstream", action="append", required=True, help="an API instance, host:port")
    gateway.add_argument("--cert", type=Path, required=True)
    gateway.add_argument("--key", type=Path, required=True)
    gateway.add_argument("--prefix", type=Path, required=True, help="folder for pid, logs and temporary files")
    gateway.add_argument("--max-body", type=int, default=64 << 10, help="largest request body, bytes (default 64 KiB)")
    gateway.set_defaults(handler=_gateway_config)

    site = _with_database(central.add_parser("site", help="put a device in a site (API clients are scoped by site)"))
    site.add_argument("device_id")
    site.add_argument("site")
    site.set_defaults(handler=_site)


def _api(args) -> int:
    from vigia.central.api.app import serve
    from vigia.central.api.common import ApiSettings
    from vigia.central.ingest.media import MediaSettings

    media = MediaSettings(args.s3_endpoint, args.bucket, args.s3_region) if args.bucket else None
    settings = ApiSettings(_dsn(args), redis_url=args.redis, redis_prefix=args.redis_prefix,
                           cache_ttl_s=args.cache_seconds, media=media,
                           trusted_proxies=frozenset(args.trusted_proxy or ("127.0.0.1", "::1")))
    asyncio.run(serve(settings, args.host, args.port))
    return 0


def _api_client(args) -> int:
    from vigia.central.api import clients

    async def work(conn):
        if args.action == "add":
            try:
                secret = await clients.add_client(conn, args.client_id, args.name or args.client_id, args.scope,
                                                  args.site, args.rate)
            except clients.ClientError as exc:
                raise CliError(str(exc)) from None
            print(f"client {args.client_id}: scopes {' '.join(sorted(set(args.scope)))};"
                  f" sites {', '.join(args.site) if args.site else 'all'}; {args.rate} calls a minute")
            print(f"secret (shown once, keep it safe): {secret}")
        elif args.action == "list":
            rows = await clients.list_clients(conn)
            if args.json:
                print(json.dumps([{**vars(c), "created_at": c.created_at.isoformat(), "secret_sha256": None,
                                   "revoked_at": c.revoked_at.isoformat() if c.revoked_at else None} for c in rows]))
            for c in [] if args.json else rows:
                state = f"revoked {c.revoked_at:%Y-%m-%d %H:%M}" if c.revoked_at else "active"
                print(f"{c.client_id:<24} {state:<24} {','.join(c.scopes):<48} sites: {','.join(c.sites or ['all'])}"
                      f"  {c.rate_per_minute}/min")
        elif args.tokens_only:
            print(f"{await clients.revoke_tokens(conn, args.client_id)} token(s) of {args.client_id} revoked")
        elif await clients.revoke_client(conn, args.client_id):
            print(f"client {args.client_id} and its tokens revoked")
        else:
            raise CliError(f"no client {args.client_id!r}")
        return 0

    return _with_connection(args, work)


def _gateway_config(args) -> int:
    from vigia.central.api.nginx import GatewaySite, gateway_config

    print(gateway_config(GatewaySite(args.listen, args.upstream, args.cert.resolve(), args.key.resolve(),
                                     args.prefix.resolve(), args.max_body)), end="")
    return 0


def _site(args) -> int:
    from vigia.central.api.clients import SITE
    from vigia.central.dashboard import queries

    if not SITE.fullmatch(args.site):
        raise CliError("a site is 1 to 64 characters, no control characters")

    async def work(conn):
        if not await queries.set_site(conn, args.device_id, args.site):
            raise CliError(f"no device {args.device_id!r}")
        print(f"device {args.device_id} is in site {args.site}")
        return 0

    return _with_connection(args, work)
