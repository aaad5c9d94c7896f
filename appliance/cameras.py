"""Camera ingest: one connection per camera (RTSP, V4L2 device or video file), decoded with PyAV.

`CameraSource.frames(stop)` runs in the caller's thread and yields decoded frames, reconnecting
with exponential backoff on any failure. It starts no threads of its own and decodes with a
single codec thread: many streams share few cores, and frame/slice threading costs more CPU
per frame (it only buys latency).

Recording taps the same connection: `on_packet(packet, stream, wall)` gets every demuxed video
packet, in demux order, right after the packet was decoded, and may then keep it, restamp it and
mux it (the source is done with it). Each connection has its own `stream` object, and
`on_disconnect()` is called when a connection ends. A source made with `decode=False` (a main
stream that is only recorded) demuxes without decoding: `run_packets(stop)` drives it.

Given `analysis_fps` (the rate the pipeline analyses), the decoder skips non-reference frames
(skip_frame NONREF) while the reference frames alone come at that rate; see _SkipPolicy.
A live camera whose decoding falls more than `max_lag_s` behind its clock (a 4K60 stream on a small
box) has only its keyframes decoded (past twice that, none) until it catches up (`_CatchUp`): analysis slots are lost, never
packets, which on_packet (recording) still gets all of; `CameraStatus.behind` and
`frames_undecoded` show it, and each DecodedFrame says how many frames were left undecoded before it.

States (`CameraStatus.state`):
  starting      frames() was called and nothing has been decoded (with decode=False: read) yet.
  online        frames are flowing.
  reconnecting  the source was online, failed, and has been down for at most backoff_max seconds.
  offline       the source never came online, or has been down for more than backoff_max seconds.
  ended         a file source (loop=False) reached its end; frames() returns.
  stopped       the stop event was set (or the generator was closed); frames() returns.
"""
from __future__ import annotations

import logging
import random
import re
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import closing
from dataclasses import dataclass, replace
from urllib.parse import urlsplit, urlunsplit

import av
from av.video.stream import VideoStream

PacketTap = Callable[[av.Packet, VideoStream, float], None]
DEFAULT_FRAME_S = 1 / 25
# A timestamp this far behind the previous frame is a reset (camera reboot, RTP wrap), not jitter.
BACKWARD_RESET_S = 1.0
# Real-time pacing re-anchors its clock instead of sleeping or bursting beyond this.
PACE_SLACK_S = 1.0
_CREDENTIALS = re.compile(r"(\w+://[^/\s:@]*:)[^@/\s]*@")
# Decoding reference frames only: the stream time each connection first decodes everything, the
# stream time over which the references' rate is judged, the share of the analysis rate they must
# reach, and the stream time spent decoding everything before skipping is tried again.
SKIP_PROBE_S = 1.0
SKIP_WINDOW_S = 2.0
SKIP_MIN_SHARE = 0.95
SKIP_BACKOFF_S = 60.0

log = logging.getLogger(__name__)


@dataclass
class CameraStatus:
    state: str  # "starting" | "online" | "reconnecting" | "offline" | "ended" | "stopped"
    since: float  # time.time() of the last state change
    last_error: str | None
    last_frame_at: float | None
    reconnects: int  # open attempts made after a failure
    behind: bool = False  # decoding is behind the camera: keyframes only until it catches up
    frames_undecoded: int = 0  # frames left undecoded (not analysed, still recorded) because decoding was behind

    def to_json(self) -> dict:
        """As the guards' API and live view show it."""
        return {"state": self.state, "since": self.since, "last_error": self.last_error, "last_frame_at": self.last_frame_at,
                "behind": self.behind, "frames_undecoded": self.frames_undecoded}


@dataclass(slots=True)
class DecodedFrame:
    frame: av.VideoFrame  # as decoded (usually yuv420p), not converted
    pts: float  # seconds of stream time, monotonic for the life of the source
    wall: float  # time.time() when the frame was decoded (for paced files: when released)
    decode_s: float  # CPU seconds this thread spent demuxing and decoding the frame
    index: int  # 0-based count of frames yielded by this source
    undecoded_before: int = 0  # frames left undecoded since the previous one because decoding was behind


def redact_url(url: str) -> str:
    """`url` with any password replaced by ***: rtsp://user:***@host/path."""
    parts = urlsplit(url)
    if parts.password is None:
        return url
    host = parts.hostname or ""
    if parts.port is not None:
        host = f"{host}:{parts.port}"
    return urlunsplit(parts._replace(netloc=f"{parts.username}:***@{host}"))


