"""`vigia bench capacity --json`: how many demo streams this machine analyses in real time.

Each trial runs the whole appliance (the demo's zones and rules, event store, snapshots) on N
copies of the demo clip at real-time pace in a fresh process, so CPU time and peak memory are
that trial's alone. A trial is real time when every stream kept pace with its clock (it offered
at least 97% of the frames due at the detect rate: a stream whose decoding falls behind offers
fewer) and the detector dropped at most 2% of the frames due for analysis. Frames decoded are
not the measure: a stream decodes only its reference frames when they are enough
(`detect.skip_nonreference`).
In the same run: the decode-only cost of the clip, the detector's cost per inference, the
tracker's cost per update in a crowd, and a naive loop (every frame to BGR, every frame detected)
for comparison.

The INT8 model (`vigia models quantize`'s quantization, calibrated on frames of the same clip, as an installer
calibrates on the cameras' footage) is searched the same way, its trials alternating with the FP32 model's so that
both see the same load; `int8_recall_vs_fp32` is the track recall (bench fidelity's) of the appliance's gated
pipeline with the INT8 model against the same pipeline with the FP32 model.
"""
from __future__ import annotations

import argparse
import json
import multiprocessing
import os
import subprocess
import sys
import tempfile
import time
from collections.abc import Generator, Iterator
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

import numpy as np

from vigia.app.bench.common import (
    clip_info,
    decode_only_cpu_per_stream_second,
    default_media,
    default_model,
    detectors_cpu_ms,
    open_default_detector,
    peak_rss_mb,
    process_cpu,
    sample_frames,
)
from vigia.inference.tracking import Tracker
from vigia.inference.types import Detections

DETECT_FPS = 5.0
WARMUP_S = 4.0
MIN_DUE_SHARE = 0.97
MAX_DROPPED_SHARE = 0.02


def naive_cpu_per_stream_second(media: Path, model: Path, frames: int = 60) -> float:
    """What a first script does: every frame converted to full-size BGR, letterboxed and detected."""
    from vigia.inference.preprocess import letterbox

    detector = open_default_detector(model, threads=os.cpu_count() or 1)
    clip_frames, clip_seconds = clip_info(media)
    decoded = sample_frames(media, frames)
    start = process_cpu()
    for frame in decoded:
        detector.detect([letterbox(frame.to_ndarray(format="bgr24"), detector.input_size)])
    per_frame = (process_cpu() - start) / len(decoded)
    detector.close()
    decode = decode_only_cpu_per_stream_second(media, passes=1)
    return decode + per_frame * clip_frames / clip_seconds


