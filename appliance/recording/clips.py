"""Clip assembly: a camera's segments over a time window joined into one MP4, without re-encoding.

Export (footage windows) and event clips both make their files here.
"""
from __future__ import annotations

import logging
import math
from datetime import datetime, timezone
from fractions import Fraction
from pathlib import Path

import av
import sqlite_utils
from av.video.stream import VideoStream

from vigia.appliance.encryption import EncryptedWriter, open_media
from vigia.appliance.recording.mp4 import SEGMENT_MOVFLAGS, add_stream, quietly
from vigia.kit.files import replacing, sync_file

log = logging.getLogger(__name__)


# The clip's metadata tag holding the wall-clock time of its first frame (epoch seconds): central's re-analysis
# puts its findings on the edge's clock with it.
START_TAG = "vigia_start"


class NoFootageError(LookupError):
    """No recorded footage of the camera in the requested window."""


class _ClipWriter:
    """Appends the packets of successive segments to one MP4, timestamps made continuous."""

    def __init__(self, path: Path, key: bytes | None):
        self.path = path
        self.sink = EncryptedWriter(path, key) if key is not None else None
        # Faststart rewrites the file in a second pass, which a write-only encrypted file cannot
        # do: encrypted clips are fragmented instead (browsers play both progressively).
        # use_metadata_tags: the clip's own start time (START_TAG) goes in as a tag of its own
        options = ({"movflags": SEGMENT_MOVFLAGS + "+use_metadata_tags"} if self.sink is not None
                   else {"movflags": "+faststart+use_metadata_tags"})
        try:
            self.container = av.open(self.sink if self.sink is not None else str(path), "w", format="mp4",
                                     container_options=options)
        except BaseException:
            quietly(*([self.sink.close] if self.sink is not None else []))
            raise
        self.stream: VideoStream | None = None
        self.signature: tuple | None = None
        self.next_start = Fraction(0)  # clip time (s) where the next segment's first packet goes
        self.packets = 0

    def accepts(self, stream: VideoStream) -> bool:
        """Whether `stream` can continue the clip (same codec, size and parameter sets); sets the template first."""
        codec = stream.codec_context
        signature = (codec.name, codec.width, codec.height, codec.extradata)
        if self.stream is None:
            self.stream = add_stream(self.container, stream)
            self.signature = signature
        return signature == self.signature

    def append(self, packets: list[av.Packet], time_base: Fraction, wall: float) -> None:
        """Write one segment's run of packets (dts order, from a keyframe, the first at `wall` clock time) after
        what is already in the clip."""
        if self.packets == 0:
            self.container.metadata[START_TAG] = f"{wall:.6f}"  # before the header: the first packet writes it
        shift = math.ceil(self.next_start / time_base) - packets[0].dts
        for packet in packets:
            packet.stream = self.stream
            packet.dts += shift
            packet.pts = packet.dts if packet.pts is None else packet.pts + shift
            self.container.mux_one(packet)
        last = packets[-1]
        # mux_one rebased the packet to the output stream's time base
        self.next_start = (last.dts + max(1, last.duration or 0)) * last.time_base
        self.packets += len(packets)

    def close(self) -> None:
        self.container.close()
        if self.sink is not None:
            self.sink.close()
        else:
            sync_file(self.path)

    def abandon(self) -> None:
        quietly(self.container.close, *([self.sink.close] if self.sink is not None else []))


def assemble_clip(db: sqlite_utils.Database, data_dir: str | Path, key: bytes | None, camera: str,
                  start: float, end: float, out: str | Path, *, encrypt: bool = True) -> Path:
    """Join the camera's segments covering [start, end] (wall clock) into one MP4 at `out`, without re-encoding.

    The clip starts at the keyframe at or before `start` and stops after `end`; segments are read
    through `open_media` (plain or encrypted) and follow each other without gaps in clip time.
    Segments whose codec, size or parameter sets differ from the first one's are left out (logged).
    The output is encrypted with `key` when one is given and `encrypt` is true (then fragmented,
    as faststart needs a second pass over the file); otherwise plain with faststart. It is
    written to a temporary file and renamed, so `out` never holds half a clip.
    Raises NoFootageError when nothing was recorded in the window.
    """
    data_dir, out = Path(data_dir), Path(out)
    rows = list(db.query(
        "select path, start, state from recordings where camera = ? and kind = 'segment'"
        " and state in ('complete', 'writing') and start <= ? and (end is null or end > ?) order by start",
        [camera, end, start],
    ))
    window = f"between {iso_time(start)} and {iso_time(end)}"
    if not rows:
        raise NoFootageError(f"camera {camera!r} has no footage {window}")
    with replacing(Path(out)) as tmp:
        clip = _ClipWriter(tmp, key if encrypt else None)
        try:
            for row in rows:
                try:
                    _append_segment(clip, data_dir / row["path"], key, row["start"], start, end)
                except (av.FFmpegError, ValueError) as exc:
                    if row["state"] != "writing":
                        raise
                    # The segment being recorded may not hold a readable chunk yet: the clip ends before it.
                    log.debug("clip: %s left out while it is being written: %s", row["path"], exc)
            if clip.packets == 0:
                raise NoFootageError(f"camera {camera!r} has no readable footage {window}")
            clip.close()
        except BaseException:
            clip.abandon()
            raise
    return out


def _append_segment(clip: _ClipWriter, path: Path, key: bytes | None, segment_start: float,
                    start: float, end: float) -> None:
    """Append the packets of one segment that fall in [start, end], from the keyframe at or before `start`."""
    with open_media(path, key) as media, av.open(media) as container:
        stream = container.streams.video[0]
        if not clip.accepts(stream):
            log.warning("clip: %s left out: its codec, size or parameter sets differ from the clip's", path)
            return
        time_base = stream.time_base
        taken: list[av.Packet] = []
        taken_wall = 0.0
        first_dts = None
        try:
            for packet in container.demux(stream):
                if packet.dts is None:
                    continue  # the flushing packet at the end
                first_dts = packet.dts if first_dts is None else first_dts
                wall = segment_start + float((packet.dts - first_dts) * time_base)
                if wall > end:
                    break
                if wall <= start and packet.is_keyframe:
                    taken = []  # a later keyframe at or before `start`: begin there
                if not taken and packet.is_keyframe:
                    taken_wall = wall
                if taken or packet.is_keyframe:
                    taken.append(packet)
        except av.FFmpegError as exc:  # a segment still being written may end in a partial fragment
            log.warning("clip: %s read up to an error: %s", path, exc)
        if taken:
            clip.append(taken, time_base, taken_wall)


def iso_time(wall: float) -> str:
    """`wall` (epoch seconds) as UTC ISO 8601, to the second."""
    return datetime.fromtimestamp(wall, timezone.utc).isoformat(timespec="seconds")
