"""The `vigia` command: one parser made of the command groups, and one place where failures become exit codes."""
from __future__ import annotations

import argparse
import logging
import sys
from importlib.metadata import version

from vigia.app.bench import add_commands as add_bench_commands
from vigia.app.cli import (
    access,
    appliance,
    central,
    central_alerts,
    central_models,
    central_retention,
    central_software,
    models,
    notify,
    privacy,
    provisioning,
    software,
    sync,
)
from vigia.app.cli.common import CliError
from vigia.appliance.config import ConfigError
from vigia.inference.errors import BackendUnavailable, ModelError


def main(argv: list[str] | None = None) -> int:
    cli = parser()
    args = cli.parse_args(argv)
    logging.basicConfig(
        level=getattr(logging, args.log_level.upper()),
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
        stream=sys.stderr,
    )
    if not hasattr(args, "handler"):
        cli.print_help()
        return 2
    try:
        return args.handler(args) or 0
    except CliError as exc:
        print(f"vigia: {exc.message}", file=sys.stderr)
        return exc.exit_code
    except ConfigError as exc:
        print(exc.report(), file=sys.stderr)
        return 2
    except (ModelError, BackendUnavailable) as exc:
        print(f"vigia: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130


def parser() -> argparse.ArgumentParser:
    """`vigia`'s arguments: each command group adds its own."""
    cli = argparse.ArgumentParser(prog="vigia", description="Edge video analytics appliance.")
    cli.add_argument("--version", action="version", version=f"vigia {version('vigia')}")
    cli.add_argument("--log-level", default="info", choices=["debug", "info", "warning", "error"])
    commands = cli.add_subparsers(metavar="COMMAND")
    appliance.add_commands(commands)     # run, demo, analyze, export, clip, config check
    access.add_commands(commands)        # users, tls
    models.add_commands(commands)        # models import|list
    provisioning.add_commands(commands)  # status, discover, provision
    add_bench_commands(commands.add_parser("bench", help="benchmarks (print JSON)").add_subparsers(metavar="NAME"))
    central_actions = central_models.add_commands(central.add_commands(commands))  # central ... (models)
    central_retention.add_commands(central_actions)  # central ... (hold, retention)
    central_alerts.add_commands(central_actions)  # central alerts-watch, alerts
    central_software.add_commands(central_actions)  # central software import|list|rollout
    software.add_commands(commands)      # software apply|boot-check|status (the appliance's releases)
    sync.add_commands(commands)          # enroll, sync status|dead-letters, litestream, restore
    notify.add_commands(commands)        # notify log|status
    privacy.add_commands(commands)       # privacy notice, request find|export|erase|list, verify, report, record
    return cli


if __name__ == "__main__":
    sys.exit(main())
