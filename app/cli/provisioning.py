"""The provisioning commands of `vigia`: status, discover, provision."""
from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Callable
from pathlib import Path

from vigia.app.cli.common import DATA_DIR_HELP, CliError, add_config_argument, storage_settings
from vigia.appliance.config import default_data_dir


def add_commands(commands) -> None:
    """Register the provisioning subcommands on `vigia`'s subparsers."""
    status = commands.add_parser("status", help="the device's id, setup state and (while unclaimed) claim code")
    add_config_argument(status)
    status.add_argument("--json", action="store_true")
    status.set_defaults(handler=_status)

    discover = commands.add_parser("discover", help="list the Vigia appliances announced on the LAN (mDNS)")
    discover.add_argument("--timeout", type=float, default=3.0, help="seconds to listen (default 3)")
    discover.add_argument("--interface", action="append", default=[], metavar="ADDRESS",
                          help="listen on the interface with this IPv4 address (repeatable; default: all)")
    discover.add_argument("--json", action="store_true", help="one JSON array")
    discover.set_defaults(handler=_discover)

    provision = commands.add_parser(
        "provision", help="apply a signed provisioning file; keygen and sign for the fleet side",
        usage="vigia provision FILE.yml [--signature SIG] [--fleet-key PUB] [--data-dir DIR]\n"
              "       vigia provision keygen [--out KEY]\n"
              "       vigia provision sign FILE.yml --key KEY [--out SIG]\n"
              "       vigia provision usb (DEVICE | --watch) [--restart UNIT] [--fleet-key PUB] [--data-dir DIR]")
    provision.add_argument("target", help="the provisioning file, or keygen / sign / usb")
    provision.add_argument("rest", nargs=argparse.REMAINDER, help=argparse.SUPPRESS)
    provision.set_defaults(handler=_provision)


DEFAULT_FLEET_KEY = Path("/etc/vigia/fleet.pub")  # baked into the appliance image


def provision_arguments(args: argparse.Namespace) -> tuple[Callable[[argparse.Namespace], int], argparse.Namespace]:
    """What `vigia provision TARGET ...` runs (keygen, sign, usb, or applying the file TARGET) and its arguments."""
    handlers = {"keygen": (_keygen_parser, _keygen), "sign": (_sign_parser, _sign), "usb": (_usb_parser, _usb)}
    make_parser, handler = handlers.get(args.target, (_apply_parser, _apply))
    rest = args.rest if args.target in handlers else [args.target, *args.rest]
    return handler, make_parser().parse_args(rest)


def _provision(args) -> int:
    handler, arguments = provision_arguments(args)
    return handler(arguments)


def _apply_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="vigia provision", description="apply a signed provisioning file")
    parser.add_argument("file", type=Path)
    parser.add_argument("--signature", type=Path, help="default: FILE.sig beside it")
    _device_arguments(parser)
    return parser


def _usb_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="vigia provision usb", description="provision from USB sticks (as root)")
    which = parser.add_mutually_exclusive_group(required=True)
    which.add_argument("device", nargs="?", help="a block device to read once (/dev/sdb1)")
    which.add_argument("--watch", action="store_true", help="every USB stick present or plugged in, until stopped")
    parser.add_argument("--restart", metavar="UNIT", help="systemctl try-restart UNIT after a file is applied")
    _device_arguments(parser)
    return parser


def _device_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--fleet-key", type=Path,
                        help=f"the fleet's public key (default: VIGIA_FLEET_KEY or {DEFAULT_FLEET_KEY})")
    parser.add_argument("--data-dir", type=Path, help=f"the device's data dir (default: {DATA_DIR_HELP})")


def _keygen_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="vigia provision keygen", description="make the fleet's signing key")
    parser.add_argument("--out", type=Path, default=Path("fleet-provisioning.key"),
                        help="private key to write (0600); the public key goes to OUT.pub")
    return parser


def _sign_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="vigia provision sign", description="sign a provisioning file")
    parser.add_argument("file", type=Path)
    parser.add_argument("--key", type=Path, required=True, help="the fleet's private key")
    parser.add_argument("--out", type=Path, help="signature file (default: FILE.sig)")
    return parser


def _device_side(args):
    """(data dir, fleet public key) of `vigia provision` and `vigia provision usb`."""
    import os

    from vigia.provisioning.signed import load_public_key

    fleet_key = args.fleet_key or Path(os.environ.get("VIGIA_FLEET_KEY", DEFAULT_FLEET_KEY))
    return args.data_dir or default_data_dir(), load_public_key(fleet_key)


