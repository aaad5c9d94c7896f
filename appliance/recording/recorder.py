"""Recording: the camera's own packets remuxed into fragmented MP4 segments, never decoded or encoded.

A `SegmentRecorder` per camera gets every video packet of the camera's connection (CameraSource's
`on_packet` tap) in the camera's thread and writes segments of about `record.segment_seconds`,
cut at keyframes only, to

    media/<camera>/<YYYY-MM-DD>/<HH-MM-SS>-<ulid>.mp4   (relative to the data directory, UTC)

Segments are fragmented MP4 (a fragment at each keyframe and at least every FRAGMENT_S, written when
the next one starts: a crash loses about a second at most, see vigia.appliance.recording.mp4) that
browsers play as they are, encrypted at rest (`EncryptedWriter`) when a key is given. Timestamps
start near 0 in every segment. The segment's `recordings` row is inserted as 'writing' before its
file is created and becomes 'complete' (start, end, bytes) once the file is closed and synced. Its start is the wall-clock
time of its first packet as the stream's own clock places it against the earliest-arriving
packets (bursts and late packets do not shift it), and end - start is the stream's duration.
A new segment starts, at the next keyframe, on a new connection, when timestamps jump (back,
or forward by more than MAX_GAP_S) and when the stream's parameter sets change (resolution,
codec settings).

Modes: `continuous` writes everything; `events` keeps recent packets in a pre-roll ring and
writes from (event start - pre_roll) until (last event end + post_roll); `off` writes nothing.
While continuous recording is not allowed (disk full of protected footage) a continuous camera
records as in events mode.
"""
from __future__ import annotations

import logging
import math
import sqlite3
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path

import av
from av.container import OutputContainer
from av.video.stream import VideoStream
from ulid import ULID

from vigia.appliance.cameras import BACKWARD_RESET_S, DEFAULT_FRAME_S
from vigia.appliance.config import Record
from vigia.appliance.encryption import EncryptedWriter
from vigia.appliance.recording.mp4 import SEGMENT_CHUNK_SIZE, SEGMENT_OPTIONS, add_stream, file_size, quietly
from vigia.appliance.storage import connect
from vigia.kit.files import sync_file

log = logging.getLogger(__name__)

MAX_GAP_S = 10.0            # a forward timestamp jump longer than this starts a new segment
RING_SLACK_S = 3.0          # the pre-roll ring keeps this much more than pre_roll: events arrive after detection
MAX_RING_BYTES = 16 << 20   # per camera; the oldest GOPs go first beyond it
MAX_UNDATED = 64            # packets without a timestamp held at a connection's start until one has it
RETRY_AFTER_FAILURE_S = 10.0  # no new segment for this long after a write failed (disk full, I/O error)


@dataclass(slots=True)
class _Held:
    """A packet waiting in the pre-roll ring, with its repaired timestamps (stream ticks) and arrival time."""

    packet: av.Packet
    dts: int
    pts: int
    wall: float


@dataclass
class _Segment:
    """One open segment file and its row."""

    id: str
    path: Path
    container: OutputContainer
    stream: VideoStream       # the output stream
    sink: EncryptedWriter | None
    tick_s: float             # seconds per tick of dts (the input stream's time base)
    base: int                 # dts of the first packet: subtracted so the segment starts at 0
    last_dts: int
    # Wall-clock time of the first packet: the least (arrival - stream time) of the packets so
    # far. Packets arrive late (the burst after a connection's probing, network stalls), never
    # early, so this is the best estimate, and it keeps the row's end - start the stream's duration.
    start: float

    def write(self, packet: av.Packet, dts: int, pts: int, wall: float) -> None:
        packet.stream = self.stream
        packet.dts = dts - self.base
        packet.pts = pts - self.base
        self.container.mux_one(packet)
        self.last_dts = dts
        start = wall - (dts - self.base) * self.tick_s
        if start < self.start:
            self.start = start

    def wall(self, dts: int) -> float:
        return self.start + (dts - self.base) * self.tick_s

    def finish(self) -> int:
        """Write the last fragment, sync the file to disk, and return its size."""
        self.container.close()
        if self.sink is not None:
            self.sink.close()  # writes the final chunk and fsyncs
        else:
            sync_file(self.path)
        return self.path.stat().st_size

    def abandon(self) -> None:
        """Release the file after a failure, without raising."""
        quietly(self.container.close, *([self.sink.close] if self.sink is not None else []))


