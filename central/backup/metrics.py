"""Prometheus metrics of the backups, collected from a status read when scraped (a custom collector for
central's /metrics): age of the last successful backup per repository and type, repository reachability,
failed backup runs, and the WAL archiver's failures and last success."""
from __future__ import annotations

import datetime as dt
import json
from collections.abc import Callable, Iterator
from pathlib import Path

from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily
from prometheus_client.registry import Collector

from vigia.central.backup.runs import RunTally
from vigia.central.backup.status import BackupStatus, status_from_json


class BackupCollector(Collector):
    """Yields the metrics of `read_status()` (and `read_tally()`, the failed runs) at each collection."""

    def __init__(self, read_status: Callable[[], BackupStatus], read_tally: Callable[[], RunTally]):
        self.read_status = read_status
        self.read_tally = read_tally

    def collect(self) -> Iterator:
        status = self.read_status()
        now = dt.datetime.now(dt.timezone.utc)
        age = GaugeMetricFamily("vigia_backup_last_success_age_seconds",
                                "Seconds since the last successful backup of this type ended", labels=["repo", "type"])
        reachable = GaugeMetricFamily("vigia_backup_repo_reachable", "1 when pgBackRest could read the repository",
                                      labels=["repo"])
        ok = GaugeMetricFamily("vigia_backup_repo_ok", "1 when the repository holds a valid backup and no error",
                               labels=["repo"])
        for repo in status.repos:
            for kind in ("full", "diff", "incr"):
                seconds = repo.age_s(kind, now)
                if seconds is not None:
                    age.add_metric([str(repo.repo), kind], seconds)
            reachable.add_metric([str(repo.repo)], float(repo.reachable))
            ok.add_metric([str(repo.repo)], float(repo.ok))
        yield from (age, reachable, ok)
        tally = self.read_tally()
        failures = CounterMetricFamily("vigia_backup_failures", "Backup runs that failed", labels=["repo"])
        for repo in status.repos:
            failures.add_metric([str(repo.repo)], tally.failures.get(repo.repo, 0))
        yield failures
        if status.archiver:
            archiver = status.archiver
            yield CounterMetricFamily("vigia_wal_archive_failures", "archive_command failures (pg_stat_archiver)",
                                      value=archiver.failed_count)
            yield GaugeMetricFamily("vigia_wal_archive_failing", "1 when the last WAL archiving attempt failed",
                                    value=float(archiver.failing))
            if archiver.last_archived_time:
                yield GaugeMetricFamily("vigia_wal_archive_last_success_age_seconds",
                                        "Seconds since a WAL segment was last archived",
                                        value=(now - archiver.last_archived_time).total_seconds())


def saved_status_collector(folder: Path) -> BackupCollector:
    """The collector of a central process that reads the status the backup services saved in `folder`
    (`vigia central backup status --save`: status.json, failed runs included): a scrape never waits for pgBackRest,
    which takes tens of seconds when a repository is unreachable. No saved status yet: no backup metrics."""
    def saved() -> dict:
        try:
            return json.loads((folder / "status.json").read_text())
        except (OSError, ValueError):
            return {}

    def read_status() -> BackupStatus:
        try:
            return status_from_json(saved())
        except (KeyError, TypeError, ValueError):
            return BackupStatus("", dt.datetime.now(dt.timezone.utc), ())

    def read_saved_tally() -> RunTally:
        repos = saved().get("repos", [])
        return RunTally({r["repo"]: r.get("failed_runs", 0) for r in repos},
                        {r["repo"]: r["last_run_error"] for r in repos if r.get("last_run_error")})
    return BackupCollector(read_status, read_saved_tally)
