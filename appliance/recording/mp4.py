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
