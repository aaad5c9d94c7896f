"""`vigia bench reanalysis-cpu --json`: what central's full analysis of a frame (tiles and flips, fusion, tracker)
costs in CPU seconds with one intra-op thread and with more, in this process, one after the other.

CPU seconds per frame barely depend on what else the machine runs (wall time does), so they size workers on a
shared machine: frames per CPU second is frames per second per core when a worker has a core to itself. A thread
count that costs more CPU per frame than one thread is worse per core than as many one-thread workers.
"""
from __future__ import annotations

import json
import os
import tempfile
import time
from fractions import Fraction
from pathlib import Path

import av

from vigia.app.bench.common import default_media, default_model
from vigia.central.reanalysis.analysis import analyse_clip
from vigia.central.reanalysis.results import DEFAULT_CLASSES
from vigia.inference.factory import create_detector
from vigia.scene.layout import CameraLayout

RATE = 25


def first_frames(media: Path, count: int, to: Path) -> Path:
    """The first `count` frames of `media` as an H.264 clip at RATE frames a second."""
    with av.open(str(media)) as source, av.open(str(to), "w") as out:
        stream = None
        for i, frame in enumerate(source.decode(video=0)):
            if i == count:
                break
            if stream is None:
                stream = out.add_stream("libx264", rate=RATE)
                stream.width, stream.height, stream.pix_fmt = frame.width, frame.height, "yuv420p"
            image = frame.reformat(format="yuv420p")
            image.pts, image.time_base = i, Fraction(1, RATE)
            out.mux(stream.encode(image))
        if stream is not None:
            out.mux(stream.encode())
    return to


def measure(clip: Path, model: Path, threads: int) -> dict:
    detector = create_detector("onnxruntime", model, threads=threads)
    try:
        wall, cpu = time.monotonic(), time.process_time()
        analysis = analyse_clip(clip, detector, CameraLayout(name="bench"), DEFAULT_CLASSES)
        wall, cpu = time.monotonic() - wall, time.process_time() - cpu
    finally:
        detector.close()
    return {"threads": threads, "frames": analysis.frames, "cpu_s_per_frame": round(cpu / analysis.frames, 3),
            "frames_per_cpu_s": round(analysis.frames / cpu, 3), "frames_per_s": round(analysis.frames / wall, 3),
            "detector_share": round(analysis.detector_s / analysis.total_s, 3)}


def run(args) -> int:
    media = (args.media or default_media()).resolve()
    model = (args.model or default_model()).resolve()
    load_before = os.getloadavg()[0]
    with tempfile.TemporaryDirectory(prefix="vigia-bench-reanalysis-cpu-") as folder:
        clip = first_frames(media, args.frames, Path(folder) / "clip.mp4")
        runs = [measure(clip, model, threads) for threads in args.threads]
    print(json.dumps({"runs": runs, "cores": len(os.sched_getaffinity(0)), "load_before": round(load_before, 2),
                      "load_after": round(os.getloadavg()[0], 2),
                      "method": f"the first {args.frames} frames of the media re-encoded at {RATE} fps; central's full "
                                "analysis (whole frame + tiles, each mirrored, weighted box fusion, tracker) with each "
                                "intra-op thread count in turn; CPU = this process's user + system time"}, indent=2))
    return 0
