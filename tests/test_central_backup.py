"""Central's backups with pgBackRest against real parts: a PostgreSQL cluster of the test's own (archive_mode
on), moto behind NGINX TLS as S3 with two buckets (repo1, repo2), central's schema and the real ingest.

A full backup into both repositories, batch A, time T, batch B, WAL archived: a restore to T into a new
cluster holds exactly A's events (from either repository). With S3 unreachable, ingest goes on, and the
status, the failed runs and the metrics say so."""
from __future__ import annotations

import asyncio
import dataclasses
import datetime as dt
import json
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import psycopg
import pytest
from prometheus_client import CollectorRegistry
from psycopg_pool import AsyncConnectionPool

from tests.test_sync_ingest import batch, event_pending
from tests.test_sync_outbox import make_event
from vigia.app.devstack import free_port
from vigia.app.s3stack import ACCESS_KEY, HOST, REGION, SECRET_KEY, tls_s3_server
from vigia.central.backup.cluster import LocalCluster, archive_current_wal
from vigia.central.backup.config import (
    BackupConfigError,
    BackupSettings,
    RepoSettings,
    archive_command,
    load_settings,
    render_config,
    repo_numbers,
    write_config,
)
from vigia.central.backup.metrics import BackupCollector, saved_status_collector
from vigia.central.backup.pgbackrest import PgBackRest
from vigia.central.backup.restore import count_rows, restore_to_time
from vigia.central.backup.runs import read_tally, run_backups
from vigia.central.backup.status import ArchiverStatus, BackupStatus, RepoStatus, parse_info, read_archiver
from vigia.central.ingest.batches import Ingest, prepare_connection
from vigia.central.ingest.enrolment import DeviceIdentity, enrol_device
from vigia.central.migrations import migrate

pytestmark = pytest.mark.timeout(900)

DEVICE, SERIAL = "cam-box-1", 0xB0B
BUCKETS = ("vigia-backup-eu", "vigia-backup-us")
PASSPHRASES = ("first-repo-passphrase-7f3a", "second-repo-passphrase-91c2")


def ingest(dsn: str, first_seq: int, events: list) -> None:
    """A device's batch through central's ingest (enrolled on first use)."""
    async def main():
        async with AsyncConnectionPool(dsn, min_size=1, max_size=1, configure=prepare_connection, open=False) as pool:
            async with pool.connection() as conn:
                await conn.set_autocommit(True)
                if first_seq == 1:
                    await migrate(conn)
                    await enrol_device(conn, DEVICE, SERIAL, DeviceIdentity(DEVICE, DEVICE))
            records = [event_pending(first_seq + i, e) for i, e in enumerate(events)]
            await Ingest(pool).apply(DEVICE, SERIAL, batch(DEVICE, records))
    asyncio.run(main())


def event_ids(dsn: str) -> set[str]:
    with psycopg.connect(dsn) as conn:
        return {r[0] for r in conn.execute("SELECT event_id FROM events").fetchall()}


class Setup:
    """Everything the tests share: S3 over TLS, the cluster, pgBackRest's configuration."""

    def __init__(self, root: Path, s3):
        self.root, self.s3 = root, s3
        secrets = root / "secrets"
        secrets.mkdir(mode=0o700)
        for name, value in [("key", ACCESS_KEY), ("secret", SECRET_KEY), ("pass1", PASSPHRASES[0]),
                            ("pass2", PASSPHRASES[1])]:
            (secrets / name).write_text(value + "\n")
        self.cluster = LocalCluster(root / "pg", free_port(), root / "sock")
        self.cluster.init()
        for folder in ("log", "spool", "lock"):
            self.cluster.make_dir(root / folder)
        repos = tuple(RepoSettings(bucket, HOST, REGION, secrets / "key", secrets / "secret", secrets / f"pass{i + 1}",
                                   port=s3.port, ca_file=s3.ca_file, uri_style="path", retention_full=2)
                      for i, bucket in enumerate(BUCKETS))
        self.settings = BackupSettings(root / "pg", repos, pg_port=self.cluster.port, pg_socket_path=root / "sock",
                                       log_path=root / "log", lock_path=root / "lock", spool_path=root / "spool",
                                       io_timeout_s=30, archive_timeout_s=30)
        self.config = write_config(self.settings, root / "pgbackrest.conf")
        shutil.chown(self.config, "postgres", "postgres")  # the cluster's user runs archive_command
        self.pgbackrest = PgBackRest(self.config, run_as="postgres", timeout_s=600)
        self.cluster.configure({"archive_mode": "on", "archive_command": archive_command(self.config, "vigia"),
                                "wal_level": "replica"})
        self.cluster.start()
        with psycopg.connect(self.cluster.dsn(), autocommit=True) as conn:
            conn.execute("CREATE DATABASE vigia")
        self.dsn = self.cluster.dsn("vigia")

    def reconfigure(self, **changes) -> None:
        """pgbackrest.conf rewritten (archive_command reads it at each call)."""
        self.settings = dataclasses.replace(self.settings, **changes)
        write_config(self.settings, self.config)

    def status(self):
        with psycopg.connect(self.dsn) as conn:
            archiver = read_archiver(conn)
        return parse_info(self.pgbackrest.info(), 2, dt.datetime.now(dt.timezone.utc), archiver)

    def vigia(self, *args: str) -> subprocess.CompletedProcess:
        return subprocess.run([sys.executable, "-m", "vigia.app.cli.main", "central", *args,
                               "--pgbackrest-config", str(self.config), "--run-as", "postgres",
                               "--state-dir", str(self.root / "state")],
                              capture_output=True, text=True, timeout=600, check=False)


