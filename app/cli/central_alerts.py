"""`vigia central alerts-watch` (the evaluator: alerts opened, escalated, resolved, notified) and
`vigia central alerts` (the alerts and their notifications)."""
from __future__ import annotations

import argparse
import asyncio
import json
import signal
from pathlib import Path

from vigia.app.cli.central import _dsn, _with_connection, _with_database
from vigia.app.cli.common import CliError


def add_commands(central: argparse._SubParsersAction) -> None:
    watch = _with_database(central.add_parser(
        "alerts-watch", help="central alerts: evaluate the fleet's conditions, escalate, notify (one instance at a time)"))
    watch.add_argument("--config", type=Path, required=True, help="the alerts' YAML file (README: Central alerts)")
    watch.add_argument("--once", action="store_true", help="one evaluation, printed as JSON, then exit")
    watch.set_defaults(handler=_watch)
    listing = _with_database(central.add_parser("alerts", help="central alerts (open ones; --all: resolved too)"))
    listing.add_argument("--all", action="store_true")
    listing.add_argument("--json", action="store_true")
    listing.set_defaults(handler=_list)


def _config(path: Path):
    from vigia.central.alerts.config import ConfigError, load_config

    try:
        return load_config(path)
    except ConfigError as exc:
        raise CliError(str(exc), 2) from None


def _watch(args) -> int:
    from vigia.central.alerts.watch import Evaluator, try_lock, watch
    from vigia.central.migrations import migrate

    config = _config(args.config)
    if args.once:
        async def once(conn):
            await migrate(conn)
            if not await try_lock(conn):
                raise CliError("another evaluator holds the lock (alerts-watch is running)")
            return await (await Evaluator.create(conn, config)).evaluate(conn)

        print(json.dumps(_with_connection(args, once).__dict__))
        return 0

    async def run():
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, stop.set)
        await watch(_dsn(args), config, stop)

    asyncio.run(run())
    return 0


def _list(args) -> int:
    from vigia.central.alerts import delivery, store
    from vigia.central.migrations import migrate

    async def work(conn):
        await migrate(conn)
        alerts = await store.list_alerts(conn, args.all, 1000)
        return [(a, await delivery.deliveries(conn, a.id)) for a in alerts]

    rows = _with_connection(args, work)
    if args.json:
        print(json.dumps([a.as_json() | {"deliveries": d} for a, d in rows]))
        return 0
    for alert, sent in rows:
        state = "resolved" if alert.resolved_at else f"acked by {alert.acked_by}" if alert.acked_at else "open"
        print(f"{alert.id:>6}  {alert.kind:<15} level {alert.level}  {state:<20} {alert.opened_at:%Y-%m-%d %H:%M:%S}  "
              f"{alert.summary}  ({sum(d['state'] == 'delivered' for d in sent)}/{len(sent)} notifications delivered)")
    return 0
