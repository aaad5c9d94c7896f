"""`vigia central failover-watch | promote | replication-status`: central's PostgreSQL primary and hot standby
(vigia.central.replication). Connection strings name a role that may promote and ALTER SYSTEM (a superuser, or
one granted EXECUTE on pg_promote and ALTER SYSTEM on synchronous_standby_names and
default_transaction_read_only); keep passwords in ~/.pgpass, not on the command line."""
from __future__ import annotations

import argparse
import asyncio
import json
import logging
import signal

from vigia.app.cli.common import CliError


def add_commands(central: argparse._SubParsersAction) -> None:
    watch = _with_nodes(central.add_parser(
        "failover-watch", help="promote the standby when the primary is gone; relax synchronous commit when the"
        " standby is gone; fence a stale primary (run one, on the standby's host)"))
    watch.add_argument("--standby-name", default="standby",
                       help="the standby's application_name, restored into synchronous_standby_names (default standby)")
    watch.add_argument("--promote-after", type=float, default=5.0, metavar="SECONDS",
                       help="promote once no primary has answered this long (default 5)")
    watch.add_argument("--relax-after", type=float, default=5.0, metavar="SECONDS",
                       help="relax synchronous commit once no standby has streamed this long (default 5)")
    watch.set_defaults(handler=_watch)

    promote = central.add_parser("promote", help="promote the hot standby now (an operator's failover)")
    promote.add_argument("--database", required=True, help="the standby's connection string")
    promote.set_defaults(handler=_promote)

    status = _with_nodes(central.add_parser("replication-status", help="each node's role, timeline, standbys, degraded"))
    status.set_defaults(handler=_status)


def _with_nodes(parser: argparse.ArgumentParser) -> argparse.ArgumentParser:
    parser.add_argument("--node", action="append", required=True, metavar="NAME=CONNINFO",
                        help="a PostgreSQL node (twice: the primary and the standby)")
    return parser


def _nodes(args) -> dict[str, str]:
    nodes = {}
    for item in args.node:
        name, sep, conninfo = item.partition("=")
        if not sep or not name or not conninfo:
            raise CliError(f"--node {name or item!r}: expected NAME=CONNINFO")
        nodes[name] = conninfo
    if len(nodes) != 2:
        raise CliError(f"give two --node (the primary and the standby), not {len(nodes)}")
    return nodes


def _watch(args) -> int:
    from vigia.central.replication.watchdog import Watchdog, WatchSettings

    try:
        settings = WatchSettings(_nodes(args), args.standby_name, args.promote_after, args.relax_after)
    except ValueError as exc:
        raise CliError(str(exc), 2) from None
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")

    async def run():
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, stop.set)
        await Watchdog(settings).run(stop)

    asyncio.run(run())
    return 0


def _promote(args) -> int:
    import psycopg

    from vigia.central.replication.watchdog import promote

    try:
        asyncio.run(promote(args.database))
    except (psycopg.Error, RuntimeError) as exc:
        raise CliError(f"not promoted: {exc}") from None
    print("promoted; synchronous commit is off on it until a standby streams (`vigia central failover-watch`"
          " restores it)")
    return 0


def _status(args) -> int:
    from vigia.central.replication.status import node_status

    async def read(nodes):
        found = await asyncio.gather(*(node_status(c) for c in nodes.values()))
        return {name: s.as_json() if s else {"role": "unreachable"} for name, s in zip(nodes, found)}

    print(json.dumps(asyncio.run(read(_nodes(args)))))
    return 0