@pytest.fixture(scope="module")
def setup():
    # Not pytest's tmp_path: the cluster's user (postgres) must reach into it.
    with tempfile.TemporaryDirectory(prefix="vigia-backup-") as folder:
        root = Path(folder)
        root.chmod(0o755)
        with tls_s3_server(root / "s3") as s3:
            for bucket in BUCKETS:
                s3.client().create_bucket(Bucket=bucket)
            setup = Setup(root, s3)
            try:
                yield setup
            finally:
                setup.cluster.stop("immediate")


@pytest.fixture(scope="module")
def history(setup):
    """Full backup into both repositories, batch A, T, batch B, WAL archived: (T, A's ids, B's ids)."""
    setup.pgbackrest.stanza_create()
    setup.pgbackrest.check()
    assert [r.ok for r in run_backups(setup.pgbackrest, "full", [1, 2], setup.root / "state" / "tally.json")] == [True] * 2
    # pgBackRest records a backup's stop time in whole seconds, which a T taken within the same second may precede
    # (CI saw "unable to find backup set with stop time less than T"): T comes a second after it.
    stopped = max(repo.last["full"] for repo in setup.status().repos)
    while dt.datetime.now(dt.timezone.utc) < stopped + dt.timedelta(seconds=1):
        time.sleep(0.1)
    start = time.time() - 3600
    batch_a = [make_event(start + i) for i in range(25)]
    ingest(setup.dsn, 1, batch_a)
    with psycopg.connect(setup.dsn) as conn:
        target = conn.execute("SELECT clock_timestamp()").fetchone()[0]
    time.sleep(0.05)  # B's commit is later than T by more than the clock's resolution
    batch_b = [make_event(start + 100 + i) for i in range(10)]
    ingest(setup.dsn, 26, batch_b)
    archive_current_wal(setup.dsn)
    assert event_ids(setup.dsn) == {e.id for e in batch_a + batch_b}
    return target, {e.id for e in batch_a}, {e.id for e in batch_b}


def test_both_repositories_hold_the_backup_and_wal_encrypted(setup, history):
    status = setup.status()
    assert [r.repo for r in status.repos] == [1, 2]
    for repo in status.repos:
        assert repo.ok and repo.reachable and repo.backups == 1 and "full" in repo.last, repo
        assert repo.wal_min and repo.wal_max == status.archiver.last_archived_wal, (repo, status.archiver)
    assert status.archiver.failed_count == 0 and not status.archiver.failing and status.healthy
    for bucket in BUCKETS:  # pgBackRest's encrypted files begin with OpenSSL's salt header
        client = setup.s3.client()
        keys = [o["Key"] for o in client.list_objects_v2(Bucket=bucket, Prefix="pgbackrest/")["Contents"]]
        assert any("/archive/vigia/15-1/" in k for k in keys) and any("/backup/vigia/" in k for k in keys)
        body = client.get_object(Bucket=bucket, Key="pgbackrest/backup/vigia/backup.info")["Body"].read()
        assert body.startswith(b"Salted__")
    logged = "".join(p.read_text(errors="replace") for p in (setup.root / "log").iterdir())
    assert "backup command end: completed successfully" in logged
    assert not any(secret in logged for secret in (*PASSPHRASES, SECRET_KEY))
    assert repo_numbers(setup.config) == [1, 2]


