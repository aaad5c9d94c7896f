"""What the `vigia` commands share: the error that ends a command, the appliance's settings, passwords."""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

from vigia.appliance.config import Http, Storage, load_config

# The data directory when no config names one (vigia.appliance.config.default_data_dir).
DATA_DIR_HELP = "VIGIA_DATA_DIR, else ./var in a source checkout, else /var/lib/vigia"


class CliError(Exception):
    """A command that cannot do its job: `main` prints `vigia: MESSAGE` on stderr and exits with `exit_code`."""

    def __init__(self, message: str, exit_code: int = 1) -> None:
        super().__init__(message)
        self.message = message
        self.exit_code = exit_code


def add_config_argument(parser: argparse.ArgumentParser, what: str = "its data directory") -> None:
    """`-c/--config`: the appliance's config file, for `what` it holds."""
    parser.add_argument("-c", "--config", type=Path,
                        help=f"the appliance's config ({what}); without it, the data directory is {DATA_DIR_HELP}")


def settings(config_path: Path | None) -> tuple[Storage, Http]:
    """(storage, http) settings of the config file, or the defaults (see `default_data_dir`)."""
    if config_path:
        config = load_config(config_path)
        return config.storage, config.http
    return Storage(), Http()


def storage_settings(config_path: Path | None) -> Storage:
    return settings(config_path)[0]


def read_password(prompt: str = "password: ") -> str:
    """A password from the terminal (asked twice) or the first line of stdin; never from argv."""
    import getpass

    if sys.stdin.isatty():
        password = getpass.getpass(prompt)
        if getpass.getpass("again: ") != password:
            raise CliError("the passwords differ", 2)
        return password
    return sys.stdin.readline().rstrip("\r\n")


def os_user() -> str:
    """The login name, for audit trails ("unknown" when the system has none for this uid)."""
    import getpass

    try:
        return getpass.getuser()
    except (KeyError, OSError):
        return "unknown"
