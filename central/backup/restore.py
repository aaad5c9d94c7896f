"""Point-in-time recovery into a NEW cluster (never over the live one): pgBackRest restores the backup
before the target time into an empty data directory, PostgreSQL replays archived WAL up to that time and
is promoted; the restored cluster does not archive (its WAL would mix with the live cluster's). Then its
tables are counted, to check what came back."""
from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from pathlib import Path

import psycopg

from vigia.central.backup.cluster import PG_BIN, LocalCluster
from vigia.central.backup.pgbackrest import PgBackRest

COUNT_TABLES_SQL = """SELECT c.relname FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
    WHERE n.nspname = 'public' AND c.relkind IN ('r', 'p') AND NOT c.relispartition ORDER BY 1"""


@dataclass(frozen=True)
class RestoreResult:
    cluster: LocalCluster
    target: dt.datetime
    counts: dict[str, int]   # table -> rows, central's database


def count_rows(dsn: str) -> dict[str, int]:
    """Rows of every table in the public schema (a partitioned table counted once, with its partitions)."""
    with psycopg.connect(dsn) as conn:
        tables = [r[0] for r in conn.execute(COUNT_TABLES_SQL).fetchall()]
        return {t: conn.execute(f'SELECT count(*) FROM "{t}"').fetchone()[0] for t in tables}


def restore_to_time(pgbackrest: PgBackRest, target: dt.datetime, data_dir: Path, port: int,
                    database: str = "vigia", repo: int | None = None, keep_running: bool = True,
                    bin_dir: Path = PG_BIN) -> RestoreResult:
    """Restore the cluster as it was at `target` into `data_dir` (absent or empty), start it on `port`,
    wait for its promotion and count `database`'s tables; stopped afterwards unless `keep_running`. `bin_dir`:
    PostgreSQL's programs, of the backed-up cluster's version."""
    if target.tzinfo is None:
        raise ValueError("the target time needs a time zone (e.g. 2026-12-03T13:37:00+00:00)")
    if data_dir.exists() and any(data_dir.iterdir()):
        raise ValueError(f"{data_dir} is not empty: a restore goes into a new data directory")
    cluster = LocalCluster(data_dir, port, data_dir, run_as=pgbackrest.run_as, bin_dir=bin_dir)
    cluster.make_dir(data_dir)
    options = ["--type=time", f"--target={target.isoformat(sep=' ')}", "--target-action=promote",
               f"--pg1-path={data_dir}", "--archive-mode=off"]
    if repo is not None:
        options.append(f"--repo={repo}")
    pgbackrest.run("restore", *options)
    cluster.start()
    try:
        cluster.wait_writable()
        counts = count_rows(cluster.dsn(database))
    except BaseException:
        cluster.stop("immediate")
        raise
    if not keep_running:
        cluster.stop()
    return RestoreResult(cluster, target, counts)
