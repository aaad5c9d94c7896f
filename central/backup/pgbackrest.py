"""Runs the pgbackrest command: stanza creation, a backup into one repository, its info as JSON, a restore."""
from __future__ import annotations

import json
import os
import subprocess
from dataclasses import dataclass
from pathlib import Path

PGBACKREST = "pgbackrest"
BACKUP_TYPES = ("full", "diff", "incr")


class PgBackRestError(RuntimeError):
    """pgbackrest ended with an error; the message is its own (secrets are redacted by it)."""

    def __init__(self, command: str, code: int, output: str):
        super().__init__(f"pgbackrest {command} failed ({code}): {output.strip()[-2000:]}")
        self.code = code


@dataclass(frozen=True)
class PgBackRest:
    """pgbackrest with one configuration and stanza, run as `run_as` (the cluster's owner) when given."""

    config: Path
    stanza: str = "vigia"
    run_as: str | None = None   # e.g. "postgres", when this process is root
    timeout_s: float = 3600

    def _argv(self, command: str, options: list[str]) -> list[str]:
        argv = [PGBACKREST, f"--config={self.config}", f"--stanza={self.stanza}", *options, command]
        if self.run_as and os.geteuid() == 0:
            argv = ["runuser", "-u", self.run_as, "--", *argv]
        return argv

    def run(self, command: str, *options: str) -> str:
        """Run a pgbackrest command; its standard output, or PgBackRestError."""
        done = subprocess.run(self._argv(command, list(options)), capture_output=True, text=True,
                              timeout=self.timeout_s, check=False)
        if done.returncode != 0:
            raise PgBackRestError(command, done.returncode, done.stderr or done.stdout)
        return done.stdout

    def stanza_create(self) -> None:
        self.run("stanza-create")

    def check(self) -> None:
        """The cluster archives WAL into every repository and the configuration is sound."""
        self.run("check")

    def backup(self, kind: str, repo: int) -> None:
        if kind not in BACKUP_TYPES:
            raise ValueError(f"backup type {kind!r}: one of {', '.join(BACKUP_TYPES)}")
        self.run("backup", f"--type={kind}", f"--repo={repo}")

    def info(self) -> dict:
        """`pgbackrest info --output=json` for the stanza (every repository); {} when pgBackRest knows none."""
        stanzas = json.loads(self.run("info", "--output=json"))
        return stanzas[0] if stanzas else {}
