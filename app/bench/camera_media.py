"""Test cameras of the kinds installers meet: 4K main streams (H.264 or H.265, 30 or 60 fps, with or
without B-frames) and their low-resolution sub-streams, made with FFmpeg from a shared clip (upscaled).

Made once into a cache directory (VIGIA_CAMERA_CACHE, default ~/.cache/vigia/cameras) and reused: a
4K H.265 encode takes a minute on a small box. Parallel test workers wait on a lock file rather than
encode the same clip twice; a clip is written beside its final name and renamed, so none is half made.
"""
from __future__ import annotations

import fcntl
import os
import subprocess
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

ENCODERS = {"h264": "libx264", "hevc": "libx265"}


@dataclass(frozen=True)
class CameraClip:
    """One stream of a test camera: its codec, size, rate, B-frames and length (seconds of the source)."""

    codec: Literal["h264", "hevc"]
    width: int
    height: int
    fps: int
    bframes: int = 0
    seconds: float = 2.0

    @property
    def name(self) -> str:
        return f"{self.codec}-{self.width}x{self.height}-{self.fps}fps-b{self.bframes}-{self.seconds:g}s" + (
            "-ts1" if self.bframes else "")

    def ffmpeg_args(self, source: Path, out: Path) -> list[str]:
        """Upscale (or downscale) `source`'s first seconds to this stream; a keyframe every second."""
        codec = ["-c:v", ENCODERS[self.codec], "-preset", "ultrafast", "-pix_fmt", "yuv420p"]
        if self.codec == "h264":
            codec += ["-bf", str(self.bframes), "-g", str(self.fps), "-keyint_min", str(self.fps), "-sc_threshold", "0"]
        else:
            codec += ["-tag:v", "hvc1", "-x265-params",
                      f"bframes={self.bframes}:keyint={self.fps}:min-keyint={self.fps}:scenecut=0:log-level=error"]
        # With B-frames the first decode times fall before zero, which GStreamer (the test RTSP server) cannot
        # hold: the stream starts at 1 s, as a camera's clock never starts at 0 anyway.
        offset = ["-output_ts_offset", "1"] if self.bframes else []
        return ["ffmpeg", "-nostdin", "-hide_banner", "-loglevel", "error", "-y", "-t", f"{self.seconds:g}",
                "-i", str(source), "-an", "-vf", f"scale={self.width}:{self.height}:flags=bicubic,fps={self.fps}",
                *codec, *offset, "-f", "matroska", str(out)]


# The cameras the tests and `vigia bench capacity --profile` use (main stream, sub-stream or None).
SUB_360P = CameraClip("h264", 640, 360, 15)
SUB_720P = CameraClip("h264", 1280, 720, 15)
PROFILES: dict[str, tuple[CameraClip, CameraClip | None]] = {
    "4k30-h264-bframes": (CameraClip("h264", 3840, 2160, 30, bframes=2), SUB_360P),
    "4k60-h264": (CameraClip("h264", 3840, 2160, 60, bframes=0), SUB_720P),
    "4k60-h265": (CameraClip("hevc", 3840, 2160, 60, bframes=0), None),
    "4k30-h265-bframes": (CameraClip("hevc", 3840, 2160, 30, bframes=3), SUB_360P),
}


def cache_dir() -> Path:
    return Path(os.environ.get("VIGIA_CAMERA_CACHE", Path.home() / ".cache" / "vigia" / "cameras"))


def make_clip(source: Path, clip: CameraClip, directory: Path | None = None) -> Path:
    """The cached file of `clip` made from `source` (Matroska, loops seamlessly in the test RTSP server)."""
    directory = directory or cache_dir()
    directory.mkdir(parents=True, exist_ok=True)
    stat = source.stat()
    out = directory / f"{source.stem}-{stat.st_size}-{clip.name}.mkv"
    with open(out.with_suffix(".lock"), "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)  # another worker making it: wait, then reuse its file
        if not out.is_file():
            partial = out.with_suffix(f".{os.getpid()}.part")
            try:
                subprocess.run(clip.ffmpeg_args(source, partial), check=True, capture_output=True, text=True)
            except subprocess.CalledProcessError as exc:
                partial.unlink(missing_ok=True)
                raise RuntimeError(f"ffmpeg could not make {clip.name}: {exc.stderr.strip()}") from None
            partial.rename(out)
    return out
