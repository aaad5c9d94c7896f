"""Clips a browser can play. Footage is recorded as the camera sends it (remuxed), and Chromium decodes no
H.265: an HEVC clip is transcoded on demand to H.264 (at most PLAYABLE_WIDTH wide), kept in a bounded cache
beside the media (encrypted like it) and reused until its clip changes; the least recently played go first
when the cache is over its size, and a copy whose clip is gone (retention, erasure) goes at the next request.
"""
from __future__ import annotations

import logging
import os
from pathlib import Path

import av

from vigia.appliance.encryption import open_media
from vigia.appliance.privacy.masks import mask_video

PLAYABLE_WIDTH = 1920      # a guard's player shows no more; 4K H.264 would take far longer to make
BROWSER_CODECS = {"h264"}  # what every browser plays in MP4

log = logging.getLogger(__name__)


def video_codec(path: Path, key: bytes | None) -> str:
    """The codec name (PyAV's: "h264", "hevc") of the clip's video stream."""
    with open_media(path, key) as raw, av.open(raw) as container:
        return container.streams.video[0].codec_context.name


def playable_clip(clip: Path, data_dir: Path, key: bytes | None, cache_dir: Path, max_bytes: int) -> Path:
    """`clip` itself when browsers play its codec; else its H.264 copy from `cache_dir`, made now if missing
    or older than the clip (an ongoing event's clip grows). Each copy is named after its clip's place under
    `data_dir`, so the cache knows which are orphans."""
    if video_codec(clip, key) in BROWSER_CODECS:
        return clip
    cache_dir.mkdir(parents=True, exist_ok=True)
    out = cache_dir / _cache_name(clip.relative_to(data_dir))
    if out.is_file() and out.stat().st_mtime >= clip.stat().st_mtime:
        os.utime(out)  # played now: the last to be evicted
    else:
        log.info("transcoding %s to H.264 for browsers", clip.name)
        mask_video(clip, key, out, [], encrypt=key is not None, max_width=PLAYABLE_WIDTH)
    evict(cache_dir, data_dir, max_bytes, keep=out)
    return out


def evict(cache_dir: Path, data_dir: Path, max_bytes: int, keep: Path) -> list[Path]:
    """Delete copies whose clip is gone, then the least recently played until the cache fits `max_bytes`
    (`keep`, the copy being served, stays). The files deleted."""
    copies = sorted((p for p in cache_dir.glob("*.mp4") if p != keep), key=lambda p: p.stat().st_mtime)
    gone = [p for p in copies if not (data_dir / _source_name(p.name)).is_file()]
    kept = [p for p in copies if p not in gone]
    total = keep.stat().st_size + sum(p.stat().st_size for p in kept)
    while kept and total > max_bytes:
        oldest = kept.pop(0)
        total -= oldest.stat().st_size
        gone.append(oldest)
    for path in gone:
        path.unlink(missing_ok=True)
    return gone


def _cache_name(relative: Path) -> str:
    return relative.as_posix().replace("/", "~") + ".h264.mp4"


def _source_name(cache_name: str) -> str:
    return cache_name.removesuffix(".h264.mp4").replace("~", "/")
