"""The point-in-time-recovery part of `vigia bench failover`: on the node promoted by the failover, WAL archiving
is turned on (a restart), pgBackRest takes a full backup into an encrypted S3 repository (moto behind NGINX TLS,
vigia.app.s3stack), the appliances send batch A, time T is read from the database's clock, they send batch B,
WAL is archived; central's restore (vigia.central.backup.restore) brings the cluster back as it was at T into a
new data directory. Exact: the restored cluster holds every event central had before A, all of A, none of B."""
from __future__ import annotations

import datetime as dt
import os
import secrets
import shutil
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import psycopg

from vigia.app.devstack import free_port
from vigia.app.pgpair import Node, pg_bin
from vigia.app.s3stack import ACCESS_KEY, HOST, REGION, SECRET_KEY, TlsS3, tls_s3_server
from vigia.central.backup.cluster import LocalCluster, archive_current_wal
from vigia.central.backup.config import BackupSettings, RepoSettings, archive_command, write_config
from vigia.central.backup.pgbackrest import PgBackRest
from vigia.central.backup.restore import restore_to_time
from vigia.central.backup.status import parse_info

BUCKET = "vigia-bench-pitr"


@dataclass(frozen=True)
class PitrResult:
    exact: bool
    restore_seconds: float      # pgBackRest's restore, WAL replayed up to T, promotion, tables counted
    backup_seconds: float       # stanza creation, check and the full backup
    events_at_t: int            # events central held at T
    events_restored: int
    event_ids: list[str]        # both batches', for the bench's lost/duplicated count


def _configure(cluster: LocalCluster, s3: TlsS3, root: Path) -> PgBackRest:
    """pgbackrest.conf for `cluster` and one repository in `s3`; the cluster restarted with WAL archiving on."""
    folder = root / "secrets"
    folder.mkdir(mode=0o700)
    for name, value in [("key", ACCESS_KEY), ("secret", SECRET_KEY), ("pass", secrets.token_hex(24))]:
        (folder / name).write_text(value + "\n")
    repo = RepoSettings(BUCKET, HOST, REGION, folder / "key", folder / "secret", folder / "pass", port=s3.port,
                        ca_file=s3.ca_file, uri_style="path", retention_full=1)
    settings = BackupSettings(cluster.data_dir, (repo,), pg_port=cluster.port, pg_socket_path=cluster.socket_dir,
                              log_path=cluster.make_dir(root / "log"), lock_path=cluster.make_dir(root / "lock"),
                              spool_path=cluster.make_dir(root / "spool"), io_timeout_s=30, archive_timeout_s=30)
    config = write_config(settings, root / "pgbackrest.conf")
    if cluster.run_as and os.geteuid() == 0:
        shutil.chown(config, cluster.run_as, cluster.run_as)  # archive_command runs as the cluster's user
    cluster.make_dir(cluster.socket_dir)
    cluster.stop()
    cluster.configure({"archive_mode": "on", "archive_command": archive_command(config, settings.stanza)})
    cluster.start()
    return PgBackRest(config, settings.stanza, run_as=cluster.run_as, timeout_s=600)


def _wait_past_backup(pgbackrest: PgBackRest) -> None:
    """pgBackRest records a backup's stop time in whole seconds, which a T within the same second may precede
    (the restore would find no backup before T): wait a second past it."""
    stopped = parse_info(pgbackrest.info(), 1, dt.datetime.now(dt.timezone.utc)).repos[0].last["full"]
    while dt.datetime.now(dt.timezone.utc) < stopped + dt.timedelta(seconds=1):
        time.sleep(0.1)


def pitr(node: Node, count_events: Callable[[], int], now: Callable[[], dt.datetime],
         send: Callable[[int], list[str]], root: Path) -> PitrResult:
    """`node`: the writable cluster; `count_events()` counts central's events, `now()` is the database's clock,
    `send(seed)` has the appliances send a batch (returned once central acknowledged it all), its event ids."""
    root.mkdir(mode=0o755)  # the cluster's user (pgBackRest, the restored cluster) reaches into it
    cluster = LocalCluster(node.data, node.port, root / "sock", bin_dir=Path(pg_bin("pg_ctl")).parent)
    with tls_s3_server(root / "s3") as s3:
        s3.client().create_bucket(Bucket=BUCKET)
        started = time.perf_counter()
        pgbackrest = _configure(cluster, s3, root)
        pgbackrest.stanza_create()
        pgbackrest.check()
        pgbackrest.backup("full", 1)
        backup_s = time.perf_counter() - started
        _wait_past_backup(pgbackrest)
        batch_a = send(1)
        events_at_t = count_events()
        target = now()
        time.sleep(0.05)  # B's commits later than T by more than the clock's resolution
        batch_b = send(2)
        archive_current_wal(cluster.dsn())
        started = time.perf_counter()
        restored = restore_to_time(pgbackrest, target, root / "restored", free_port(), bin_dir=cluster.bin_dir)
        restore_s = time.perf_counter() - started
        try:
            with psycopg.connect(restored.cluster.dsn("vigia")) as conn:
                found = {r[0] for r in conn.execute("SELECT event_id FROM events WHERE event_id = ANY(%s)",
                                                    [batch_a + batch_b]).fetchall()}
        finally:
            restored.cluster.stop()
    exact = found == set(batch_a) and restored.counts["events"] == events_at_t
    return PitrResult(exact, restore_s, backup_s, events_at_t, restored.counts["events"], batch_a + batch_b)
