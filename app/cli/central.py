"""`vigia central dashboard` (serve the fleet dashboard) and `vigia central user-add` (its users)."""
from __future__ import annotations

import argparse
import asyncio
import getpass
import ssl
import sys
from collections.abc import Callable
from pathlib import Path


def add_commands(central: argparse._SubParsersAction, with_database: Callable[..., argparse.ArgumentParser],
                 with_bucket: Callable[..., argparse.ArgumentParser]) -> None:
    dashboard = with_database(central.add_parser("dashboard", help="serve the fleet dashboard at /dashboard/"))
    with_bucket(dashboard, required=False)  # where the thumbnails are; without it the dashboard shows none
    dashboard.add_argument("--host", default="127.0.0.1")
    dashboard.add_argument("--port", type=int, default=8700)
    dashboard.add_argument("--cert", type=Path, help="TLS certificate (PEM); without it, plain HTTP behind a TLS proxy")
    dashboard.add_argument("--key", type=Path, help="the certificate's private key (PEM)")
    dashboard.add_argument("--online-minutes", type=float, default=5.0,
                           help="a device with a batch applied within this is online (default 5)")
    dashboard.set_defaults(handler=_dashboard)

    user = with_database(central.add_parser("user-add", help="add a dashboard user (password read from stdin)"))
    user.add_argument("username")
    user.add_argument("--role", choices=("viewer", "operator", "admin"), required=True)
    user.set_defaults(handler=_user_add)


def _dsn(args) -> str:
    from vigia.app.cli.sync import _dsn

    return _dsn(args)


def _media(args):
    from vigia.app.cli.sync import _media_settings

    return _media_settings(args) if args.bucket else None


def _dashboard(args) -> int:
    from vigia.central.dashboard.app import DashboardSettings, serve

    if (args.cert is None) != (args.key is None):
        raise SystemExit("vigia: give both --cert and --key, or neither")
    tls = None
    if args.cert:
        tls = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        tls.load_cert_chain(args.cert, args.key)
    settings = DashboardSettings(_dsn(args), online_minutes=args.online_minutes, media=_media(args))
    asyncio.run(serve(settings, args.host, args.port, tls))
    return 0


def _user_add(args) -> int:
    import psycopg

    from vigia.central.dashboard import accounts
    from vigia.central.migrations import migrate
    from vigia.kit.passwords import AccountError

    password = getpass.getpass("password: ") if sys.stdin.isatty() else sys.stdin.readline().rstrip("\n")

    async def work() -> None:
        async with await psycopg.AsyncConnection.connect(_dsn(args), autocommit=True) as conn:
            await migrate(conn)
            await accounts.add_user(conn, args.username, password, args.role)

    try:
        asyncio.run(work())
    except AccountError as exc:
        print(f"vigia: {exc}", file=sys.stderr)
        return 2
    print(f"dashboard user {args.username} added ({args.role})")
    return 0
