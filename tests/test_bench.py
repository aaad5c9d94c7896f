"""The benchmark commands run, print the documented keys, and meet floors a regression breaks: figures that
are deterministic (recall on the demo clip read as fast as possible, its bitrate, the front end's size) or
ratios measured within the run, with the margin a busy machine needs; their absolute times are not asserted."""
import json
import subprocess
import sys

from tests.conftest import shared_dir


def bench(*args):
    done = subprocess.run([sys.executable, "-m", "vigia.app.cli.main", "bench", *args, "--json"],
                          capture_output=True, text=True, timeout=240)
    assert done.returncode == 0, done.stderr[-3000:]
    return json.loads(done.stdout)


def test_capacity_bench_prints_its_keys():
    result = bench("capacity", "--seconds", "4", "--start", "1", "--max-trials", "1", "--int8-frames", "8")
    for key in ("max_realtime_streams", "cpu_per_stream_second", "decode_only_cpu_per_stream_second",
                "detector_cpu_ms", "tracker_update_ms", "overhead_ratio", "naive_realtime_streams", "peak_rss_mb",
                "int8_max_realtime_streams", "int8_recall_vs_fp32", "int8_detector_cpu_ms", "int8_streams_ratio"):
        assert key in result, key
    assert result["max_realtime_streams"] == 1  # one stream is real time on any machine that runs the suite
    assert result["int8_max_realtime_streams"] == 1 and len(result["int8_trials"]) == 1
    assert 0 < result["decode_only_cpu_per_stream_second"] < result["cpu_per_stream_second"]
    assert result["detector_cpu_ms"] > 0 and result["naive_realtime_streams"] > 0
    # The INT8 pipeline's tracks against the FP32 pipeline's on the demo clip (deterministic: read as fast as
    # possible), calibrated on 8 frames only here: 0.93 measured.
    assert result["int8_baseline_tracks"] >= 20 and 0.8 <= result["int8_recall_vs_fp32"] <= 1.0


def test_fidelity_bench_prints_its_keys():
    result = bench("fidelity")
    assert result["baseline_tracks"] >= 20
    assert result["track_recall"] >= 0.95  # 0.978 (44 of 45), deterministic: the clip is read as fast as possible
    assert 0 < result["detector_calls_ratio"] <= 0.25  # 5 fps of a 25 fps clip, at most


def test_fidelity_bench_follows_fast_vehicles():
    """The motorway clip (small vehicles, fast for their size, car / truck / bus swapped by the detector)."""
    traffic = shared_dir() / "media" / "traffic-720p.mp4"
    result = bench("fidelity", "--media", str(traffic))
    assert result["baseline_tracks"] >= 60
    assert result["track_recall"] >= 0.95  # 0.989 (89 of 90); before the tracker followed vehicles: 0.953 (same label 0.906)
    assert result["track_recall_same_label"] <= result["track_recall"]
    assert 0 < result["detector_calls_ratio"] <= 0.25


def test_storage_bench_prints_its_keys():
    result = bench("storage", "--events", "3000")
    for key in ("record_cpu_per_stream_second", "record_vs_decode_ratio", "encrypt_cpu_per_stream_second",
                "clip_assembly_ms", "event_insert_per_s", "event_query_p95_ms", "days_of_footage_on_256gb"):
        assert key in result, key
    assert result["record_vs_decode_ratio"] <= 0.05  # 0.007-0.008: remuxing against decoding the same packets
    assert 25 <= result["clip_seconds"] <= 40  # a 30 s window, from the keyframe before it
    assert result["days_of_footage_on_256gb"] == 13.2  # the demo clip's 202 kB/s on 90% of 256 GB


def test_ui_bench_prints_its_keys():
    result = bench("ui", "--events", "2000", "--streams", "1", "--seconds", "3", "--warmup", "3")
    for key in ("alert_latency_p95_ms", "api_events_p95_ms", "live_view_cpu_per_viewer", "first_load_kb",
                "api_vs_sqlite_ratio", "live_frame_latency_p95_ms"):
        assert key in result, key
    assert result["first_load_kb"] <= 300  # 87-91 kB gzipped
    assert result["alerts_received"] > 0  # a crowd: someone is always there
    # Times are the bench's to judge (README), not this test's: a loaded machine is slower. Measured, they exist.
    assert 0 < result["alert_latency_p50_ms"] <= result["alert_latency_p95_ms"]
    assert result["live_frames_per_s"] > 0  # the grid was watched: frames came (about the detect rate, 5/s)


def test_ui_bench_sizes_its_load_at_90_percent_of_the_capacity_it_measures():
    from vigia.app.bench.common import default_media, default_model
    from vigia.app.bench.ui import load_streams

    load = load_streams(default_media().resolve(), default_model().resolve(), seconds=3, max_trials=1)
    [trial] = load["capacity_trials"]
    assert load["capacity_streams"] == (trial["streams"] if trial["realtime"] else 0)
    assert load["streams"] == max(1, int(0.9 * load["capacity_streams"]))
