"""`vigia bench sync --json` (README: Sync with central) at a size a test can wait for: the whole path
(outbox, uploader, NGINX, two central instances, PostgreSQL) and its figures, nothing lost or duplicated."""
from __future__ import annotations

import json
import subprocess
import sys


def test_bench_sync_moves_every_event_once_and_reports_its_figures():
    done = subprocess.run([sys.executable, "-m", "vigia.app.cli.main", "--log-level", "warning", "bench", "sync", "--json",
                           "--events", "600", "--fleet", "3", "--batch", "100"],
                          capture_output=True, text=True, timeout=240, check=False)
    assert done.returncode == 0, done.stderr[-3000:]
    result = json.loads(done.stdout)
    assert set(result) == {
        "events", "lost", "duplicated", "events_per_s", "batch_p99_ms", "wire_bytes_per_event", "copy_events_per_s",
        "ingest_ratio_vs_copy", "fleet_ingest_ratio_vs_copy", "copy_runs_events_per_s", "one_appliance", "fleet",
        "central_instances", "batch_records"}
    assert (result["events"], result["lost"], result["duplicated"]) == (1200, 0, 0)
    one, fleet = result["one_appliance"], result["fleet"]
    assert (one["appliances"], one["events"], one["lost"], one["duplicated"]) == (1, 600, 0, 0)
    assert (fleet["appliances"], fleet["events"], fleet["lost"], fleet["duplicated"]) == (3, 600, 0, 0)
    assert one["batches"] >= 6 and fleet["batches"] >= 6  # 100 records a batch at most: 600 events take 6 or more
    assert (result["central_instances"], result["batch_records"]) == (2, 100)
    assert len(result["copy_runs_events_per_s"]) == 3 and result["copy_events_per_s"] == max(result["copy_runs_events_per_s"])
    assert 0 < result["wire_bytes_per_event"] < 1000  # gzip'd JSON of a small event: a few hundred bytes at most
