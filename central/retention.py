"""Retention at central (`vigia central retention run`, daily by vigia-central-retention.timer): what is older than
the configured days goes, except what a legal hold keeps (vigia.central.holds).

- Events: whole monthly partitions of `events` (vigia.central.ingest.schema) that end before the cutoff are
  dropped. A partition that holds held rows is not dropped: its other rows are deleted and the held ones stay
  where they were, so the dashboard and every query of `events` still see them; once the hold is released, the
  next run drops the partition. (A month straddling the cutoff waits for the next month's run.)
- Track summaries, metrics roll-ups and `rejected` records (`device_records`, kinds RECORD_KINDS): deleted when
  received before the cutoff, unless held. That table keeps the latest version of each key (an upsert on its key),
  which a partition by date cannot, so these go by date. The devices' current state (camera health, layouts) stays.
- Media: the bucket's lifecycle rules expire objects as before (vigia.central.ingest.media); a run deletes the
  `media_objects` rows of objects past their lifecycle age, unless held, and (given the bucket) tags held objects
  so no lifecycle rule selects them, and released ones back.

Each run is a row of `retention_runs` with its report.
"""
from __future__ import annotations

import datetime as dt
import logging
import re
from dataclasses import asdict, dataclass, field

import psycopg
from psycopg.types.json import Jsonb

from vigia.central.holds import Tagging, tag_held_objects
from vigia.central.ingest.media import EXPIRY_DAYS, MediaStore
from vigia.central.ingest.schema import PARTITION_LOCK, held

log = logging.getLogger(__name__)

RETENTION_LOCK = 0x76696769_03   # pg_try_advisory_lock key: one run at a time
RECORD_KINDS = ("track", "metrics", "rejected")
PARTITION_NAME = re.compile(r"events_(\d{4})_(\d{2})")


class RetentionError(RuntimeError):
    """A run that cannot start (bad days, another run in progress)."""


@dataclass
class RetentionReport:
    days: int
    cutoff: dt.datetime
    dropped_partitions: list[str] = field(default_factory=list)
    kept_partitions: dict[str, int] = field(default_factory=dict)   # partition -> held rows it still has
    deleted_events: int = 0          # unheld rows of the kept partitions
    deleted_records: dict[str, int] = field(default_factory=dict)   # device_records kind -> rows
    deleted_media_rows: int = 0
    tagging: Tagging | None = None   # None: run without the bucket

    def to_json(self) -> dict:
        report = asdict(self)
        report["cutoff"] = self.cutoff.isoformat()
        return report

    def lines(self) -> list[str]:
        lines = [f"retention {self.days} days: before {self.cutoff:%Y-%m-%d %H:%M} UTC"]
        lines += [f"dropped partition {name}" for name in self.dropped_partitions]
        lines += [f"kept partition {name}: {count} held rows (the other rows deleted)"
                  for name, count in self.kept_partitions.items()]
        if self.kept_partitions:
            lines.append(f"deleted {self.deleted_events} unheld events from kept partitions")
        lines += [f"deleted {count} {kind} records" for kind, count in self.deleted_records.items()]
        lines.append(f"deleted {self.deleted_media_rows} media rows past their lifecycle")
        if self.tagging is None:
            lines.append("held objects not tagged: no --bucket")
        else:
            lines.append(f"objects tagged as held {self.tagging.held}, given back to the lifecycle"
                         f" {self.tagging.released}, missing {self.tagging.missing}")
        return lines


def _month_end(name: str) -> dt.datetime | None:
    """The (exclusive) end of the month a partition named by vigia.central.ingest.schema.partition_name covers."""
    match = PARTITION_NAME.fullmatch(name)
    if match is None:
        return None
    year, month = int(match[1]), int(match[2])
    return dt.datetime(year + month // 12, month % 12 + 1, 1, tzinfo=dt.timezone.utc)


async def _partitions(conn: psycopg.AsyncConnection) -> list[str]:
    cursor = await conn.execute("SELECT c.relname FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid"
                                " WHERE i.inhparent = 'events'::regclass ORDER BY c.relname")
    return [name for (name,) in await cursor.fetchall()]


async def _expire_partition(conn: psycopg.AsyncConnection, name: str, report: RetentionReport) -> None:
    """Drop the partition, or (when it holds held rows) delete its other rows; under the partitions' lock."""
    async with conn.transaction():
        await conn.execute("SET LOCAL lock_timeout = '30s'")
        await conn.execute("SELECT pg_advisory_xact_lock(%s)", [PARTITION_LOCK])
        cursor = await conn.execute(f"SELECT count(*) FROM {name} e WHERE {held('e')}")
        kept = (await cursor.fetchone())[0]
        if kept == 0:
            await conn.execute(f"DROP TABLE {name}")
            report.dropped_partitions.append(name)
            return
        cursor = await conn.execute(f"DELETE FROM {name} e WHERE NOT {held('e')}")
        report.deleted_events += cursor.rowcount
        report.kept_partitions[name] = kept


async def run_retention(conn: psycopg.AsyncConnection, days: int, store: MediaStore | None = None,
                        now: dt.datetime | None = None) -> RetentionReport:
    """One run on an autocommit connection (each step its own transaction); recorded in `retention_runs`."""
    if days < 1:
        raise RetentionError(f"keep at least 1 day, not {days}")
    now = now or dt.datetime.now(dt.timezone.utc)
    cutoff = now - dt.timedelta(days=days)
    report = RetentionReport(days, cutoff)
    cursor = await conn.execute("SELECT pg_try_advisory_lock(%s)", [RETENTION_LOCK])
    if not (await cursor.fetchone())[0]:
        raise RetentionError("another retention run is in progress")
    try:
        cursor = await conn.execute("INSERT INTO retention_runs (days, cutoff) VALUES (%s, %s) RETURNING id",
                                    [days, cutoff])
        run_id = (await cursor.fetchone())[0]
        for name in await _partitions(conn):
            end = _month_end(name)
            if end is not None and end <= cutoff:
                await _expire_partition(conn, name, report)
        for kind in RECORD_KINDS:
            cursor = await conn.execute(f"DELETE FROM device_records r WHERE r.kind = %s AND r.received_at < %s"
                                        f" AND NOT {held('r', events=False)}", [kind, cutoff])
            report.deleted_records[kind] = cursor.rowcount
        for kind, expiry_days in EXPIRY_DAYS.items():
            cursor = await conn.execute(f"DELETE FROM media_objects m WHERE m.kind = %s AND m.uploaded_at < %s"
                                        f" AND NOT m.held AND NOT {held('m')}",
                                        [kind, now - dt.timedelta(days=expiry_days)])
            report.deleted_media_rows += cursor.rowcount
        if store is not None:
            report.tagging = await tag_held_objects(conn, store)
        await conn.execute("UPDATE retention_runs SET finished_at = now(), report = %s WHERE id = %s",
                           [Jsonb(report.to_json()), run_id])
    finally:
        await conn.execute("SELECT pg_advisory_unlock(%s)", [RETENTION_LOCK])
    log.info("retention run of %d days: %d partitions dropped, %d kept for held rows", days,
             len(report.dropped_partitions), len(report.kept_partitions))
    return report