class SegmentRecorder:
    """Records one camera (see the module docstring).

    `on_packet` and `connection_lost` are CameraSource's `on_packet` and `on_disconnect` and run,
    with `close`, in the thread of the source that is recorded. `event_started`/`event_ended`
    (an event's wall-clock start and end) and `set_continuous_allowed` may be called from any
    thread (detection runs in another one when a separate main stream is recorded); they take
    effect at the next packet. `on_error` hears of every failed write (the runtime pokes
    retention on ENOSPC); recording failures never reach the camera: the recorder logs them,
    marks the segment damaged and starts a new one RETRY_AFTER_FAILURE_S later.
    """

    def __init__(self, camera: str, record: Record, data_dir: str | Path, database: str | Path,
                 key: bytes | None = None, *, max_ring_bytes: int = MAX_RING_BYTES,
                 on_error: Callable[[Exception], None] | None = None,
                 on_restart: Callable[[str], None] | None = None):
        self.camera = camera
        self.record = record
        self.data_dir = Path(data_dir)
        self.key = key
        self.max_ring_bytes = max_ring_bytes
        self.on_error = on_error
        self.on_restart = on_restart  # the stream could not be continued: "timestamps" or "stream" (metrics)
        self._db = connect(database)
        self._continuous_allowed = True
        self._event_hooks: deque[tuple[bool, float]] = deque()  # (started, wall time), not applied yet
        self._open_events = 0
        self._hold_until = -math.inf   # wall time until which footage is wanted after the last event
        self._want_from = math.inf     # wall time the next segment should start from (pre-roll)
        self._retry_after = -math.inf
        self._now = -math.inf          # arrival time of the packet being handled
        self._segment: _Segment | None = None
        self._ring: deque[list[_Held]] = deque()  # GOPs, each starting at a keyframe
        self._ring_bytes = 0
        self._stream: VideoStream | None = None   # of the current connection
        self._new_connection(None)

    # -- hooks ----------------------------------------------------------------------------------

    def on_packet(self, packet: av.Packet, stream: VideoStream, wall: float) -> None:
        """Take the next packet of the camera's connection, which arrived at `wall`."""
        if self.record.mode == "off":
            return
        if self._event_hooks:
            self._apply_event_hooks()
        if stream is not self._stream:
            self._new_connection(stream)
        dts = packet.dts
        if dts is None:
            if self._last_dts is None:
                if len(self._undated) < MAX_UNDATED:
                    self._undated.append((packet, wall))
                return
            dts = self._last_dts + self._step
        elif self._undated:  # the first timestamp of the connection dates the packets before it
            undated, self._undated = self._undated, []
            for back, (early, early_wall) in zip(range(len(undated), 0, -1), undated):
                self._take(early, dts - back * self._step, early_wall)
        self._take(packet, dts, wall)

    def connection_lost(self) -> None:
        """The camera's connection ended: finish the segment now rather than at the next packet."""
        self._new_connection(None)

    def event_started(self, wall_time: float) -> None:
        self._event_hooks.append((True, wall_time))

    def event_ended(self, wall_time: float) -> None:
        self._event_hooks.append((False, wall_time))

    def set_continuous_allowed(self, allowed: bool) -> None:
        """Pause (False) or resume continuous recording; event recording goes on either way."""
        self._continuous_allowed = allowed

    def close(self) -> None:
        """Finish the open segment and let go of the database (the camera has stopped)."""
        self._new_connection(None)
        if self._db is not None:
            self._db.conn.close()
            self._db = None

    # -- packets --------------------------------------------------------------------------------

    def _apply_event_hooks(self) -> None:
        while self._event_hooks:
            started, wall = self._event_hooks.popleft()
            if started:
                self._open_events += 1
                if self._segment is None:
                    self._want_from = min(self._want_from, wall - self.record.pre_roll)
            else:
                self._open_events = max(0, self._open_events - 1)
                self._hold_until = max(self._hold_until, wall + self.record.post_roll)

    def _new_connection(self, stream: VideoStream | None) -> None:
        if self._segment is not None:
            log.info("camera %s: %s: segment closed, the next starts at a keyframe", self.camera,
                     "new connection" if stream is not None else "connection ended")
            self._close_segment(self._segment.last_dts + self._step)
        self._drop_ring()
        self._stream = stream
        self._last_dts: int | None = None
        self._undated: list[tuple[av.Packet, float]] = []
        self._params: bytes | None = None  # parameter sets the last keyframe carried
        if stream is not None:
            self._time_base = stream.time_base
            rate = stream.guessed_rate or stream.average_rate
            self._step = max(1, round(1 / ((rate or 1 / DEFAULT_FRAME_S) * self._time_base)))
            self._max_gap = MAX_GAP_S / self._time_base
            self._glitch = BACKWARD_RESET_S / self._time_base
            self._codec = stream.codec_context.name

    def _take(self, packet: av.Packet, dts: int, wall: float) -> None:
        last = self._last_dts
        if last is not None and not 0 < dts - last <= self._max_gap:
            if dts <= last and last - dts < self._glitch:
                dts = last + 1  # jitter: keep the stream going
            else:
                self._restart("timestamps", f"timestamps jumped by {float((dts - last) * self._time_base):+.2f} s")
        self._last_dts = dts
        self._now = wall
        pts = packet.pts
        if pts is None or pts < dts:
            pts = dts
        if packet.is_keyframe:
            params = parameter_sets(packet, self._codec)
            if params is not None and params != self._params:
                if self._params is not None:
                    self._restart("stream", "the stream's parameter sets changed (resolution or codec settings)")
                self._params = params
            segment = self._segment
            if segment is not None and (
                not self._wanted(wall)
                or (dts - segment.base) * self._time_base >= self.record.segment_seconds
            ):
                self._close_segment(dts)
        if self._segment is not None:
            self._write(packet, dts, pts, wall)
            return
        self._hold(_Held(packet, dts, pts, wall))
        if self._ring and wall >= self._retry_after and self._wanted(wall):
            self._open_from_ring()

    def _wanted(self, wall: float) -> bool:
        if self.record.mode == "continuous" and self._continuous_allowed:
            return True
        return self._open_events > 0 or wall <= self._hold_until

    def _restart(self, cause: str, reason: str) -> None:
        """Close the segment and forget held packets: what follows cannot continue them.

        `cause` ("timestamps" or "stream") goes to `on_restart`, `reason` to the log.
        """
        if self.on_restart is not None:
            self.on_restart(cause)
        if self._segment is not None:
            log.info("camera %s: %s: segment closed, the next starts at a keyframe", self.camera, reason)
            self._close_segment(self._segment.last_dts + self._step)
        self._drop_ring()

    # -- pre-roll ring --------------------------------------------------------------------------

    def _hold(self, held: _Held) -> None:
        ring = self._ring
        if held.packet.is_keyframe:
            ring.append([held])
        elif ring:
            ring[-1].append(held)
        else:
            return  # nothing could decode it
        self._ring_bytes += held.packet.size
        keep_from = held.wall - self.record.pre_roll - RING_SLACK_S
        while len(ring) > 1 and ring[1][0].wall <= keep_from:
            self._drop_gop()
        while ring and self._ring_bytes > self.max_ring_bytes:
            self._drop_gop()

    def _drop_gop(self) -> None:
        self._ring_bytes -= sum(held.packet.size for held in self._ring.popleft())

    def _drop_ring(self) -> None:
        self._ring.clear()
        self._ring_bytes = 0

    def _open_from_ring(self) -> None:
        """Start a segment at the last held keyframe at or before the wanted start (the first one if none is).

        Continuous recording starts (or resumes) at the current GOP; events at their pre-roll.
        """
        start = self._now if self.record.mode == "continuous" and self._continuous_allowed else self._want_from
        while len(self._ring) > 1 and self._ring[1][0].wall <= start:
            self._drop_gop()
        held = [item for gop in self._ring for item in gop]
        self._drop_ring()
        self._want_from = math.inf
        first = held[0]
        self._segment = self._open_segment(first.dts, first.wall)
        for item in held:
            if self._segment is None:
                return
            self._write(item.packet, item.dts, item.pts, item.wall)

    # -- segment files --------------------------------------------------------------------------

    def _open_segment(self, dts: int, wall: float) -> _Segment | None:
        stream = self._stream
        codec = stream.codec_context
        segment_id = str(ULID.from_timestamp(wall))
        when = datetime.fromtimestamp(wall, timezone.utc)
        relative = f"media/{self.camera}/{when:%Y-%m-%d}/{when:%H-%M-%S}-{segment_id}.mp4"
        path = self.data_dir / relative
        sink = None
        try:  # the row first: a crash never leaves a file without a row
            self._db.execute(
                "insert into recordings (id, camera, kind, path, start, state, encrypted, codec, width, height)"
                " values (?, ?, 'segment', ?, ?, 'writing', ?, ?, ?, ?)",
                [segment_id, self.camera, relative, wall, int(self.key is not None), codec.name, codec.width,
                 codec.height])
            path.parent.mkdir(parents=True, exist_ok=True)
            sink = EncryptedWriter(path, self.key, SEGMENT_CHUNK_SIZE) if self.key is not None else None
            container = av.open(sink if sink is not None else str(path), "w", format="mp4",
                                container_options=SEGMENT_OPTIONS)
            out = add_stream(container, stream)
            out.codec_context.width, out.codec_context.height = codec.width, codec.height
            if self._params is not None:
                out.codec_context.extradata = self._params
        except (av.FFmpegError, OSError, sqlite3.Error, ValueError) as exc:
            quietly(*([sink.close] if sink is not None else []), lambda: path.unlink(missing_ok=True))
            self._forget_row(segment_id)
            self._failed(f"cannot start segment {relative}", exc)
            return None
        return _Segment(segment_id, path, container, out, sink, float(self._time_base), dts, dts, wall)

    def _write(self, packet: av.Packet, dts: int, pts: int, wall: float) -> None:
        segment = self._segment
        try:
            segment.write(packet, dts, pts, wall)
        except (av.FFmpegError, OSError, ValueError) as exc:
            self._segment = None
            segment.abandon()
            self._finish_row(segment, "damaged", segment.last_dts, file_size(segment.path))
            self._failed(f"writing {segment.path} failed; segment marked damaged", exc)

    def _close_segment(self, end_dts: int) -> None:
        segment, self._segment = self._segment, None
        try:
            size = segment.finish()
        except (av.FFmpegError, OSError, ValueError) as exc:
            segment.abandon()
            self._finish_row(segment, "damaged", end_dts, file_size(segment.path))
            self._failed(f"closing {segment.path} failed; segment marked damaged", exc)
            return
        self._finish_row(segment, "complete", end_dts, size)

    def _finish_row(self, segment: _Segment, state: str, end_dts: int, size: int) -> None:
        try:
            self._db.execute("update recordings set state = ?, start = ?, end = ?, bytes = ? where id = ?",
                             [state, segment.start, segment.wall(end_dts), size, segment.id])
        except sqlite3.Error as exc:  # start-up reconciliation repairs the row
            log.error("camera %s: cannot mark segment %s %s: %s", self.camera, segment.id, state, exc)

    def _forget_row(self, segment_id: str) -> None:
        try:
            self._db.execute("delete from recordings where id = ?", [segment_id])
        except sqlite3.Error as exc:
            log.error("camera %s: cannot delete the row of unstarted segment %s: %s", self.camera, segment_id, exc)

    def _failed(self, what: str, exc: Exception) -> None:
        log.error("camera %s: recording: %s: %s", self.camera, what, exc)
        self._retry_after = self._now + RETRY_AFTER_FAILURE_S
        if self.on_error is not None:
            self.on_error(exc)


