"""`vigia bench failover --json` (README: hot standby and failover) at a size a test can wait for: five appliances,
two central instances behind NGINX, a primary with a synchronous standby, the primary killed mid-run; nothing
lost or duplicated, the standby promoted, a restore of the promoted node to a time between two batches exact,
every documented key printed."""
from __future__ import annotations

import json
import subprocess
import sys


def test_bench_failover_promotes_the_standby_loses_nothing_and_restores_exactly():
    done = subprocess.run([sys.executable, "-m", "vigia.app.cli.main", "--log-level", "warning", "bench", "failover",
                           "--json", "--events", "2500", "--batch", "100", "--promote-after", "1", "--rounds", "1"],
                          capture_output=True, text=True, timeout=480, check=False)
    assert done.returncode == 0, done.stderr[-3000:]
    result = json.loads(done.stdout)
    assert set(result) == {
        "events", "lost", "duplicated", "failover_seconds", "ingest_ratio_vs_single", "ingest_ratio_vs_async",
        "events_per_s_synchronous", "events_per_s_single", "events_per_s_asynchronous", "runs_events_per_s",
        "standby_promoted", "promote_after_s", "appliances", "pitr_exact", "pitr_seconds", "pitr_backup_seconds",
        "pitr_events_at_t", "pitr_events_restored",
        "central_instances", "batch_records", "events_per_run"}
    # three modes, the failover, then the recovery part's two batches of 40 events per appliance
    assert (result["events"], result["lost"], result["duplicated"]) == (4 * 2500 + 2 * 5 * 40, 0, 0)
    assert result["pitr_exact"] is True and result["pitr_events_restored"] == result["pitr_events_at_t"] == 4 * 2500 + 5 * 40
    assert result["standby_promoted"] is True and result["failover_seconds"] > 0
    assert {mode: len(runs) for mode, runs in result["runs_events_per_s"].items()} == {
        "synchronous": 1, "single": 1, "asynchronous": 1}
    assert result["ingest_ratio_vs_single"] > 0 and result["failover_seconds"] < 300
