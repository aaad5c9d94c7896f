"""`vigia bench capacity --json --profile 4k-substream|4k60-h265`: how many 4K cameras this machine takes.

The cameras are FFmpeg-made from the shared traffic clip (vigia.app.bench.camera_media, cached):
  4k-substream  a 4K30 H.264 main stream with B-frames, recorded continuously by remux, and its 640x360
                sub-stream, decoded and analysed (what an installer should configure: `detect.url`);
  4k60-h265     a 4K60 H.265 stream and nothing else: decoded in full and analysed, and recorded.
Each trial is capacity's (vigia.app.bench.capacity.trial): the whole appliance on N such cameras, files paced
in real time, in a process of its own; the same search for the largest N that keeps real time. Also measured
alone: the decode CPU per frame of each stream (one decoder thread), what a 4K camera without a
sub-stream costs before any analysis.
"""
from __future__ import annotations

import json
import os
import time
from collections.abc import Callable
from pathlib import Path

import av

from vigia.app.bench.camera_media import PROFILES, make_clip
from vigia.app.bench.common import shared_path
from vigia.appliance.config import Camera

# Profile name: the test camera (vigia.app.bench.camera_media.PROFILES) it runs.
CAMERA_PROFILES = {"4k-substream": "4k30-h264-bframes", "4k60-h265": "4k60-h265"}


def profile_streams(profile: str) -> tuple[Path, Path | None]:
    """(main, sub-stream or None) files of the profile's camera, made once from the shared traffic clip."""
    main, sub = PROFILES[CAMERA_PROFILES[profile]]
    source = shared_path("media", "traffic-720p.mp4")
    return make_clip(source, main), make_clip(source, sub) if sub else None


def profile_camera(camera: Camera, profile: str) -> Camera:
    """`camera` (the demo's zones and rules) on the profile's streams, recording continuously."""
    main, sub = profile_streams(profile)
    return camera.model_copy(update={
        "url": str(main),
        "detect": camera.detect.model_copy(update={"url": str(sub) if sub else None}),
        "record": camera.record.model_copy(update={"mode": "continuous"}),
    })


def decode_cpu_ms_per_frame(path: Path, passes: int = 2) -> float:
    """CPU milliseconds to demux and decode one frame of `path`, one decoder thread, best of `passes`."""
    best = None
    for _ in range(passes):
        with av.open(str(path)) as container:
            stream = container.streams.video[0]
            stream.thread_type = "NONE"
            start, frames = time.thread_time(), 0
            for _frame in container.decode(stream):
                frames += 1
            cpu = (time.thread_time() - start) / max(1, frames)
        best = cpu if best is None else min(best, cpu)
    return 1000 * best


def run_profile(args, run_searches: Callable, detect_fps: float) -> int:
    """The profile's search (capacity's `run_searches`, FP32 model) and its decode costs, as JSON on stdout."""
    from vigia.app.bench.common import default_model

    model = (args.model or default_model()).resolve()
    main, sub = profile_streams(args.profile)
    main_ms = decode_cpu_ms_per_frame(main)
    sub_ms = decode_cpu_ms_per_frame(sub) if sub else None
    with av.open(str(main)) as container:
        stream = container.streams.video[0]
        main_fps = float(stream.average_rate)
        main_codec = f"{stream.codec_context.name} {stream.codec_context.width}x{stream.codec_context.height}"
    analysed = sub or main
    with av.open(str(analysed)) as container:
        full_decode = (sub_ms if sub else main_ms) * float(container.streams.video[0].average_rate) / 1000
    found = run_searches({"fp32": (model, args.start or 1)}, main, args.seconds, args.max_trials, profile=args.profile)
    best, trials = found["fp32"]
    out = {
        "profile": args.profile,
        "camera": f"{main_codec} {main_fps:g} fps" + (" + 640x360 sub-stream" if sub else ", no sub-stream"),
        "max_realtime_streams": best["streams"] if best else 0,
        "cpu_per_stream_second": round(best["cpu_per_stream_second"], 4) if best else None,
        "peak_rss_mb": best["peak_rss_mb"] if best else None,
        # What the CPU alone allows: 85% of the cores over a camera's CPU in real time, which is the cheapest trial's
        # analysis CPU (scaled up to every slot when decoding offered only a share of them or the detector dropped
        # some) plus decoding every frame of the stream analysed (decode CPU per frame measured alone). On a loaded
        # box the search above also meets other work's latency; this is the ceiling on one with nothing else running.
        "cpu_per_camera_realtime": round(per_camera := min(
            (t["cpu_per_stream_second"] - t["decode_cpu_per_stream_second"])
            / max(0.05, min(1.0, t["min_due_share"]) * (1 - t["dropped_share"])) for t in trials) + full_decode, 4),
        "cpu_bound_streams": int(0.85 * (os.cpu_count() or 1) / per_camera),
        "main_decode_cpu_ms_per_frame": round(main_ms, 2),
        # What decoding every frame of the main stream would cost a core (1.0: a whole core per camera).
        "main_decode_cores_per_camera": round(main_ms * main_fps / 1000, 3),
        "sub_decode_cpu_ms_per_frame": round(sub_ms, 2) if sub_ms is not None else None,
        "cores": os.cpu_count() or 1,
        "detect_fps": detect_fps,
        "trial_seconds": args.seconds,
        "trials": trials,
        "method": "each trial: full appliance on N such cameras (files paced in real time), the main stream "
                  + ("recorded by remux and the sub-stream analysed" if sub else "decoded, analysed and recorded"),
    }
    print(json.dumps(out, indent=2))
    return 0
