"""A backup run into every repository, one after the other (one unreachable does not stop the next), and
the tally of failed runs kept in a small JSON file (for the metrics: pgBackRest lists successes only)."""
from __future__ import annotations

import datetime as dt
import json
import os
from dataclasses import dataclass
from pathlib import Path

from vigia.central.backup.pgbackrest import PgBackRest, PgBackRestError


@dataclass(frozen=True)
class RunResult:
    repo: int
    kind: str
    ok: bool
    error: str | None = None


@dataclass(frozen=True)
class RunTally:
    """Failed runs per repository, and the last error of each."""

    failures: dict[int, int]
    last_error: dict[int, str]


def read_tally(path: Path) -> RunTally:
    try:
        data = json.loads(path.read_text())
    except FileNotFoundError:
        return RunTally({}, {})
    return RunTally({int(k): v for k, v in data["failures"].items()},
                    {int(k): v for k, v in data["last_error"].items()})


def _record(path: Path, results: list[RunResult], now: dt.datetime) -> None:
    tally = read_tally(path)
    for r in results:
        if not r.ok:
            tally.failures[r.repo] = tally.failures.get(r.repo, 0) + 1
            tally.last_error[r.repo] = f"{now.isoformat()} {r.kind}: {r.error}"
    path.parent.mkdir(parents=True, exist_ok=True)
    temporary = path.with_suffix(".tmp")
    temporary.write_text(json.dumps({"failures": tally.failures, "last_error": tally.last_error}))
    os.replace(temporary, path)


def run_backups(pgbackrest: PgBackRest, kind: str, repos: list[int], tally: Path | None = None) -> list[RunResult]:
    """A backup of `kind` into each repository; failures counted in `tally`."""
    results = []
    for repo in repos:
        try:
            pgbackrest.backup(kind, repo)
            results.append(RunResult(repo, kind, True))
        except PgBackRestError as exc:
            results.append(RunResult(repo, kind, False, str(exc)))
    if tally is not None:
        _record(tally, results, dt.datetime.now(dt.timezone.utc))
    return results
