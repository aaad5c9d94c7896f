"""The failover watchdog (`vigia central failover-watch`): promotes the standby when the primary is gone, relaxes
synchronous commit when the standby is gone, and fences a stale primary that comes back.

Why a watchdog of central's own, not Patroni: Vigia's central is one or two hosts with no consensus store
(etcd, Consul) to elect a leader safely; a small loop that sees both nodes covers that case. It must run
once (one watchdog, best on the standby's host: it promotes what it can still see). A site with three or
more hosts should run Patroni or CloudNativePG instead and leave this off; `vigia central promote` stays for
an operator's manual switch. Each tick (every `interval_s`) it reads both nodes (vigia.central.replication.status):

- no writer for `promote_after_s`, a standby reachable: promote it (pg_promote), then empty its
  synchronous_standby_names, since it has no standby of its own yet (degraded until one is attached);
- one writer whose synchronous standby has not streamed for `relax_after_s`: commits would block, so
  synchronous_standby_names is emptied (ALTER SYSTEM, reload): ingest goes on, *degraded*, logged as a warning
  and reported by central's /healthz; when a standby streams again it is restored to `standby_name`;
- two writers, or a writer on an older timeline than one seen before: the stale one is fenced
  (default_transaction_read_only, reload, its client sessions ended) so that libpq's read-write check passes it
  by; it must be rebuilt as a standby (README, failover runbook) before it serves again.

Ingest acknowledges only what the synchronous standby flushed while not degraded, so a promotion loses no
acknowledged batch; while degraded, a lost primary loses what it acknowledged since (the devices no longer
hold it), which is why the state is alerted.
"""
from __future__ import annotations

import asyncio
import logging
import time
from dataclasses import dataclass, field
from enum import Enum

import psycopg
from psycopg import sql

from vigia.central.replication.status import NodeStatus, node_status

log = logging.getLogger(__name__)


class Action(Enum):
    PROMOTE = "promote"
    RELAX = "relax"        # synchronous_standby_names = ''
    RESTORE = "restore"    # synchronous_standby_names = standby_name
    FENCE = "fence"


@dataclass(frozen=True)
class Decision:
    action: Action
    node: str
    reason: str


@dataclass(frozen=True)
class WatchSettings:
    nodes: dict[str, str]         # name -> conninfo of a role allowed to promote and ALTER SYSTEM
    standby_name: str = "standby"  # the standby's application_name, restored into synchronous_standby_names
    promote_after_s: float = 5.0
    relax_after_s: float = 5.0
    interval_s: float = 0.5

    def __post_init__(self) -> None:
        if len(self.nodes) != 2:
            raise ValueError(f"the watchdog watches two nodes (a primary and its standby), not {len(self.nodes)}")
        if min(self.promote_after_s, self.relax_after_s) < 0 or self.interval_s <= 0:
            raise ValueError("delays must be positive")


@dataclass
class Memory:
    """What the watchdog remembers between ticks."""

    no_writer_since: float | None = None
    no_standby_since: float | None = None
    timeline: int = 0             # the highest timeline a writer has been seen on


def decide(statuses: dict[str, NodeStatus | None], memory: Memory, now: float,
           settings: WatchSettings) -> list[Decision]:
    """What to do about the nodes as they are now (None: unreachable); updates `memory`."""
    writers = {name: s for name, s in statuses.items() if s is not None and s.writer}
    newest = max([memory.timeline, *(w.timeline for w in writers.values())])
    stale = [name for name, s in writers.items() if s.timeline < newest]
    if stale:
        return [Decision(Action.FENCE, name, f"a primary on timeline {writers[name].timeline}, behind the newest")
                for name in stale]
    if len(writers) > 1:
        return []  # two writers on one timeline: nothing tells which is stale; logged by the caller
    if not writers:
        memory.no_standby_since = None
        memory.no_writer_since = memory.no_writer_since or now
        standbys = [name for name, s in statuses.items() if s is not None and s.in_recovery]
        if standbys and now - memory.no_writer_since >= settings.promote_after_s:
            return [Decision(Action.PROMOTE, standbys[0],
                             f"no primary for {now - memory.no_writer_since:.1f} s")]
        return []
    memory.no_writer_since = None
    (name, writer), = writers.items()
    memory.timeline = max(memory.timeline, writer.timeline)
    if not writer.synchronous_names:
        memory.no_standby_since = None
        if writer.streaming_standbys:
            return [Decision(Action.RESTORE, name, "a standby streams again")]
        return []
    if writer.sync_standbys:
        memory.no_standby_since = None
        return []
    memory.no_standby_since = memory.no_standby_since or now
    if now - memory.no_standby_since >= settings.relax_after_s:
        return [Decision(Action.RELAX, name, f"no synchronous standby for {now - memory.no_standby_since:.1f} s")]
    return []