def parameter_sets(packet: av.Packet, codec: str) -> bytes | None:
    """The parameter sets (H.264 SPS/PPS, HEVC VPS/SPS/PPS) an Annex B keyframe carries before its
    first slice, each once (some cameras and payloaders repeat them), joined with 4-byte start codes;
    None if it carries none (or is not Annex B)."""
    if codec not in ("h264", "hevc"):
        return None
    view = memoryview(packet)
    if view[:3] != b"\x00\x00\x01" and view[:4] != b"\x00\x00\x00\x01":
        return None  # length-prefixed (from MP4, MKV, AVI): the parameter sets are in the extradata
    data = bytes(view)
    units = []
    start_code = data.find(b"\x00\x00\x01")
    while start_code >= 0 and start_code + 3 < len(data):
        begin = start_code + 3
        start_code = data.find(b"\x00\x00\x01", begin)
        header = data[begin]
        if codec == "h264":
            kind = header & 0x1F
            is_slice, is_param = 1 <= kind <= 5, kind in (7, 8)
        else:
            kind = (header >> 1) & 0x3F
            is_slice, is_param = kind < 32, kind in (32, 33, 34)
        if is_slice:
            break
        if is_param:  # a 4-byte start code's leading zero ends the unit before it: strip it
            units.append(b"\x00\x00\x00\x01" + data[begin:start_code if start_code >= 0 else None].rstrip(b"\x00"))
    return b"".join(dict.fromkeys(units)) or None
