"""Frames sampled from a camera's footage and letterboxed as the appliance does: calibration and checks of a model.

A file (or any source with a duration) is sampled evenly over its length by seeking; a live
source (RTSP, V4L2) one frame every `spacing` seconds of stream time, as it comes.
"""
from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from urllib.parse import urlsplit, urlunsplit

import av

from vigia.inference.preprocess import letterbox_frame
from vigia.inference.types import DetectorInput

OPEN_TIMEOUT_S = 15.0  # opening a source, and waiting for each packet of a live one
SEEK_OVER_S = 20.0  # a file is decoded on to the next frame wanted unless it is further ahead than this


class FootageError(Exception):
    """A source that could not be read, or gave too few frames."""


@dataclass(frozen=True, slots=True)
class Sample:
    source: str  # where it came from, credentials removed
    time: float  # seconds from the start of the source
    input: DetectorInput


def redact(url: str) -> str:
    """A URL without its user and password (rtsp://user:pass@host/... -> rtsp://host/...)."""
    parts = urlsplit(url)
    if not parts.netloc or "@" not in parts.netloc:
        return url
    return urlunsplit(parts._replace(netloc=parts.netloc.rsplit("@", 1)[1]))


def _open(source: str) -> av.container.InputContainer:
    options = {"rtsp_transport": "tcp"} if source.startswith(("rtsp://", "rtsps://")) else {}
    fmt = "v4l2" if source.startswith("/dev/video") else None
    try:
        return av.open(source, format=fmt, options=options, timeout=OPEN_TIMEOUT_S)
    except (av.FFmpegError, OSError) as exc:
        raise FootageError(f"cannot open {redact(source)}: {exc}") from exc


def sample(source: str, count: int, size: tuple[int, int], spacing: float = 2.0) -> list[Sample]:
    """`count` frames of `source` letterboxed to `size` (width, height), whole frames as the appliance's
    full-frame passes see them. Raises FootageError when the source gives fewer."""
    if count < 1:
        raise ValueError("count must be at least 1")
    with _open(source) as container:
        if not container.streams.video:
            raise FootageError(f"{redact(source)} has no video stream")
        stream = container.streams.video[0]
        duration = _duration(container, stream)
        frames = _evenly(container, stream, duration, count) if duration else _every(container, stream, spacing, count)
        samples = [Sample(redact(source), t, letterbox_frame(frame, size)) for t, frame in frames]
    if len(samples) < count:
        raise FootageError(f"{redact(source)} gave {len(samples)} frames, {count} wanted")
    return samples


def _duration(container: av.container.InputContainer, stream: av.video.stream.VideoStream) -> float | None:
    if stream.duration and stream.time_base:
        return float(stream.duration * stream.time_base)
    return container.duration / av.time_base if container.duration and container.duration > 0 else None


def _evenly(container, stream, duration: float, count: int) -> Iterator[tuple[float, av.VideoFrame]]:
    """The first frame at or after each of `count` times spread over the file (middles of equal slices).
    Decoding goes on from frame to frame, seeking only over long gaps (a seek decodes from a keyframe)."""
    start = float(stream.start_time * stream.time_base) if stream.start_time is not None else 0.0
    frames: Iterator[av.VideoFrame] = iter(())
    position = None  # time of the last frame decoded
    for i in range(count):
        target = start + (i + 0.5) * duration / count
        if position is None or target - position > SEEK_OVER_S:
            container.seek(int(target / stream.time_base), stream=stream, backward=True)
            frames = container.decode(stream)
        for frame in frames:
            if frame.time is None:
                continue
            position = frame.time
            if frame.time >= target - 1e-6:
                yield frame.time - start, frame
                break


def _every(container, stream, spacing: float, count: int) -> Iterator[tuple[float, av.VideoFrame]]:
    """A frame every `spacing` seconds of stream time, as a live source delivers them."""
    first = due = None
    for frame in container.decode(stream):
        if frame.time is None:
            continue
        first = frame.time if first is None else first
        if due is None or frame.time >= due:
            yield frame.time - first, frame
            count -= 1
            if count == 0:
                return
            due = frame.time + spacing