def _apply(args) -> int:
    from vigia.provisioning.apply import apply_provisioning
    from vigia.provisioning.document import ProvisioningError
    from vigia.provisioning.identity import IdentityError
    from vigia.provisioning.signed import SignatureError
    from vigia.provisioning.state import SetupError

    try:
        data_dir, fleet_key = _device_side(args)
        applied = apply_provisioning(args.file, data_dir, fleet_key, via="provisioning-file",
                                     signature_path=args.signature)
    except (SignatureError, ProvisioningError, SetupError, IdentityError) as exc:
        raise CliError(f"refused: {exc}", 2) from None
    print(f"provisioned {applied.device_id[:8]} for site {applied.site!r} (serial {applied.serial}, "
          f"{applied.cameras} cameras): {applied.config_file}; the device is claimed. "
          f"Restart the appliance to use it (systemctl restart vigia).")
    return 0


def _usb(args) -> int:
    import signal
    import subprocess
    import threading

    from vigia.provisioning.signed import SignatureError
    from vigia.provisioning.usb import provision_from_device, watch

    try:
        data_dir, fleet_key = _device_side(args)
    except SignatureError as exc:
        raise CliError(str(exc), 2) from None

    def report(outcome) -> None:
        print(f"{outcome.outcome}: {outcome.message}", flush=True)
        if outcome.outcome == "applied" and args.restart:
            subprocess.run(["systemctl", "try-restart", args.restart], check=False)

    if not args.watch:
        outcome = provision_from_device(args.device, data_dir, fleet_key)
        report(outcome)
        return {"applied": 0, "no-file": 1}.get(outcome.outcome, 2)
    stop = threading.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, lambda *_: stop.set())
    watch(data_dir, fleet_key, stop, on_report=report)
    return 0


def _keygen(args) -> int:
    from vigia.provisioning.signed import key_id, keygen, load_public_key

    try:
        public = keygen(args.out)
    except OSError as exc:
        raise CliError(str(exc)) from None
    print(f"fleet key {key_id(load_public_key(public))}: private {args.out} (keep it off the devices), public {public}")
    return 0


def _sign(args) -> int:
    from vigia.kit.files import write_atomic
    from vigia.provisioning.document import ProvisioningError, parse_provisioning
    from vigia.provisioning.signed import SignatureError, load_private_key, sign

    out = args.out or args.file.with_name(args.file.name + ".sig")
    try:
        data = args.file.read_bytes()
        provisioning = parse_provisioning(data, str(args.file))  # refuse to sign what no device would accept
        signature = sign(data, load_private_key(args.key))
        write_atomic(out, signature.text().encode(), 0o644)
    except (ProvisioningError, SignatureError) as exc:
        raise CliError(str(exc), 2) from None
    except OSError as exc:
        raise CliError(f"{exc.filename or args.file}: {exc.strerror or exc}") from None
    print(f"signed {args.file} (serial {provisioning.serial}) with fleet key {signature.key_id}: {out}")
    return 0


def _status(args) -> int:
    from vigia.provisioning.identity import IdentityError, load_or_create_identity
    from vigia.provisioning.state import SetupError, claim_code, load_setup
    from vigia.sync.identity import identity_folder, load_identity

    data_dir = storage_settings(args.config).data_dir
    try:
        identity = load_or_create_identity(data_dir)
        setup = load_setup(data_dir, identity)
        enrolment = load_identity(identity_folder(data_dir))
    except (IdentityError, SetupError, OSError) as exc:
        raise CliError(str(exc)) from None
    info = {"device_id": identity.device_id, "short_id": identity.short_id, "hostname": f"{identity.hostname}.local",
            "state": setup.state, "claim_code": claim_code(identity, setup), "claimed_at": setup.claimed_at,
            "claimed_via": setup.claimed_via, "provision_serial": setup.provision_serial,
            "central_name": enrolment and enrolment.device_id, "central_url": enrolment and enrolment.central_url}
    if args.json:
        print(json.dumps(info))
        return 0
    print(f"device     {identity.short_id}  ({info['hostname']})")
    print(f"device id  {identity.device_id}  (its identity; its name at central is another)")
    if enrolment is None:
        print("central    not enrolled (the name central will know it by is chosen at `vigia central token NAME`)")
    else:
        print(f"central    known as {enrolment.device_id} at {enrolment.central_url}")
    print(f"state      {setup.state}")
    if info["claim_code"]:
        print(f"claim code {info['claim_code']}")
    else:
        print(f"claimed    via {setup.claimed_via}, provisioning serial {setup.provision_serial}")
    return 0


def _discover(args) -> int:
    from dataclasses import asdict

    from vigia.provisioning.mdns import MdnsError, discover

    try:
        found = discover(args.timeout, args.interface)
    except MdnsError as exc:
        raise CliError(str(exc)) from None
    if args.json:
        print(json.dumps([asdict(f) for f in found]))
        return 0
    if not found:
        print(f"no Vigia appliance answered within {args.timeout:g} s", file=sys.stderr)
    for f in found:
        where = ", ".join(f"https://{a}:{f.port}/" for a in f.addresses)
        print(f"{f.name:16} {f.state:10} {f.version:8} {f.host:22} {where}")
    return 0
