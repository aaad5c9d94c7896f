"""`vigia bench central-storage --json` (README: sizing) at a size a test can wait for: every record kind goes
through central's ingest into PostgreSQL and grows it, the S3 figures come from the demo clip's thumbnails and
bitrate, and the month is extrapolated from the days ingested."""
from __future__ import annotations

import json
import subprocess
import sys


def test_bench_central_storage_measures_each_kind_and_extrapolates_a_month(demo_clip):
    done = subprocess.run([sys.executable, "-m", "vigia.app.cli.main", "--log-level", "warning", "bench",
                           "central-storage", "--json", "--media", str(demo_clip), "--cameras", "2", "--days", "2",
                           "--events", "30", "--tracks", "40", "--clips", "2", "--thumbnail-samples", "3"],
                          capture_output=True, text=True, timeout=300, check=False)
    assert done.returncode == 0, done.stderr[-3000:]
    result = json.loads(done.stdout)
    assert result["records"] == {"events": 120, "track_summaries": 160, "metrics_rollups": 48, "camera_health": 16}
    assert result["media_objects"] == 120 + 8   # a thumbnail per event, 2 clips per camera-day
    pg = result["pg_bytes"]
    assert all(pg[kind] > 0 for kind in ("events", "track_summaries", "metrics_rollups", "media_objects")), pg
    assert result["pg_bytes_total"] == sum(pg.values())
    assert result["pg_bytes_per_device_month"] == result["pg_bytes_total"] * 15   # 30 days from 2
    assert result["pg_bytes_per_camera_day"] == round(result["pg_bytes_total"] / 4)
    assert 10_000 < result["s3_bytes_per_thumbnail"] < 1_000_000   # a 720p JPEG
    # pre-roll 5 s + an event of 2-30 s + post-roll 10 s at the clip's bitrate
    assert 17 * result["clip_bitrate_bytes_per_s"] <= result["s3_bytes_per_clip"] <= 45 * result["clip_bitrate_bytes_per_s"]
