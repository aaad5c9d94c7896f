"""The benchmark commands run and print the documented keys (their numbers are not asserted here:
benchmarks are commands, run on purpose, not timed tests)."""
import json
import subprocess
import sys


def bench(*args):
    done = subprocess.run([sys.executable, "-m", "vigia.app.cli.main", "bench", *args, "--json"],
                          capture_output=True, text=True, timeout=240)
    assert done.returncode == 0, done.stderr[-3000:]
    return json.loads(done.stdout)


def test_capacity_bench_prints_its_keys():
    result = bench("capacity", "--seconds", "4", "--start", "1", "--max-trials", "1")
    for key in ("max_realtime_streams", "cpu_per_stream_second", "decode_only_cpu_per_stream_second",
                "detector_cpu_ms", "tracker_update_ms", "overhead_ratio", "naive_realtime_streams", "peak_rss_mb"):
        assert key in result, key
    assert result["max_realtime_streams"] == 1  # one stream is real time on any machine that runs the suite
    assert 0 < result["decode_only_cpu_per_stream_second"] < result["cpu_per_stream_second"]
    assert result["detector_cpu_ms"] > 0 and result["naive_realtime_streams"] > 0


def test_fidelity_bench_prints_its_keys():
    result = bench("fidelity")
    assert result["baseline_tracks"] >= 20
    assert 0 <= result["track_recall"] <= 1
    assert 0 < result["detector_calls_ratio"] <= 0.25  # 5 fps of a 25 fps clip, at most


def test_storage_bench_prints_its_keys():
    result = bench("storage", "--events", "3000")
    for key in ("record_cpu_per_stream_second", "record_vs_decode_ratio", "encrypt_cpu_per_stream_second",
                "clip_assembly_ms", "event_insert_per_s", "event_query_p95_ms", "days_of_footage_on_256gb"):
        assert key in result, key
    assert result["events_stored"] == 3000
    assert 25 <= result["clip_seconds"] <= 40  # a 30 s window, from the keyframe before it
    assert 0 < result["days_of_footage_on_256gb"]


def test_ui_bench_prints_its_keys():
    result = bench("ui", "--events", "2000", "--streams", "1", "--seconds", "3", "--warmup", "3")
    for key in ("alert_latency_p95_ms", "api_events_p95_ms", "live_view_cpu_per_viewer", "first_load_kb",
                "api_vs_sqlite_ratio", "live_frame_latency_p95_ms"):
        assert key in result, key
    assert result["events_stored"] == 2000 and result["streams"] == 1
    assert result["alerts_received"] > 0 and result["alert_latency_p95_ms"] > 0  # a crowd: someone is always there
    assert result["live_frames_per_s"] > 2  # the grid was watched: frames came at about the detect rate (5/s)
