"""What the recorder and clip assembly share: the fragmented MP4 they write, its output stream, file clean-up."""
from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import av
from av.container import OutputContainer
from av.video.stream import VideoStream

# A fragment per keyframe, the index (moov) empty at the start: the file is playable as it grows
# and a crash loses only the fragment being written.
SEGMENT_MOVFLAGS = "frag_keyframe+empty_moov+default_base_moof"

# Recorded segments are also cut into fragments of at most FRAGMENT_S of stream time, at any frame (players
# decode a fragment that starts between keyframes from the keyframe before it), so that what a power cut
# loses does not depend on the camera's keyframe interval. A fragment reaches the file when the packet
# after it arrives; in an encrypted file its last bytes wait in the writer's partial chunk until the next
# fragment fills it. A cut then loses up to FRAGMENT_S of a plain segment and up to 2 * FRAGMENT_S of an
# encrypted one, as long as a fragment fills a chunk: encrypted segments use chunks of SEGMENT_CHUNK_SIZE,
# which half a second of a 262 kbit/s stream fills (the default 64 KiB would take 1 Mbit/s).
FRAGMENT_S = 0.5
SEGMENT_OPTIONS = {"movflags": SEGMENT_MOVFLAGS, "frag_duration": str(round(FRAGMENT_S * 1e6)), "flush_packets": "1"}
SEGMENT_CHUNK_SIZE = 16 * 1024


def add_stream(container: OutputContainer, template: VideoStream) -> VideoStream:
    """An output stream with `template`'s codec parameters; HEVC tagged hvc1, the tag Safari plays."""
    out = container.add_stream_from_template(template)
    if template.codec_context.name == "hevc":
        out.codec_context.codec_tag = "hvc1"
    return out


def quietly(*steps: Callable[[], object]) -> None:
    """Run each cleanup step, ignoring I/O errors: the failure that called for it is already reported."""
    for step in steps:
        try:
            step()
        except (av.FFmpegError, OSError, ValueError):
            pass


def file_size(path: Path) -> int:
    """The file's size, 0 when it cannot be read."""
    try:
        return path.stat().st_size
    except OSError:
        return 0