async def _set_standby_names(conn: psycopg.AsyncConnection, names: str) -> None:
    await conn.execute(sql.SQL("ALTER SYSTEM SET synchronous_standby_names = {}").format(sql.Literal(names)))
    await conn.execute("SELECT pg_reload_conf()")


async def promote(conninfo: str, wait_s: int = 60) -> None:
    """Promote the standby at `conninfo` and let it commit without a standby of its own (degraded)."""
    async with await psycopg.AsyncConnection.connect(conninfo, autocommit=True) as conn:
        cursor = await conn.execute("SELECT pg_promote(true, %s)", [wait_s])
        if not (await cursor.fetchone())[0]:
            raise RuntimeError(f"the standby was not promoted within {wait_s} s")
        await _set_standby_names(conn, "")


async def fence(conninfo: str) -> None:
    """Make a stale primary read-only for new sessions and end its client sessions."""
    async with await psycopg.AsyncConnection.connect(conninfo, autocommit=True) as conn:
        await conn.execute("ALTER SYSTEM SET default_transaction_read_only = on")
        await conn.execute("SELECT pg_reload_conf()")
        await conn.execute("SELECT pg_terminate_backend(pid) FROM pg_stat_activity"
                           " WHERE backend_type = 'client backend' AND pid <> pg_backend_pid()")


async def act(decision: Decision, settings: WatchSettings) -> None:
    conninfo = settings.nodes[decision.node]
    if decision.action is Action.PROMOTE:
        log.warning("promoting %s (%s); it runs without a synchronous standby (degraded) until one streams",
                    decision.node, decision.reason)
        await promote(conninfo)
    elif decision.action is Action.FENCE:
        log.error("fencing %s (%s): read-only, sessions ended; rebuild it as a standby", decision.node,
                  decision.reason)
        await fence(conninfo)
    else:
        async with await psycopg.AsyncConnection.connect(conninfo, autocommit=True) as conn:
            if decision.action is Action.RELAX:
                log.warning("DEGRADED: synchronous commit relaxed on %s (%s); acknowledged batches are on one node"
                            " only until a standby streams again", decision.node, decision.reason)
                await _set_standby_names(conn, "")
            else:
                log.warning("synchronous commit restored on %s (%s)", decision.node, decision.reason)
                await _set_standby_names(conn, settings.standby_name)


@dataclass
class Watchdog:
    settings: WatchSettings
    memory: Memory = field(default_factory=Memory)

    async def tick(self) -> list[Decision]:
        names = list(self.settings.nodes)
        found = await asyncio.gather(*(node_status(self.settings.nodes[n]) for n in names))
        statuses = dict(zip(names, found))
        decisions = decide(statuses, self.memory, time.monotonic(), self.settings)
        if not decisions and sum(1 for s in found if s is not None and s.writer) > 1:
            log.error("two primaries on timeline %d: fence one by hand (README, failover runbook)", found[0].timeline)
        for decision in decisions:
            try:
                await act(decision, self.settings)
            except (psycopg.Error, OSError, RuntimeError) as exc:
                log.error("could not %s %s: %s", decision.action.value, decision.node, exc)
        return decisions

    async def run(self, stop: asyncio.Event) -> None:
        log.info("failover watchdog: nodes %s; promote after %.1f s, relax after %.1f s",
                 ", ".join(self.settings.nodes), self.settings.promote_after_s, self.settings.relax_after_s)
        while not stop.is_set():
            await self.tick()
            try:
                await asyncio.wait_for(stop.wait(), self.settings.interval_s)
            except asyncio.TimeoutError:
                pass
