"""`vigia bench notify --json` at a size a test can wait for: its times are not asserted, its delivery is."""
from __future__ import annotations

import json
import subprocess
import sys


def test_the_notify_bench_delivers_everything_after_an_outage():
    done = subprocess.run([sys.executable, "-m", "vigia.app.cli.main", "--log-level", "warning", "bench", "notify", "--json",
                           "--streams", "1", "--warmup", "2", "--seconds", "6", "--outage-seconds", "6",
                           "--drain-timeout", "60"], capture_output=True, text=True, timeout=240)
    assert done.returncode == 0, done.stderr[-3000:]
    result = json.loads(done.stdout)
    assert result["streams"] == 1 and result["notifications"] > 0
    assert result["lost"] == 0 and result["refused_at_receiver"] == 0
    assert result["delivered_after_outage"] == result["outage_alerts"]
    assert result["outage_notifications"] >= result["outage_alerts"]
    for name in ("mqtt", "webhook", "push"):
        assert f"{name}_p95_ms" in result and result[f"{name}_alerts"] >= 0