def test_restore_to_a_time_between_two_batches_gives_exactly_the_first(setup, history):
    target, batch_a, batch_b = history
    result = restore_to_time(setup.pgbackrest, target, setup.root / "restored-repo2", free_port(), repo=2,
                             keep_running=True)
    try:
        assert result.counts["events"] == len(batch_a)
        assert event_ids(result.cluster.dsn("vigia")) == batch_a
        assert result.counts["devices"] == 1
        with psycopg.connect(result.cluster.dsn("vigia")) as conn:
            assert conn.execute("SELECT high_water FROM devices").fetchone()[0] == len(batch_a)
            assert conn.execute("SHOW archive_mode").fetchone()[0] == "off"  # it never archives into the live stanza
    finally:
        result.cluster.stop()
    assert count_rows(setup.dsn)["events"] == len(batch_a) + len(batch_b)  # the live cluster untouched


def test_cli_status_and_restore(setup, history):
    target, batch_a, _ = history
    status = setup.vigia("backup", "status", "--json", "--database", setup.dsn)
    assert status.returncode == 0, status.stderr
    report = json.loads(status.stdout)
    assert report["healthy"] and [r["backups"] for r in report["repos"]] == [1, 1]
    assert all(r["age_s"]["full"] >= 0 and r["failed_runs"] == 0 for r in report["repos"])
    port = free_port()
    restored = setup.vigia("restore", "--time", target.isoformat(), "--to", str(setup.root / "restored-cli"),
                           "--port", str(port), "--stop", "--json")
    assert restored.returncode == 0, restored.stderr
    out = json.loads(restored.stdout)
    assert out["counts"]["events"] == len(batch_a) and out["running"] is False
    assert not (setup.root / "restored-cli" / "postmaster.pid").exists()
    again = setup.vigia("restore", "--time", target.isoformat(), "--to", str(setup.root / "restored-cli"),
                        "--port", str(port))
    assert again.returncode == 2 and "not empty" in again.stderr
    naive = setup.vigia("restore", "--time", "2026-12-03 13:00", "--to", str(setup.root / "x"), "--port", str(port))
    assert naive.returncode == 2 and "time zone" in naive.stderr


def metrics(setup) -> dict[tuple, float]:
    registry = CollectorRegistry()
    registry.register(BackupCollector(setup.status, lambda: read_tally(setup.root / "state" / "tally.json")))
    return {(s.name, tuple(sorted(s.labels.items()))): s.value
            for family in registry.collect() for s in family.samples}


def test_unreachable_repository_is_reported_and_ingest_goes_on(setup, history):
    before = metrics(setup)
    assert before[("vigia_backup_repo_reachable", (("repo", "1"),))] == 1.0
    assert 0 <= before[("vigia_backup_last_success_age_seconds", (("repo", "2"), ("type", "full")))] < 3600
    assert before[("vigia_backup_failures_total", (("repo", "1"),))] == 0
    # Short timeouts while S3 is down, so that each read of an unreachable repository gives up in seconds.
    setup.reconfigure(io_timeout_s=2, archive_timeout_s=10)
    setup.s3.stop_proxy()
    try:
        extra = [make_event(time.time() - 60 + i) for i in range(5)]
        ingest(setup.dsn, 36, extra)  # commits while no WAL can be archived
        with psycopg.connect(setup.dsn, autocommit=True) as conn:
            conn.execute("SELECT pg_switch_wal()")
            deadline = time.monotonic() + 180
            while read_archiver(conn).failed_count == 0:
                assert time.monotonic() < deadline, "archive_command never failed with S3 down"
                time.sleep(0.5)
        assert {e.id for e in extra} <= event_ids(setup.dsn)
        runs = setup.vigia("backup", "run", "--type", "incr")
        assert runs.returncode == 1 and runs.stdout.count("FAILED") == 2, runs.stdout + runs.stderr
        status = setup.vigia("backup", "status", "--database", setup.dsn)
        assert status.returncode == 1 and "UNREACHABLE" in status.stdout and "FAILING" in status.stdout, status.stdout
        down = metrics(setup)
        assert down[("vigia_backup_repo_reachable", (("repo", "1"),))] == 0.0
        assert down[("vigia_backup_repo_reachable", (("repo", "2"),))] == 0.0
        assert down[("vigia_backup_failures_total", (("repo", "2"),))] == 1
        assert down[("vigia_wal_archive_failing", ())] == 1.0 and down[("vigia_wal_archive_failures_total", ())] >= 1
    finally:
        setup.s3.start_proxy()
        setup.reconfigure(io_timeout_s=30, archive_timeout_s=30)
    archive_current_wal(setup.dsn, timeout=180)  # the queued WAL goes out once S3 is back
    assert setup.status().healthy
    runs = setup.vigia("backup", "run", "--type", "incr")
    assert runs.returncode == 0, runs.stdout + runs.stderr
    assert all(r.last.get("incr") for r in setup.status().repos)


