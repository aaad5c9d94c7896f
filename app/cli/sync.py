"""`vigia enroll` and `vigia sync status|dead-letters`: the appliance's link to central; `vigia litestream` and
`vigia restore` (its database's replica) come from `vigia.sync.litestream`."""
from __future__ import annotations

import argparse
import asyncio
import json
import sys
from dataclasses import asdict
from pathlib import Path

from vigia.app.cli.common import CliError, add_config_argument, storage_settings
from vigia.sync.litestream import add_commands as add_litestream_commands


def add_commands(commands: argparse._SubParsersAction) -> None:
    enroll = commands.add_parser("enroll", help="enrol this appliance with central (token read from stdin)")
    enroll.add_argument("--central", required=True, help="central's URL, https://...")
    enroll.add_argument("--ca", type=Path, required=True, help="central's CA certificate (PEM)")
    add_config_argument(enroll)
    enroll.set_defaults(handler=_enroll)

    sync = commands.add_parser("sync", help="the appliance's link to central").add_subparsers(metavar="ACTION")
    status = sync.add_parser("status", help="enrolment and outbox backlog")
    add_config_argument(status)
    status.add_argument("--json", action="store_true")
    status.set_defaults(handler=_status)
    letters = sync.add_parser("dead-letters", help="records central refused as malformed, kept here")
    add_config_argument(letters)
    letters.add_argument("--limit", type=int, default=50, help="the newest so many (default 50)")
    letters.add_argument("--json", action="store_true", help="one JSON list, bodies included")
    letters.set_defaults(handler=_dead_letters)

    add_litestream_commands(commands)  # vigia litestream config|mirror, vigia restore


def _enroll(args) -> int:
    from vigia.appliance.storage import database
    from vigia.provisioning.identity import IdentityError, load_or_create_identity
    from vigia.sync.identity import EnrolmentError, enrol, identity_folder

    storage = storage_settings(args.config)
    token = sys.stdin.readline().strip()
    if not token:
        raise CliError("give the enrolment token on stdin", 2)
    try:  # the device's permanent identity (as the appliance makes it at first start) signs the CSR
        identity = load_or_create_identity(storage.data_dir)
        enrolment = asyncio.run(enrol(identity_folder(storage.data_dir), args.central, token, args.ca.read_bytes(),
                                      identity))
    except (IdentityError, EnrolmentError, OSError) as exc:
        raise CliError(str(exc)) from None
    with database(storage.database) as db:  # central may hold records of this device id (a re-enrolment): go on after them
        db.execute("UPDATE sync_state SET value = max(value, ?) WHERE name = 'last_seq'", [enrolment.high_water])
    print(f"enrolled as {enrolment.identity.device_id} (device identity {identity.short_id})"
          f" with {enrolment.identity.central_url}")
    return 0


def _status(args) -> int:
    from vigia.appliance.outbox import backlog
    from vigia.appliance.storage import database
    from vigia.sync.identity import identity_folder, load_identity

    storage = storage_settings(args.config)
    identity = load_identity(identity_folder(storage.data_dir))
    with database(storage.database) as db:
        pending = backlog(db.conn)
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

    from vigia.appliance.outbox import dead_letters
    from vigia.appliance.storage import database

    with database(storage_settings(args.config).database) as db:
        letters = dead_letters(db.conn, args.limit)
    if args.json:
        print(json.dumps([asdict(letter) for letter in letters]))
        return 0
    for letter in letters:
        when = dt.datetime.fromtimestamp(letter.rejected_at).strftime("%Y-%m-%d %H:%M:%S")
        print(f"{letter.seq:>8}  {when}  {letter.kind:<13} {letter.key}  {letter.error}")
    return 0
