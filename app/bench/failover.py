"""`vigia bench failover --json`: five appliances sending into central (two ingest instances behind NGINX) on a
PostgreSQL primary with a synchronous hot standby (vigia.app.pgpair), the failover watchdog running
(`vigia central failover-watch`).

1. Throughput: the appliances send a backlog with synchronous commit to the standby, then one on a single node
   (synchronous_standby_names emptied, the standby stopped), then one with the standby streaming asynchronously;
   `--rounds` times in turn, the fastest of each mode taken, so that a moment of load on this shared machine
   weighs on all alike. `ingest_ratio_vs_single` = synchronous ÷ single; `ingest_ratio_vs_async` = synchronous ÷
   asynchronous (the cost of waiting for the standby alone: on one machine the standby's replay also takes CPU
   from central, which two hosts do not share).
2. Failover: synchronous again, the appliances send a backlog; once a third of it is in, the primary's
   postmaster is SIGKILLed. The watchdog promotes the standby after `--promote-after` seconds without a
   primary; the ingest instances reconnect through their multi-host connection string and the devices'
   outboxes replay. `failover_seconds`: from the kill to the first batch the promoted node committed
   (its `received_at`), i.e. ingest accepting again as the devices see it.
3. Point-in-time recovery on the promoted node (vigia.app.bench.failover_pitr): a pgBackRest backup into S3,
   batch A, time T, batch B, a restore to T into a new cluster: `pitr_exact` when it holds exactly what central
   held at T (all of A, none of B); `pitr_seconds` the restore's time.
Afterwards every event of every run is counted in PostgreSQL: `lost` and `duplicated` must be 0.
"""
from __future__ import annotations

import asyncio
import json
import tempfile
import threading
import time
from pathlib import Path
from typing import TYPE_CHECKING

from vigia.app.bench.failover_pitr import pitr
from vigia.app.bench.sync import _upload, fill_outbox, make_events
from vigia.sync.identity import SyncCredentials, enrol
from vigia.sync.uploader import UploadSettings

if TYPE_CHECKING:  # psycopg is an extra ([central]); imported when the bench runs
    from vigia.app.devstack import CentralStack
    from vigia.app.pgpair import PostgresPair

APPLIANCES = 5
PITR_PER_DEVICE = 40    # events of each appliance in each of the recovery part's two batches


def _fill(devices: list[tuple[SyncCredentials, Path]], per_device: int, seed: int) -> list[str]:
    """A backlog of `per_device` new events in each appliance's outbox; their ids."""
    ids = []
    for i, (_identity, database) in enumerate(devices):
        events = make_events(per_device, seed + i)
        fill_outbox(database, events)
        ids.extend(e.id for e in events)
    return ids


def _timed_run(devices, per_device: int, seed: int, settings: UploadSettings) -> tuple[float, list[str]]:
    ids = _fill(devices, per_device, seed)
    seconds, _ = asyncio.run(_upload(devices, settings))
    return len(ids) / seconds, ids


def _failover(pair: PostgresPair, stack: CentralStack, devices, per_device: int, seed: int,
              settings: UploadSettings) -> tuple[float, list[str]]:
    """Kill the primary a third of the way through a backlog; seconds from the kill to the first batch committed
    after it."""
    ids = _fill(devices, per_device, seed)
    before = stack.query("SELECT count(*) FROM events")[0][0]
    done = threading.Event()

    def send() -> None:
        asyncio.run(_upload(devices, settings))
        done.set()

    upload = threading.Thread(target=send)
    upload.start()
    while stack.query("SELECT count(*) FROM events")[0][0] - before < len(ids) // 3:
        if done.is_set():
            raise RuntimeError("the backlog went in before the primary could be killed: give more --events")
        time.sleep(0.05)
    killed_at = time.time()
    pair.primary.kill()
    upload.join()
    if not done.is_set():
        raise RuntimeError("the upload did not finish after the failover")
    first = stack.query("SELECT extract(epoch FROM min(received_at)) FROM events WHERE received_at > to_timestamp(%s)",
                        [killed_at])[0][0]
    return float(first) - killed_at, ids