@dataclass
class _Timeline:
    """Maps the frame times of successive connections onto one monotonic timeline.

    Within a connection it reads pts or dts the way FFmpeg's best-effort timestamp does (whichever
    has gone backwards less often), fills missing times from the frame rate, and never goes back.
    A new connection, or a switch between pts and dts, continues one frame after the last frame.
    """

    frame_s: float = DEFAULT_FRAME_S
    last: float | None = None
    offset: float | None = None  # added to the stream time of this connection; None: not yet known
    uses_pts: bool | None = None
    last_pts: float | None = None
    last_dts: float | None = None
    faulty_pts: int = 0
    faulty_dts: int = 0

    def new_connection(self, frame_s: float) -> None:
        self.frame_s = frame_s
        self.offset = self.uses_pts = self.last_pts = self.last_dts = None
        self.faulty_pts = self.faulty_dts = 0

    def place(self, pts: float | None, dts: float | None) -> float:
        """The timeline position of a frame with these stream times (seconds, either may be None)."""
        if pts is not None:
            self.faulty_pts += self.last_pts is not None and pts <= self.last_pts
            self.last_pts = pts
        if dts is not None:
            self.faulty_dts += self.last_dts is not None and dts <= self.last_dts
            self.last_dts = dts
        uses_pts = pts is not None and (self.faulty_pts <= self.faulty_dts or dts is None)
        raw = pts if uses_pts else dts
        expected = 0.0 if self.last is None else self.last + self.frame_s
        if raw is None:
            placed = expected
        else:
            if self.offset is None or uses_pts != self.uses_pts:
                self.offset = expected - raw
                self.uses_pts = uses_pts
            placed = raw + self.offset
            if self.last is not None and placed <= self.last:
                if self.last - placed > BACKWARD_RESET_S:
                    self.offset = expected - raw
                placed = expected
        self.last = placed
        return placed


@dataclass
class _Pacer:
    """Releases frames at real-time pace: pts against a monotonic clock."""

    anchor: tuple[float, float] | None = None  # (monotonic time, pts) that correspond

    def wait(self, pts: float, stop: threading.Event) -> bool:
        """Sleep until `pts` is due; True if `stop` was set meanwhile."""
        now = time.monotonic()
        if self.anchor is None or abs(self.anchor[0] + pts - self.anchor[1] - now) > PACE_SLACK_S:
            self.anchor = (now, pts)
        return stop.wait(max(0.0, self.anchor[0] + pts - self.anchor[1] - now))


@dataclass
class _SkipPolicy:
    """Decode only reference frames while they alone come at the analysis rate.

    Each connection first decodes every frame for `probe_s` of stream time: the timeline learns
    there whether pts or dts can be trusted (a container without pts, such as AVI, only shows it
    by frames coming out of order) and a stream without timestamps is never skipped (its times
    come from the frame rate, which skipped frames would shrink). Then, while skipping, frames are
    counted by stream time in windows of `window_s`: when fewer than SKIP_MIN_SHARE x analysis_fps
    a second came out (a camera with long runs of non-reference frames), every frame is decoded
    for `backoff_s` of stream time, and skipping is tried again.
    """

    analysis_fps: float
    probe_s: float = SKIP_PROBE_S
    window_s: float = SKIP_WINDOW_S
    backoff_s: float = SKIP_BACKOFF_S
    skipping: bool = True  # references alone are (thought to be) enough
    probing: bool = True  # this connection is still decoding everything for probe_s
    untimed: bool = False  # frames came without timestamps: never skip
    announced: bool = False  # skipping was logged at INFO once
    since: float | None = None  # stream time the current probe, window or back-off began
    count: int = 0  # frames decoded since `since`

    @property
    def skip_frame(self) -> str:
        """The codec context's skip_frame setting for now."""
        return "NONREF" if self.skipping and not self.probing and not self.untimed else "DEFAULT"

    def new_connection(self) -> None:
        self.probing, self.since = True, None

    def observe(self, pts: float, timed: bool, camera: str) -> bool:
        """Count a decoded frame at `pts` (timeline seconds); True when skip_frame changed."""
        before = self.skip_frame
        if not timed and not self.untimed:
            self.untimed = True
            log.info("camera %s: frames carry no timestamps: decoding every frame", camera)
        if self.since is None or pts < self.since:
            self.since, self.count = pts, 0
        elapsed = pts - self.since
        if self.probing:
            if elapsed >= self.probe_s:
                self.probing, self.since, self.count = False, pts, 0
                if self.skip_frame == "NONREF":
                    log.log(logging.DEBUG if self.announced else logging.INFO,
                            "camera %s: decoding reference frames only (enough for %g fps analysed)",
                            camera, self.analysis_fps)
                    self.announced = True
        elif self.skipping and elapsed >= self.window_s:
            rate = self.count / elapsed
            if rate < SKIP_MIN_SHARE * self.analysis_fps:
                self.skipping = False
                log.info("camera %s: reference frames come at %.1f fps, fewer than the %g analysed: "
                         "decoding every frame for %g s", camera, rate, self.analysis_fps, self.backoff_s)
            self.since, self.count = pts, 0
        elif not self.skipping and elapsed >= self.backoff_s:
            self.skipping, self.since, self.count = True, pts, 0
            log.info("camera %s: trying reference frames only again (%g fps analysed)",
                     camera, self.analysis_fps)
        self.count += 1
        return self.skip_frame != before


