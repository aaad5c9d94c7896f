"""`vigia users add|list|passwd|totp-reset` and `vigia tls info`: who may use the guards' web UI, and the certificate
it serves."""
from __future__ import annotations

import argparse
import json
import time

from vigia.app.cli.common import CliError, add_config_argument, os_user, read_password, settings, storage_settings


def add_commands(commands: argparse._SubParsersAction) -> None:
    users = commands.add_parser("users", help="local accounts of the guards' web UI").add_subparsers(metavar="ACTION")
    add = users.add_parser("add", help="create an account; the password is read from stdin or asked for")
    add.add_argument("name")
    add.add_argument("--role", required=True, choices=["guard", "installer", "admin"])
    add_config_argument(add, "its database")
    add.set_defaults(handler=_users_add)
    listing = users.add_parser("list", help="list the accounts")
    add_config_argument(listing, "its database")
    listing.add_argument("--json", action="store_true")
    listing.set_defaults(handler=_users_list)
    passwd = users.add_parser("passwd", help="set a new password (ends the user's sessions, clears a lockout)")
    passwd.add_argument("name")
    add_config_argument(passwd, "its database")
    passwd.set_defaults(handler=_users_passwd)
    reset = users.add_parser("totp-reset", help="remove a user's TOTP second factor (a lost phone): they enrol again "
                             "at their next login; ends their sessions")
    reset.add_argument("name")
    add_config_argument(reset, "its database")
    reset.set_defaults(handler=_users_totp_reset)

    tls = commands.add_parser("tls", help="the HTTPS certificate").add_subparsers(metavar="ACTION")
    info = tls.add_parser("info", help="the certificate served (made now if missing) and its SHA-256 fingerprint")
    add_config_argument(info, "its data directory and HTTP settings")
    info.set_defaults(handler=_tls_info)


def _users_add(args) -> int:
    from vigia.appliance.storage import database
    from vigia.local_ui.accounts import add_user

    password = read_password()
    try:
        with database(storage_settings(args.config).database) as db:
            add_user(db, args.name, password, args.role, actor=None, remote="local", via=f"cli:{os_user()}")
    except ValueError as exc:  # AccountError: a bad name, role or password
        raise CliError(str(exc), 2) from None
    print(f"user {args.name} added ({args.role})")
    return 0


def _users_list(args) -> int:
    from vigia.appliance.storage import database
    from vigia.local_ui.accounts import list_users

    with database(storage_settings(args.config).database) as db:
        users = list_users(db)
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
    from vigia.appliance.storage import database
    from vigia.local_ui.accounts import set_password

    password = read_password("new password: ")
    try:
        with database(storage_settings(args.config).database) as db:
            set_password(db, args.name, password, actor=None, remote="local", via=f"cli:{os_user()}")
    except ValueError as exc:  # AccountError: a bad name, role or password
        raise CliError(str(exc), 2) from None
    print(f"password of {args.name} changed; its sessions are ended")
    return 0


def _users_totp_reset(args) -> int:
    from vigia.appliance.storage import database
    from vigia.local_ui.accounts import get_user
    from vigia.local_ui.totp import reset

    with database(storage_settings(args.config).database) as db:
        if get_user(db, args.name) is None:
            raise CliError(f"no user {args.name!r}", 2)
        removed = reset(db, args.name, actor=None, remote="local", via=f"cli:{os_user()}")
    print(f"second factor of {args.name} removed; its sessions are ended" if removed
          else f"{args.name} had no second factor")
    return 0


def _tls_info(args) -> int:
    from cryptography import x509

    from vigia.local_ui.tls import TlsError, fingerprint, tls_files

    storage, http = settings(args.config)
    if not http.tls:
        raise CliError("tls is off in this config (a reverse proxy terminates TLS)")
    try:
        files = tls_files(http, storage.data_dir)
        cert = x509.load_pem_x509_certificate(files.certificate.read_bytes())
    except (TlsError, OSError, ValueError) as exc:
        raise CliError(str(exc)) from None
    names = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    print(f"certificate  {files.certificate}{' (self-signed)' if files.self_signed else ''}")
    print(f"names        {', '.join(str(n.value) for n in names)}")
    print(f"valid until  {cert.not_valid_after_utc:%Y-%m-%d %H:%M} UTC")
    print(f"SHA-256      {fingerprint(files.certificate)}")
    return 0