MODES = ("synchronous", "single", "asynchronous")


def _mode(pair: PostgresPair, mode: str) -> None:
    """synchronous: commits wait for the streaming standby; asynchronous: it streams, commits do not wait for it;
    single: no standby at all (stopped)."""
    if mode == "single":
        pair.set_synchronous(False)
        pair.standby.stop()
        return
    if pair.standby.pid() is None:
        pair.standby.start()
    pair.set_synchronous(mode == "synchronous")
    if mode == "synchronous":
        pair.wait_streaming()


def run(args) -> int:
    from vigia.app.devstack import CentralStack
    from vigia.app.pgpair import postgres_pair

    settings = UploadSettings(batch_records=args.batch, backoff_initial_s=0.05, backoff_max_s=1.0, idle_s=0.1,
                              timeout_s=30)
    per_device = max(1, args.events // APPLIANCES)
    with tempfile.TemporaryDirectory(prefix="vigia-bench-failover-") as tmp, postgres_pair() as pair:
        root = Path(tmp)
        root.chmod(0o755)  # the clusters' user reaches into it (the recovery part's sockets, restored cluster)
        stack = CentralStack(root / "central", pair.dsn)
        watchdog = None
        try:
            stack.start(instances=2)
            watchdog = pair.watchdog(root / "watchdog.log", args.promote_after, args.promote_after)
            devices = []
            for i in range(APPLIANCES):
                device_id = f"failover-{i}"
                sent = asyncio.run(enrol(root / device_id / "sync", stack.url, stack.token(device_id), stack.ca_pem))
                devices.append((sent.identity, root / device_id / "vigia.db"))
            rates: dict[str, list[float]] = {mode: [] for mode in MODES}
            every_id: list[str] = []
            for round_ in range(args.rounds):
                for i, mode in enumerate(MODES):
                    _mode(pair, mode)
                    rate, ids = _timed_run(devices, per_device, 100 * (round_ * len(MODES) + i), settings)
                    rates[mode].append(rate)
                    every_id.extend(ids)
            _mode(pair, "synchronous")
            failover_s, ids = _failover(pair, stack, devices, per_device, 1000, settings)
            every_id.extend(ids)
            promoted = not pair.standby.in_recovery()

            def send(seed: int) -> list[str]:
                return _timed_run(devices, PITR_PER_DEVICE, 2000 + 10 * seed, settings)[1]
            recovery = pitr(pair.standby, lambda: stack.query("SELECT count(*) FROM events")[0][0],
                            lambda: stack.query("SELECT clock_timestamp()")[0][0], send, root / "pitr")
            every_id.extend(recovery.event_ids)
            stored, distinct = stack.query("SELECT count(*), count(DISTINCT (device_id, event_id)) FROM events")[0]
        finally:
            if watchdog is not None:
                watchdog.terminate()
                watchdog.wait(10)
            stack.stop()
    best = {mode: max(rates[mode]) for mode in MODES}
    result = {
        "events": len(every_id), "lost": len(every_id) - distinct, "duplicated": stored - distinct,
        "failover_seconds": round(failover_s, 2),
        "ingest_ratio_vs_single": round(best["synchronous"] / best["single"], 3),
        "ingest_ratio_vs_async": round(best["synchronous"] / best["asynchronous"], 3),
        "pitr_exact": recovery.exact, "pitr_seconds": round(recovery.restore_seconds, 2),
        "pitr_backup_seconds": round(recovery.backup_seconds, 2), "pitr_events_at_t": recovery.events_at_t,
        "pitr_events_restored": recovery.events_restored,
        **{f"events_per_s_{mode}": round(best[mode]) for mode in MODES},
        "runs_events_per_s": {mode: [round(r) for r in rates[mode]] for mode in MODES},
        "standby_promoted": promoted, "promote_after_s": args.promote_after, "appliances": APPLIANCES,
        "central_instances": 2, "batch_records": args.batch, "events_per_run": per_device * APPLIANCES,
    }
    print(json.dumps(result))
    return 0 if result["lost"] == 0 and result["duplicated"] == 0 and promoted and recovery.exact else 1