@dataclass
class _CatchUp:
    """Keeps a live camera's decoding near its clock.

    A packet's lag is how much later than its stream time it was read, less the smallest such delay seen
    on this connection (the network's and the camera's own). Past `max_lag_s` only keyframes are decoded,
    past twice that none (a box too busy for even the keyframes); the others are demuxed, recorded and
    dropped. Decoding everything resumes at a keyframe read within a quarter of `max_lag_s`.
    """

    max_lag_s: float  # one per connection
    origin: float | None = None  # the smallest (monotonic time - stream time) of this connection
    skip_frame: str = "DEFAULT"  # "DEFAULT": in step; "NONKEY": keyframes only; "ALL": nothing decoded

    @property
    def behind(self) -> bool:
        return self.skip_frame != "DEFAULT"

    def update(self, stream_time: float | None, keyframe: bool, now: float) -> str:
        """The skip_frame setting for the packet read at `now` (an untimed packet changes nothing)."""
        if stream_time is None:
            return self.skip_frame
        offset = now - stream_time
        if self.origin is None or offset < self.origin:
            self.origin = offset
        lag = offset - self.origin
        if self.behind and keyframe and lag < self.max_lag_s / 4:
            self.skip_frame = "DEFAULT"
        elif lag > 2 * self.max_lag_s:
            self.skip_frame = "ALL"
        elif lag > self.max_lag_s and not self.behind:
            self.skip_frame = "NONKEY"
        return self.skip_frame


