"""What a PostgreSQL node says about its part in replication, read by the failover watchdog and central's /healthz.

A node is a *writer* when it is out of recovery and not fenced (`default_transaction_read_only`, set by the
watchdog on a stale primary, makes libpq's `target_session_attrs=read-write` pass it by). A writer is
*degraded* when its commits do not wait for a synchronous standby: `synchronous_standby_names` is empty
(relaxed) or no standby it names is streaming as `sync`. The role reading it needs `pg_read_all_stats`
(pg_stat_replication hides its columns from others).
"""
from __future__ import annotations

from dataclasses import dataclass

import psycopg

STATUS_SQL = """
    SELECT pg_is_in_recovery(), current_setting('default_transaction_read_only') = 'on',
           current_setting('synchronous_standby_names'),
           CASE WHEN pg_is_in_recovery() THEN (SELECT timeline_id FROM pg_control_checkpoint())
                ELSE ('x' || substr(pg_walfile_name(pg_current_wal_lsn()), 1, 8))::bit(32)::int END,
           (SELECT count(*) FROM pg_stat_replication WHERE sync_state IN ('sync', 'quorum')),
           (SELECT count(*) FROM pg_stat_replication WHERE state = 'streaming')"""


@dataclass(frozen=True)
class NodeStatus:
    in_recovery: bool
    fenced: bool                 # read-only by default: a stale primary the watchdog shut out
    synchronous_names: str       # synchronous_standby_names ('' when relaxed)
    timeline: int                # a writer's current one (a promoted node's is above its old primary's)
    sync_standbys: int           # standbys streaming as synchronous (a writer's)
    streaming_standbys: int      # standbys streaming at all

    @property
    def writer(self) -> bool:
        return not self.in_recovery and not self.fenced

    @property
    def degraded(self) -> bool:
        """A writer whose commits wait for no standby: a lost primary would lose what it acknowledged."""
        return self.writer and (not self.synchronous_names or self.sync_standbys == 0)

    def as_json(self) -> dict:
        role = "standby" if self.in_recovery else "fenced" if self.fenced else "primary"
        return {"role": role, "synchronous_standby_names": self.synchronous_names, "timeline": self.timeline,
                "sync_standbys": self.sync_standbys, "streaming_standbys": self.streaming_standbys,
                "degraded": self.degraded}


async def read_status(conn: psycopg.AsyncConnection) -> NodeStatus:
    cursor = await conn.execute(STATUS_SQL)
    in_recovery, fenced, names, timeline, sync, streaming = await cursor.fetchone()
    return NodeStatus(in_recovery, fenced, names, timeline, sync, streaming)


async def node_status(conninfo: str, timeout_s: float = 2.0) -> NodeStatus | None:
    """The node's status, or None when it cannot be reached within `timeout_s`."""
    try:
        async with await psycopg.AsyncConnection.connect(conninfo, autocommit=True,
                                                         connect_timeout=max(1, round(timeout_s))) as conn:
            return await read_status(conn)
    except (psycopg.OperationalError, OSError):
        return None
