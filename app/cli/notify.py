"""`vigia notify log|status`: the rules' notifications (MQTT, webhooks): every delivery try, and each queue."""
from __future__ import annotations

import argparse
import json
from dataclasses import asdict

from vigia.app.cli.common import add_config_argument, storage_settings


def add_commands(commands: argparse._SubParsersAction) -> None:
    notify = commands.add_parser("notify", help="notifications to MQTT and webhooks").add_subparsers(metavar="ACTION")
    log = notify.add_parser("log", help="the delivery log, newest first: every try, and drops")
    add_config_argument(log)
    log.add_argument("--sink", help="one destination: mqtt, webhook:NAME")
    log.add_argument("--key", help="one notification (EVENT_ID:open) or both of an event (EVENT_ID)")
    log.add_argument("--limit", type=int, default=50, help="the newest so many (default 50)")
    log.add_argument("--json", action="store_true", help="one JSON list")
    log.set_defaults(handler=_log)
    status = notify.add_parser("status", help="each destination's queue: waiting, oldest, delivered, dropped")
    add_config_argument(status)
    status.add_argument("--json", action="store_true")
    status.set_defaults(handler=_status)


def _log(args) -> int:
    import datetime as dt

    from vigia.appliance.notify.queue import delivery_log
    from vigia.appliance.storage import database

    with database(storage_settings(args.config).database) as db:
        attempts = delivery_log(db.conn, sink=args.sink, key=args.key, limit=args.limit)
    if args.json:
        print(json.dumps([attempt.to_json() for attempt in attempts]))
        return 0
    for a in attempts:
        when = dt.datetime.fromtimestamp(a.at).strftime("%Y-%m-%d %H:%M:%S")
        print(f"{when}  {a.sink:<16} {a.key:<34} try {a.attempt:<3} {a.outcome:<9} {a.detail}")
    return 0


def _status(args) -> int:
    import datetime as dt

    from vigia.appliance.notify.queue import queue_states
    from vigia.appliance.storage import database

    with database(storage_settings(args.config).database) as db:
        states = queue_states(db.conn)
    if args.json:
        print(json.dumps([asdict(state) for state in states]))
        return 0
    for s in states:
        oldest = dt.datetime.fromtimestamp(s.oldest_waiting_at).strftime("%Y-%m-%d %H:%M:%S") if s.oldest_waiting_at else "-"
        print(f"{s.sink:<16} waiting {s.waiting:<6} oldest {oldest:<19}  delivered {s.delivered:<6} dropped {s.dropped}")
    return 0