def test_settings_file_makes_an_owner_only_config_and_bad_settings_are_named(tmp_path):
    for name, value in [("key", "AKIAEXAMPLE"), ("secret", "s3-secret-value"), ("pass", "repo-passphrase")]:
        (tmp_path / name).write_text(value + "\n")
    repo = {"endpoint": "s3.eu-west-1.amazonaws.com", "region": "eu-west-1",  # files beside the settings file
            "key_file": "key", "key_secret_file": "secret", "cipher_pass_file": "pass"}
    settings_file = tmp_path / "backup.yml"
    settings_file.write_text(json.dumps({"pg_path": "/var/lib/postgresql/15/main", "repos": [
        {**repo, "bucket": "eu-bucket"}, {**repo, "bucket": "us-bucket", "region": "us-east-1"}]}))
    settings = load_settings(settings_file)
    assert settings.repos[1].cipher_pass_file == tmp_path / "pass"
    config = write_config(settings, tmp_path / "etc" / "pgbackrest.conf")
    assert config.stat().st_mode & 0o777 == 0o600
    text = config.read_text()
    for line in ("repo1-s3-bucket=eu-bucket", "repo2-s3-bucket=us-bucket", "repo2-s3-region=us-east-1",
                 "repo1-cipher-type=aes-256-cbc", "repo2-cipher-pass=repo-passphrase", "repo1-s3-key-secret=s3-secret-value",
                 "archive-async=y", "archive-push-queue-max=1GiB", "[vigia]", "pg1-path=/var/lib/postgresql/15/main"):
        assert line in text.splitlines(), line
    assert repo_numbers(config) == [1, 2]
    assert "repo-passphrase" not in repr(settings)
    (tmp_path / "pass").write_text("")
    with pytest.raises(BackupConfigError, match="repo1 cipher_pass_file: .* is empty"):
        render_config(settings)
    settings_file.write_text("pg_path: /data\nrepos: []\n")
    with pytest.raises(BackupConfigError, match="no repository"):
        load_settings(settings_file)
    settings_file.write_text("pg_path: /data\nrepos: [{bucket: b}]\n")
    with pytest.raises(BackupConfigError, match="missing"):
        load_settings(settings_file)


def test_central_serves_the_status_the_backup_services_saved(tmp_path):
    """`central serve --backup-state DIR`: /metrics reads the status `backup status --save` wrote (no pgBackRest
    call at scrape time), failed runs included; before any is saved, no backup series at all."""
    registry = CollectorRegistry()
    registry.register(saved_status_collector(tmp_path))
    assert registry.get_sample_value("vigia_backup_repo_reachable", {"repo": "1"}) is None
    now = dt.datetime.now(dt.timezone.utc)
    status = BackupStatus("vigia", now, (
        RepoStatus(1, 0, "ok", {"full": now - dt.timedelta(hours=30)}, 1, "000000010000000000000001", "00000001000000000000000A"),
        RepoStatus(2, 99, "unreachable")),
        ArchiverStatus(10, "00000001000000000000000A", now, 2, "00000001000000000000000B", now + dt.timedelta(seconds=1)))
    report = status.to_json()
    for repo, failed in zip(report["repos"], (0, 3)):
        repo["failed_runs"], repo["last_run_error"] = failed, "HostConnectError" if failed else None
    (tmp_path / "status.json").write_text(json.dumps(report))
    age = registry.get_sample_value("vigia_backup_last_success_age_seconds", {"repo": "1", "type": "full"})
    assert 30 * 3600 <= age < 30 * 3600 + 60   # the rule VigiaBackupTooOld (26 h) fires on it
    assert registry.get_sample_value("vigia_backup_repo_reachable", {"repo": "2"}) == 0
    assert registry.get_sample_value("vigia_backup_failures_total", {"repo": "2"}) == 3