def crowd(people: int = 60, updates: int = 60, seed: int = 3) -> Iterator[tuple[float, Detections]]:
    """`people` walking on a grid over a 1280x720 frame (neighbours overlap), detected at 5 fps with jitter."""
    rng = np.random.default_rng(seed)
    cols = 10
    cx = 60 + (np.arange(people) % cols) * 120 + rng.uniform(-20, 20, people)
    cy = 120 + (np.arange(people) // cols) * 90 + rng.uniform(-20, 20, people)
    h = rng.uniform(100, 180, people)
    pos, size, vel = np.c_[cx, cy], np.c_[0.4 * h, h], rng.normal(0, 0.5, (people, 2)) * h[:, None]
    for k in range(updates):
        t = k / DETECT_FPS
        centres = pos + vel * t
        boxes = np.c_[centres - size / 2, centres + size / 2] + rng.normal(0, 2, (people, 4))
        scores = rng.uniform(0.3, 0.95, people).astype(np.float32)
        yield t, Detections(boxes.astype(np.float32), scores, np.zeros(people, np.int32))


def tracker_update_ms(people: int = 60, warmup: int = 10) -> float:
    """Median wall time of one tracker update with `people` tracks and as many detections (after `warmup`)."""
    tracker, timings = Tracker(), []
    for t, detections in crowd(people):
        start = time.perf_counter()
        tracker.update(detections, t)
        timings.append(time.perf_counter() - start)
    return 1000 * float(np.median(timings[warmup:]))


def trial(streams: int, seconds: float, media: Path, model: Path, profile: str = "720p") -> dict:
    """Run in a child process: the appliance with `streams` cameras for `seconds` after a warm-up; with a 4K
    `profile`, each camera is that profile's (vigia.app.bench.capacity_4k) and `media` its main stream."""
    from vigia.appliance.demo import demo_config

    with tempfile.TemporaryDirectory(prefix="vigia-capacity-") as data_dir:
        base = demo_config(media, Path(data_dir), 0)
        camera = base.cameras[0]
        if profile != "720p":
            from vigia.app.bench.capacity_4k import profile_camera

            camera = profile_camera(camera, profile)
        cameras = [camera.model_copy(update={"name": f"cam{i + 1}"}) for i in range(streams)]
        config = base.model_copy(update={
            "cameras": cameras,
            "detector": base.detector.model_copy(update={"model": str(model)}),
        })
        from vigia.app.appliance import Appliance

        appliance = Appliance(config)
        appliance.start()
        time.sleep(WARMUP_S)
        before, work0 = _counters(appliance, cameras), _work(appliance)
        cpu0, t0 = process_cpu(), time.monotonic()
        time.sleep(seconds)
        cpu1, t1 = process_cpu(), time.monotonic()
        after, work1 = _counters(appliance, cameras), _work(appliance)
        appliance.stop()
    elapsed = t1 - t0
    clip_frames, clip_seconds = clip_info(media)
    fps = clip_frames / clip_seconds
    per_camera = {name: {k: after[name][k] - before[name][k] for k in after[name]} for name in after}
    due_share = min((c["analysed"] + c["dropped"]) / (elapsed * DETECT_FPS) for c in per_camera.values())
    decoded = sum(c["frames"] for c in per_camera.values()) / (elapsed * streams)
    due = sum(c["analysed"] + c["dropped"] for c in per_camera.values())
    dropped_share = sum(c["dropped"] for c in per_camera.values()) / max(1, due)
    return {
        "streams": streams,
        "seconds": round(elapsed, 2),
        "realtime": due_share >= MIN_DUE_SHARE and dropped_share <= MAX_DROPPED_SHARE,
        "min_due_share": round(due_share, 4),
        "decoded_frames_share": round(decoded / fps, 4),  # of the clip's frames, on average
        "dropped_share": round(dropped_share, 4),
        "cpu_per_stream_second": (cpu1 - cpu0) / (elapsed * streams),
        # Split of that CPU, from the appliance's own metrics (thread CPU clocks).
        "decode_cpu_per_stream_second": (work1["decode"] - work0["decode"]) / (elapsed * streams),
        "inference_cpu_ms": 1000 * (work1["inference"] - work0["inference"]) / max(1.0, work1["images"] - work0["images"]),
        "inference_per_stream_second": (work1["images"] - work0["images"]) / (elapsed * streams),
        "peak_rss_mb": round(peak_rss_mb(), 1),
    }


def _counters(appliance, cameras) -> dict[str, dict[str, float]]:
    registry = appliance.metrics.registry
    names = {"frames": "vigia_camera_frames_total", "analysed": "vigia_camera_frames_analysed_total",
             "dropped": "vigia_camera_frames_dropped_total"}
    return {
        c.name: {key: registry.get_sample_value(metric, {"camera": c.name}) or 0.0 for key, metric in names.items()}
        for c in cameras
    }


def _work(appliance) -> dict[str, float]:
    """Totals across cameras: decode CPU seconds, detector CPU seconds, images detected."""
    registry = appliance.metrics.registry
    backend = {"backend": appliance.detector.name}
    return {
        "decode": sum(registry.get_sample_value("vigia_decode_seconds_sum", {"camera": c.name}) or 0.0
                      for c in appliance.config.cameras),
        "inference": registry.get_sample_value("vigia_inference_cpu_seconds_total", backend) or 0.0,
        "images": registry.get_sample_value("vigia_inference_images_total", backend) or 0.0,
    }


def _run_trial(streams: int, seconds: float, media: Path, model: Path, profile: str = "720p") -> dict:
    command = [sys.executable, "-m", "vigia.app.bench.capacity", "--trial", str(streams),
               "--seconds", str(seconds), "--media", str(media), "--model", str(model), "--profile", profile]
    done = subprocess.run(command, capture_output=True, text=True, timeout=seconds + 120)
    if done.returncode != 0:
        raise RuntimeError(f"trial with {streams} streams failed:\n{done.stderr[-2000:]}")
    return json.loads(done.stdout.strip().splitlines()[-1])


def search(start: int, max_trials: int) -> Generator[int, dict, dict | None]:
    """The stream counts to try, from `start`: each is sent back its trial's result; returns the best real-time one.
    Up by a fifth while real time, then down (or halfway to the best) until the edge is found."""
    n, best, worst_fail = start, None, None
    for _ in range(max_trials):
        result = yield n
        if result["realtime"]:
            best = result if best is None or n > best["streams"] else best
            if worst_fail is not None and n + 1 >= worst_fail:
                break
            n = n + 1 if worst_fail is not None else n + max(1, n // 5)
        else:
            worst_fail = n if worst_fail is None else min(worst_fail, n)
            if best is not None and best["streams"] + 1 >= n:
                break
            n = max(1, (best["streams"] + n) // 2 if best else n - max(1, n // 5))
            if best is not None and n <= best["streams"]:
                break
    return best


def run_searches(models: dict[str, tuple[Path, int]], media: Path, seconds: float,
                 max_trials: int, profile: str = "720p") -> dict[str, tuple[dict | None, list[dict]]]:
    """A search per model (name: (model, first N)), their trials taken in turn; name: (best, trials)."""
    searches = {name: search(start, max_trials) for name, (_, start) in models.items()}
    pending = {name: next(s) for name, s in searches.items()}
    trials: dict[str, list[dict]] = {name: [] for name in models}
    best: dict[str, dict | None] = {}
    while pending:
        for name in list(pending):
            result = _run_trial(pending[name], seconds, media, models[name][0], profile)
            trials[name].append(result)
            print(json.dumps({"model": name, **result}), file=sys.stderr, flush=True)
            try:
                pending[name] = searches[name].send(result)
            except StopIteration as done:
                best[name] = done.value
                del pending[name]
    return {name: (best[name], trials[name]) for name in models}


def realtime_capacity(media: Path, model: Path, seconds: float, max_trials: int) -> tuple[dict | None, list[dict]]:
    """How many real-time streams of `media` this machine analyses with `model` now: (the best trial, all trials);
    the search starts from the CPU cost of one stream, as `vigia bench capacity` does."""
    detector = open_default_detector(model)
    try:
        ideal = decode_only_cpu_per_stream_second(media) + DETECT_FPS * detectors_cpu_ms({"m": detector}, media)["m"] / 1000
    finally:
        detector.close()
    start = max(1, int((os.cpu_count() or 1) * 0.85 / ideal))
    return run_searches({"m": (model, start)}, media, seconds, max_trials)["m"]


def quantized(model: Path, media: Path, out: Path, frames: int) -> Path:
    """The INT8 model `vigia models quantize` would make, calibrated on `frames` frames spread over `media`."""
    from vigia.inference.int8 import Footage, sample_footage
    from vigia.inference.onnx_model import load_model
    from vigia.inference.quantize import quantize

    _, spec = load_model(model)
    calibration, _ = sample_footage(Footage([str(media)], calibration_frames=frames, checked_frames=1), spec.input_size)
    quantize(model, [s.input for s in calibration], out)
    return out


def pipeline_track_recall(media: Path, reference: Path, candidate: Path) -> tuple[int, float]:
    """Track recall (bench fidelity's) of the gated pipeline with `candidate` against it with `reference`."""
    from vigia.app.bench.fidelity import KEPT, track_recall
    from vigia.appliance.analyze import analyze
    from vigia.appliance.config import Camera

    camera = Camera(name="int8", url=str(media), realtime=False)
    tracks = []
    for model in (reference, candidate):
        detector = open_default_detector(model)
        try:
            tracks.append(analyze(media, camera, detector, KEPT, keep_boxes=True, skip_nonreference=True).tracks)
        finally:
            detector.close()
    return track_recall(*tracks)


def run(args) -> int:
    if getattr(args, "profile", "720p") != "720p":
        from vigia.app.bench.capacity_4k import run_profile

        return run_profile(args, run_searches, DETECT_FPS)
    media = (args.media or default_media()).resolve()
    model = (args.model or default_model()).resolve()
    cores = os.cpu_count() or 1

    with tempfile.TemporaryDirectory(prefix="vigia-capacity-int8-") as work:
        if args.int8_model is None:  # in a process of its own: its memory would count in every trial's peak RSS
            with ProcessPoolExecutor(1, mp_context=multiprocessing.get_context("spawn")) as pool:  # (exec keeps it)
                int8 = pool.submit(quantized, model, media, Path(work) / "int8.onnx", args.int8_frames).result()
        else:
            int8 = args.int8_model.resolve()
        decode_only = decode_only_cpu_per_stream_second(media)
        detectors = {"fp32": open_default_detector(model), "int8": open_default_detector(int8)}
        det_ms = detectors_cpu_ms(detectors, media)
        for detector in detectors.values():
            detector.close()
        naive = naive_cpu_per_stream_second(media, model)
        tracker_ms = tracker_update_ms()
        ideal = {name: decode_only + DETECT_FPS * ms / 1000 for name, ms in det_ms.items()}
        starts = {name: args.start or max(1, int(cores * 0.85 / ideal[name])) for name in ideal}
        found = run_searches({"fp32": (model, starts["fp32"]), "int8": (int8, starts["int8"])},
                             media, args.seconds, args.max_trials)
        baseline_tracks, int8_recall = pipeline_track_recall(media, model, int8)

    (best, trials), (int8_best, int8_trials) = found["fp32"], found["int8"]
    cpu = best["cpu_per_stream_second"] if best else None
    streams, int8_streams = (best["streams"] if best else 0), (int8_best["streams"] if int8_best else 0)
    out = {
        "max_realtime_streams": streams,
        "cpu_per_stream_second": round(cpu, 4) if cpu else None,
        "decode_only_cpu_per_stream_second": round(decode_only, 4),
        "detector_cpu_ms": round(det_ms["fp32"], 2),
        "tracker_update_ms": round(tracker_ms, 3),  # median, 60 tracks x 60 detections (crowd())
        "overhead_ratio": round(cpu / ideal["fp32"], 3) if cpu else None,
        # The same ratio with decode and inference CPU measured inside the trial (10+ streams
        # sharing 2 cores and their caches): what the pipeline itself adds on top of them.
        "overhead_ratio_in_situ": round(cpu / (best["decode_cpu_per_stream_second"] + best["inference_per_stream_second"]
                                               * best["inference_cpu_ms"] / 1000), 3) if cpu else None,
        "naive_realtime_streams": round(cores / naive, 2),
        "naive_cpu_per_stream_second": round(naive, 4),
        "peak_rss_mb": best["peak_rss_mb"] if best else None,
        "rss_budget_mb": 200 + 40 * best["streams"] if best else None,
        "int8_max_realtime_streams": int8_streams,
        "int8_streams_ratio": round(int8_streams / streams, 3) if streams else None,
        "int8_cpu_per_stream_second": round(int8_best["cpu_per_stream_second"], 4) if int8_best else None,
        "int8_detector_cpu_ms": round(det_ms["int8"], 2),
        "int8_detector_speedup": round(det_ms["fp32"] / det_ms["int8"], 3),
        "int8_recall_vs_fp32": round(int8_recall, 4),
        "int8_baseline_tracks": baseline_tracks,
        "int8_model": str(args.int8_model) if args.int8_model else f"quantized on {args.int8_frames} frames of the clip",
        "cores": cores,
        "detect_fps": DETECT_FPS,
        "trial_seconds": args.seconds,
        "trials": trials,
        "int8_trials": int8_trials,
        "method": "each trial: full appliance on N looping copies of the clip at real-time pace, FP32 and INT8 "
                  "trials alternating; naive streams = cores / naive CPU per stream-second",
    }
    print(json.dumps(out, indent=2))
    return 0


def _trial_main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--trial", type=int, required=True)
    parser.add_argument("--seconds", type=float, required=True)
    parser.add_argument("--media", type=Path, required=True)
    parser.add_argument("--model", type=Path, required=True)
    parser.add_argument("--profile", default="720p")
    args = parser.parse_args()
    print(json.dumps(trial(args.trial, args.seconds, args.media, args.model, args.profile)))
    return 0


if __name__ == "__main__":
    sys.exit(_trial_main())
