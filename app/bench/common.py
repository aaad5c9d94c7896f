"""What the benchmarks share: default inputs, CPU clocks, decode-only and detector costs."""
from __future__ import annotations

import os
import resource
import time
from pathlib import Path

import av
import numpy as np

from vigia.inference.factory import create_detector
from vigia.inference.preprocess import letterbox_frame
from vigia.inference.types import Detector


def shared_path(*parts: str) -> Path:
    return Path(os.environ.get("VIGIA_SHARED", "../shared")).joinpath(*parts).resolve()


def default_media() -> Path:
    return Path(os.environ.get("VIGIA_DEMO_CLIP", shared_path("media", "crowd-720p.avi")))


def default_model() -> Path:
    return Path(os.environ.get("VIGIA_DEFAULT_MODEL", shared_path("models", "yolox_nano.onnx")))


def process_cpu() -> float:
    """CPU seconds (user + system) of this process and its threads so far."""
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # Linux reports KiB


def clip_info(media: Path) -> tuple[int, float]:
    """(frames, seconds) of the clip's video stream, by decoding it."""
    with av.open(str(media)) as container:
        stream = container.streams.video[0]
        frames = [f.time for f in container.decode(stream)]
    rate = (len(frames) - 1) / (frames[-1] - frames[0]) if len(frames) > 1 else 25.0
    return len(frames), len(frames) / rate


def decode_only_cpu_per_stream_second(media: Path, passes: int = 3) -> float:
    """CPU seconds to demux and decode one second of the clip, one decoder thread, nothing else."""
    frames, seconds = clip_info(media)
    cpu = []
    for _ in range(passes):
        with av.open(str(media)) as container:
            stream = container.streams.video[0]
            stream.thread_type = "NONE"
            start = time.thread_time()
            for _frame in container.decode(stream):
                pass
            cpu.append(time.thread_time() - start)
    return min(cpu) / seconds


def sample_frames(media: Path, count: int) -> list[av.VideoFrame]:
    with av.open(str(media)) as container:
        frames = []
        for frame in container.decode(video=0):
            frames.append(frame)
            if len(frames) >= count:
                break
    return frames


def detectors_cpu_ms(detectors: dict[str, Detector], media: Path, runs: int = 40) -> dict[str, float]:
    """Median CPU milliseconds of one inference on a full demo frame (one thread) by each detector, their runs
    taken in turn so that a change of load weighs on all alike."""
    frames = sample_frames(media, 10)
    costs: dict[str, list[float]] = {name: [] for name in detectors}
    for detector in detectors.values():
        detector.detect([letterbox_frame(frames[0], detector.input_size)])  # warm up
    for i in range(runs):
        for name, detector in detectors.items():
            item = letterbox_frame(frames[i % len(frames)], detector.input_size)
            start = time.thread_time()
            detector.detect([item])
            costs[name].append(time.thread_time() - start)
    return {name: float(np.median(c)) * 1000 for name, c in costs.items()}


def open_default_detector(model: Path, threads: int = 1) -> Detector:
    return create_detector("onnxruntime", model, threads=threads)