class CameraSource:
    """One camera: `url` is rtsp://... (over TCP), a V4L2 device /dev/videoN, or a video file.

    Files play once (state "ended") or, with `loop`, forever; with `realtime` they are paced
    by their timestamps. `on_status` gets a snapshot of `status` on every state change and
    after every failed attempt; it, `on_packet` and `on_disconnect` run in the thread that
    iterates frames(). Time spent in `on_packet` is not counted in `DecodedFrame.decode_s`.
    With `analysis_fps`, only reference frames are decoded while they come at that rate
    (`_SkipPolicy`); None decodes every frame. A live camera (RTSP, V4L2) decoding more than `max_lag_s`
    behind decodes only keyframes until it catches up (`_CatchUp`).
    """

    def __init__(self, name: str, url: str, *, loop: bool = False, realtime: bool = True,
                 open_timeout: float = 5.0, read_timeout: float = 5.0,
                 backoff_initial: float = 1.0, backoff_max: float = 30.0,
                 on_status: Callable[[CameraStatus], None] | None = None,
                 on_packet: PacketTap | None = None, on_disconnect: Callable[[], None] | None = None,
                 decode: bool = True, analysis_fps: float | None = None, max_lag_s: float = 2.0):
        self.name = name
        self.url = url
        self.loop = loop
        self.realtime = realtime
        self.open_timeout = open_timeout
        self.read_timeout = read_timeout
        self.backoff_initial = backoff_initial
        self.backoff_max = backoff_max
        self.on_status = on_status
        self.on_packet = on_packet
        self.on_disconnect = on_disconnect
        self.decode = decode
        self.analysis_fps = analysis_fps
        self.max_lag_s = max_lag_s
        self.is_rtsp = url.startswith(("rtsp://", "rtsps://"))
        self.is_device = url.startswith("/dev/video")
        self.is_file = not (self.is_rtsp or self.is_device)
        self.safe_url = redact_url(url)
        self.status = CameraStatus("starting", time.time(), None, None, 0)

    def frames(self, stop: threading.Event) -> Iterator[DecodedFrame]:
        """Yield frames until `stop` is set or a file ends (loop=False); reconnect on failures.

        With decode=False nothing is yielded: packets only go to on_packet (see run_packets).
        """
        timeline = _Timeline()
        pacer = _Pacer() if self.is_file and self.realtime else None
        skip = _SkipPolicy(self.analysis_fps) if self.analysis_fps and self.decode else None
        next_index = 0
        backoff = self.backoff_initial
        ever_online = False
        down_since: float | None = None  # monotonic time of the first failure since last online
        self._set_state("starting")
        try:
            while not stop.is_set():
                try:
                    with self._open() as container, closing(
                        self._read(container, stop, timeline, pacer, next_index, skip)
                    ) as items:
                        for item in items:
                            if self.status.state != "online":
                                ever_online, down_since, backoff = True, None, self.backoff_initial
                                self._set_state("online")
                            if item is not None:
                                next_index = item.index + 1
                                yield item
                    if stop.is_set():
                        return
                    if self.is_file and self.loop:
                        continue
                    if self.is_file:
                        self._set_state("ended")
                        return
                    error = f"camera {self.name}: {self.safe_url} ended the stream"
                except _SourceError as exc:
                    error = str(exc)
                except (av.FFmpegError, OSError) as exc:
                    error = self._describe(exc)
                now = time.monotonic()
                down_since = now if down_since is None else down_since
                retrying = ever_online and now - down_since <= self.backoff_max
                self._set_state("reconnecting" if retrying else "offline", error)
                if stop.wait(min(backoff, self.backoff_max) * random.uniform(1.0, 1.25)):
                    return
                backoff = min(backoff * 2, self.backoff_max)
                self.status.reconnects += 1
        finally:
            if self.status.state != "ended":
                self._set_state("stopped")

    def _open(self) -> av.container.InputContainer:
        options = {"rtsp_transport": "tcp"} if self.is_rtsp else {}
        try:
            return av.open(self.url, format="v4l2" if self.is_device else None, options=options,
                           timeout=(self.open_timeout, self.read_timeout))
        except av.ExitError as exc:
            raise _SourceError(self._failure(f"no answer within {self.open_timeout:g} s")) from exc

    def run_packets(self, stop: threading.Event) -> None:
        """Run a source made with decode=False until `stop` is set or a file ends: packets go to on_packet."""
        for _ in self.frames(stop):
            pass

    def _read(self, container: av.container.InputContainer, stop: threading.Event, timeline: _Timeline,
              pacer: _Pacer | None, first_index: int,
              skip: _SkipPolicy | None = None) -> Iterator[DecodedFrame | None]:
        """One open container: its frames, or with decode=False a None per packet; tells on_disconnect at the end."""
        if not container.streams.video:
            raise _SourceError(self._failure("no video stream"))
        stream = container.streams.video[0]
        stream.codec_context.thread_type = "NONE"
        stream.codec_context.thread_count = 1
        rate = stream.guessed_rate or stream.average_rate
        timeline.new_connection(float(1 / rate) if rate else DEFAULT_FRAME_S)
        try:
            if self.decode:
                yield from self._decode(container, stream, stop, timeline, pacer, first_index, skip)
            else:
                yield from self._demux(container, stream, stop, timeline, pacer)
        finally:
            if self.on_disconnect is not None:
                self.on_disconnect()

    def _decode(self, container: av.container.InputContainer, stream: VideoStream, stop: threading.Event,
                timeline: _Timeline, pacer: _Pacer | None, first_index: int,
                skip: _SkipPolicy | None) -> Iterator[DecodedFrame]:
        """The frames of one open container; returns at its end or when `stop` is set."""
        time_base = float(stream.time_base)
        if skip is not None:  # skip_frame may change between packets
            skip.new_connection()
            stream.codec_context.skip_frame = skip.skip_frame
        catch_up = None if self.is_file else _CatchUp(self.max_lag_s)
        self.status.behind = False  # a new connection starts in step with its camera
        index = first_index
        undecoded = 0  # frames left undecoded since the last one yielded
        unattributed_s = 0.0  # demux and decode CPU of packets that have not produced a frame yet
        with closing(self._packets(container, stream)) as packets:
            while not stop.is_set():
                cpu_start = time.thread_time()
                packet = next(packets, None)
                if packet is None:
                    if index == first_index and self.is_file:
                        raise _SourceError(self._failure("no frame could be decoded"))
                    return
                if catch_up is not None and packet.size:
                    stamp = packet.dts if packet.dts is not None else packet.pts
                    before = catch_up.skip_frame
                    mode = catch_up.update(None if stamp is None else stamp * time_base, packet.is_keyframe,
                                           time.monotonic())
                    if mode != before:
                        in_step = skip.skip_frame if skip is not None else "DEFAULT"
                        stream.codec_context.skip_frame = mode if catch_up.behind else in_step
                        if catch_up.behind != (before != "DEFAULT"):
                            self._set_behind(catch_up.behind)
                    if mode == "ALL" or (mode == "NONKEY" and not packet.is_keyframe):
                        undecoded += 1
                        self.status.frames_undecoded += 1
                frames = stream.codec_context.decode(packet)
                unattributed_s += time.thread_time() - cpu_start
                if self.on_packet is not None and packet.size:
                    self.on_packet(packet, stream, time.time())
                if not frames:
                    continue
                decode_s, unattributed_s = unattributed_s / len(frames), 0.0
                for frame in frames:
                    pts = timeline.place(None if frame.pts is None else frame.pts * time_base,
                                         None if frame.dts is None else frame.dts * time_base)
                    if skip is not None and skip.observe(pts, frame.pts is not None or frame.dts is not None,
                                                         self.name) and not self.status.behind:
                        stream.codec_context.skip_frame = skip.skip_frame
                    if pacer is not None and pacer.wait(pts, stop):
                        return
                    wall = time.time()
                    self.status.last_frame_at = wall
                    yield DecodedFrame(frame, pts, wall, decode_s, index, undecoded)
                    index, undecoded = index + 1, 0

    def _demux(self, container: av.container.InputContainer, stream: VideoStream, stop: threading.Event,
               timeline: _Timeline, pacer: _Pacer | None) -> Iterator[None]:
        """Hand one open container's packets to on_packet (paced by dts for realtime files), None for each."""
        time_base = float(stream.time_base)
        count = 0
        with closing(self._packets(container, stream)) as packets:
            while not stop.is_set():
                packet = next(packets, None)
                if packet is None:
                    if count == 0 and self.is_file:
                        raise _SourceError(self._failure("no packet could be read"))
                    return
                if not packet.size:
                    continue
                if pacer is not None and pacer.wait(
                        timeline.place(None, None if packet.dts is None else packet.dts * time_base), stop):
                    return
                wall = time.time()
                self.status.last_frame_at = wall
                if self.on_packet is not None:
                    self.on_packet(packet, stream, wall)
                count += 1
                yield None

    def _packets(self, container: av.container.InputContainer, stream: VideoStream) -> Iterator[av.Packet]:
        """The stream's packets, the empty ones that flush the decoder at the end included.

        A read timeout becomes a _SourceError.
        """
        with closing(container.demux(stream)) as packets:
            while True:
                try:
                    packet = next(packets)
                except StopIteration:
                    return
                except av.ExitError as exc:
                    raise _SourceError(self._failure(f"no data for {self.read_timeout:g} s")) from exc
                yield packet

    def _failure(self, reason: str) -> str:
        if self.is_file:
            return f"camera {self.name}: {self.safe_url} is not a readable video: {reason}"
        return f"camera {self.name}: {self.safe_url}: {reason}"

    def _describe(self, exc: BaseException) -> str:
        reason = getattr(exc, "strerror", None) or str(exc) or type(exc).__name__
        message = self._failure(reason)
        return _CREDENTIALS.sub(r"\1***@", message.replace(self.url, self.safe_url))

    def _set_behind(self, behind: bool) -> None:
        """Decoding fell behind the camera (keyframes only from now) or caught up: logged, and on_status told."""
        self.status.behind = behind
        if behind:
            log.warning("camera %s: decoding is more than %g s behind the camera: keyframes only until it catches up "
                        "(analysis slots dropped, recording goes on)", self.name, self.max_lag_s)
        else:
            log.info("camera %s: decoding caught up (%d frames left undecoded so far)", self.name,
                     self.status.frames_undecoded)
        if self.on_status is not None:
            self.on_status(replace(self.status))

    def _set_state(self, state: str, error: str | None = None) -> None:
        """Record a state change or a failed attempt and tell on_status (with a snapshot)."""
        current = self.status
        if state == current.state and error is None:
            return
        self.status = replace(
            current,
            state=state,
            since=time.time() if state != current.state else current.since,
            last_error=error if error is not None else current.last_error,
        )
        if self.on_status is not None:
            self.on_status(replace(self.status))


class _SourceError(Exception):
    """A failure already phrased for CameraStatus.last_error."""
