"""`vigia bench NAME --json`: the benchmarks, each a module with `run(args)` that prints one JSON object.

Their arguments are declared here, so that the CLI starts without importing what a benchmark needs
(detector, decoder, web stack); the module of the one chosen is imported when it runs.
"""
from __future__ import annotations

import argparse
import importlib
from pathlib import Path

EVENTS_STORED = 1_000_000  # events in the store for the query benchmarks (storage, ui)
NOTIFY_STREAMS = 8         # demo cameras of bench notify


def add_commands(bench: argparse._SubParsersAction) -> None:
    """The subcommands of `vigia bench`."""
    capacity = _bench(bench, "capacity", "vigia.app.bench.capacity",
                      "how many real-time streams this machine analyses")
    capacity.add_argument("--media", type=Path, default=None)
    capacity.add_argument("--model", type=Path, default=None)
    capacity.add_argument("--seconds", type=float, default=60.0, help="length of each trial")
    capacity.add_argument("--start", type=int, default=None, help="first N to try (default: estimated from CPU costs)")
    capacity.add_argument("--max-trials", type=int, default=5, help="trials of each model")
    capacity.add_argument("--profile", choices=["720p", "4k-substream", "4k60-h265"], default="720p",
                          help="the cameras: the demo clip (720p), 4K30 H.264 with a 640x360 sub-stream, or 4K60 H.265 "
                               "alone (FFmpeg-made from the shared traffic clip, cached)")
    capacity.add_argument("--int8-model", type=Path, default=None,
                          help="the INT8 model to compare (default: quantize --model on frames of --media)")
    capacity.add_argument("--int8-frames", type=int, default=64, help="calibration frames of that quantization")

    fidelity = _bench(bench, "fidelity", "vigia.app.bench.fidelity", "gated pipeline vs detect-every-frame baseline")
    fidelity.add_argument("--media", type=Path, default=None)
    fidelity.add_argument("--model", type=Path, default=None)

    storage = _bench(bench, "storage", "vigia.app.bench.storage",
                     "recording, encryption, clips and event store costs")
    storage.add_argument("--media", type=Path, default=None)
    storage.add_argument("--events", type=int, default=EVENTS_STORED, help="events stored for the query test")

    ui = _bench(bench, "ui", "vigia.app.bench.ui", "alert latency, live view CPU, event API and front-end size")
    ui.add_argument("--streams", type=int, default=None,
                    help="demo cameras running for the live part (default: 90%% of the capacity measured first)")
    ui.add_argument("--capacity-seconds", type=float, default=30.0, help="length of each capacity trial")
    ui.add_argument("--capacity-trials", type=int, default=5, help="capacity trials at most")
    ui.add_argument("--seconds", type=float, default=20.0, help="length of each live measurement")
    ui.add_argument("--events", type=int, default=EVENTS_STORED, help="events stored for the API part")
    ui.add_argument("--warmup", type=float, default=8.0, help="seconds before measuring: cameras online, "
                    "motion models settled")

    reanalysis = _bench(bench, "reanalysis", "vigia.app.bench.reanalysis",
                        "re-analysis jobs through RabbitMQ by central workers: throughput, scaling, faults, verdicts")
    reanalysis.add_argument("--media", type=Path, default=None)
    reanalysis.add_argument("--model", type=Path, default=None)
    reanalysis.add_argument("--jobs", type=int, default=8, help="jobs in the backlog of each run (events of the clips in"
                            " turn, a job each over its clip)")
    reanalysis.add_argument("--clip-seconds", type=float, default=4.0, help="about how long each clip is")
    reanalysis.add_argument("--timeout", type=float, default=1800.0, help="seconds a run may take")
    reanalysis_cpu = _bench(bench, "reanalysis-cpu", "vigia.app.bench.reanalysis_cpu",
                            "CPU seconds per frame of central's analysis with 1 and more intra-op threads (sizing)")
    reanalysis_cpu.add_argument("--media", type=Path, default=None)
    reanalysis_cpu.add_argument("--model", type=Path, default=None)
    reanalysis_cpu.add_argument("--frames", type=int, default=20, help="frames analysed per thread count")
    reanalysis_cpu.add_argument("--threads", type=int, nargs="+", default=[1, 2], help="intra-op thread counts")

    retrain = _bench(bench, "retrain", "vigia.app.bench.retrain",
                     "fine-tune on hard examples of the first 70% of the media; mAP on the rest, recall on other footage")
    retrain.add_argument("--media", type=Path, default=None)
    retrain.add_argument("--model", type=Path, default=None)
    retrain.add_argument("--heldout", type=Path, default=None, help="other footage (default: the traffic clip)")
    retrain.add_argument("--mine-frames", type=int, default=24, help="frames of the first 70%% central looks at")
    retrain.add_argument("--test-frames", type=int, default=10, help="frames of the last 30%% measured")
    retrain.add_argument("--replay-frames", type=int, default=16, help="replay frames (first half of --heldout)")
    retrain.add_argument("--heldout-frames", type=int, default=10, help="frames measured (second half of --heldout)")
    retrain.add_argument("--iterations", type=int, default=30)
    retrain.add_argument("--batch", type=int, default=4)
    retrain.add_argument("--replay-share", type=float, default=0.5, help="of each batch, from the replay set")
    retrain.add_argument("--seed", type=int, default=0)

    privacy = _bench(bench, "privacy", "vigia.app.bench.privacy",
                     "a disclosure export: persons still found after redaction, frames redacted per second;"
                     " what an erasure leaves; the share of footage accesses audited")
    privacy.add_argument("--media", type=Path, default=None)
    privacy.add_argument("--model", type=Path, default=None)
    privacy.add_argument("--seconds", type=float, default=8.0, help="length of the cut redacted")
    privacy.add_argument("--threads", type=int, default=2, help="detector threads (ONNX Runtime intra-op)")
    privacy.add_argument("--parts", default="redaction,erasure,audit", help="which measures: redaction, erasure, audit")
    privacy.add_argument("--erasure-events", type=int, default=20, help="events sent to central, half of them erased")
    privacy.add_argument("--audit-events", type=int, default=3, help="events whose snapshot and clip the browser opens")

    masks = _bench(bench, "masks", "vigia.app.bench.masks",
                   "privacy masks: an export re-encoded masked against one remuxed, and painting a frame")
    masks.add_argument("--media", type=Path, default=None)
    masks.add_argument("--share", type=float, default=0.3, help="the share of the frame's width the mask covers")
    masks.add_argument("--paint-frames", type=int, default=100, help="frames painted for paint_ms")

    fleet = _bench(bench, "fleet-metrics", "vigia.app.bench.fleet_metrics",
                   "one scrape of central's fleet metrics from PostgreSQL, as the fleet grows")
    fleet.add_argument("--devices", type=int, default=1000)
    fleet.add_argument("--cameras", type=int, default=4, help="camera state records per device")
    fleet.add_argument("--rollups", type=int, default=720, help="hourly metrics roll-ups per device (720: a month)")
    fleet.add_argument("--tracks", type=int, default=200, help="track summaries per device")
    fleet.add_argument("--jobs", type=int, default=20_000, help="re-analysis jobs (3 in 4 open)")
    fleet.add_argument("--scrapes", type=int, default=20)

    api = _bench(bench, "api", "vigia.app.bench.api", "central's external API: REST and GraphQL pages, rate limit")
    api.add_argument("--events", type=int, default=EVENTS_STORED, help="central events stored (default 1,000,000)")
    api.add_argument("--calls", type=int, default=400, help="pages measured per API")
    api.add_argument("--concurrency", type=int, default=1, help="clients calling at once (default 1: the latency of a page)")
    api.add_argument("--rate-limit", type=int, default=100, help="calls a minute of the rate-limit check")

    notify = _bench(bench, "notify", "vigia.app.bench.notify",
                    "alerts of demo cameras to MQTT, a webhook and web push: latency, and an outage of all three")
    notify.add_argument("--streams", type=int, default=NOTIFY_STREAMS, help="demo cameras running")
    notify.add_argument("--seconds", type=float, default=60.0, help="length of the latency measurement")
    notify.add_argument("--warmup", type=float, default=8.0, help="seconds before measuring")
    notify.add_argument("--outage-seconds", type=float, default=60.0,
                        help="how long the broker, the webhook receiver and the push endpoint are down")
    notify.add_argument("--drain-timeout", type=float, default=300.0,
                        help="seconds the backlog may take to arrive after the outage")

    sync = _bench(bench, "sync", "vigia.app.bench.sync", "an outbox backlog through NGINX into PostgreSQL")
    sync.add_argument("--events", type=int, default=100_000, help="backlog of each run")
    sync.add_argument("--fleet", type=int, default=50, help="simulated appliances of the second run")
    sync.add_argument("--batch", type=int, default=2000, help="records per batch")

    central_storage = _bench(bench, "central-storage", "vigia.app.bench.central_storage",
                             "central's PostgreSQL and S3 bytes per event, per camera-day and per device-month")
    central_storage.add_argument("--media", type=Path, default=None, help="the clip thumbnails and clips come from")
    central_storage.add_argument("--cameras", type=int, default=4, help="cameras of the device")
    central_storage.add_argument("--days", type=int, default=3, help="days ingested (the month is extrapolated from them)")
    central_storage.add_argument("--events", type=int, default=500, help="events per camera-day (each with a thumbnail)")
    central_storage.add_argument("--tracks", type=int, default=1500, help="track summaries per camera-day")
    central_storage.add_argument("--clips", type=int, default=5, help="clips uploaded per camera-day (rules with upload_clip)")
    central_storage.add_argument("--health-changes", type=int, default=4, help="camera health changes per camera-day")
    central_storage.add_argument("--thumbnail-samples", type=int, default=24, help="thumbnails rendered from the clip")

    failover = _bench(bench, "failover", "vigia.app.bench.failover",
                      "five appliances into central on a primary with a synchronous standby; the primary killed")
    failover.add_argument("--events", type=int, default=20_000, help="backlog of each run, shared by the appliances")
    failover.add_argument("--batch", type=int, default=1000, help="records per batch")
    failover.add_argument("--rounds", type=int, default=3, help="runs of each mode (synchronous, single, asynchronous)")
    failover.add_argument("--promote-after", type=float, default=5.0,
                          help="seconds without a primary before the watchdog promotes the standby")

    rollout = _bench(bench, "rollout", "vigia.app.bench.rollout",
                     "a model rollout to enrolled devices: unsigned refused, bad canary rolled back, good one to all")
    rollout.add_argument("--devices", type=int, default=3, help="enrolled devices (at least 3)")
    rollout.add_argument("--fps", type=float, default=3.0, help="frames each device's detector runs a second")
    rollout.add_argument("--media", type=Path, default=None)
    rollout.add_argument("--model", type=Path, default=None)
    rollout.add_argument("--timeout", type=float, default=300.0, help="seconds a rollout may take")


def _bench(bench: argparse._SubParsersAction, name: str, module: str, help: str) -> argparse.ArgumentParser:
    parser = bench.add_parser(name, help=help)
    parser.add_argument("--json", action="store_true", help="print JSON (the only format)")
    parser.set_defaults(handler=lambda args: importlib.import_module(module).run(args))
    return parser
