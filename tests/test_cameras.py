"""Camera ingest against real media: the demo clip, broken files, and a real RTSP server process."""
from __future__ import annotations

import gc
import logging
import os
import signal
import threading
import time
import wave
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import av
import numpy as np
import psutil
import pytest
from support.servers import free_port, start_rtsp_server

from vigia.appliance.cameras import CameraSource, CameraStatus, _SkipPolicy, redact_url

CLIP_FRAMES = 341
CLIP_SECONDS = CLIP_FRAMES / 25


@pytest.fixture(autouse=True)
def no_leaks():
    """Every test must leave no threads and no child processes behind."""
    threads_before = threading.active_count()
    os_threads_before = psutil.Process().num_threads()
    children_before = set(psutil.Process().children(recursive=True))  # another file's servers, under pytest-xdist
    yield
    assert threading.active_count() == threads_before
    # A decoder whose last reference sits in a collected cycle frees its FFmpeg threads when the garbage collector
    # runs, and FFmpeg's threads end a moment after they are told to: collect, then give them that moment.
    gc.collect()
    deadline = time.monotonic() + 5.0
    while psutil.Process().num_threads() > os_threads_before and time.monotonic() < deadline:
        time.sleep(0.05)
    assert psutil.Process().num_threads() == os_threads_before
    assert set(psutil.Process().children(recursive=True)) <= children_before


@dataclass
class Seen:
    """What a Reader keeps of a frame (not the picture: 300 of those would be 400 MB)."""

    index: int
    pts: float
    wall: float
    width: int
    height: int
    raw_dts: int | None  # as the stream stamped it, before CameraSource made it monotonic


@dataclass
class Reader:
    """Runs CameraSource.frames() in a worker thread, as the appliance does; records what it sees."""

    source: CameraSource
    stop: threading.Event = field(default_factory=threading.Event)
    seen: list[Seen] = field(default_factory=list)
    thread: threading.Thread | None = None
    error: BaseException | None = None

    def _run(self) -> None:
        try:
            for item in self.source.frames(self.stop):
                frame = item.frame
                self.seen.append(Seen(item.index, item.pts, item.wall, frame.width, frame.height, frame.dts))
        except BaseException as exc:  # handed to the test thread by close()
            self.error = exc

    def fps(self, start: float, end: float) -> float:
        """Frames per second received between `start` and `end` seconds after the first frame."""
        first = self.seen[0].wall
        return sum(1 for s in self.seen if first + start <= s.wall < first + end) / (end - start)

    def close(self) -> None:
        self.stop.set()
        self.thread.join(timeout=10)
        assert not self.thread.is_alive()
        if self.error is not None:
            raise self.error

    def __enter__(self) -> Reader:
        self.thread = threading.Thread(target=self._run, name=f"reader-{self.source.name}")
        self.thread.start()
        return self

    def __exit__(self, *_exc: object) -> None:
        self.close()


def wait_for(condition: Callable[[], object], timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, f"timed out after {timeout} s waiting for {what}"
        time.sleep(0.02)


def stop_on_first_error(source_name: str, url: str) -> tuple[CameraSource, list[CameraStatus]]:
    """Run a source in this thread until its first failure has been reported."""
    stop = threading.Event()
    log: list[CameraStatus] = []

    def on_status(status: CameraStatus) -> None:
        log.append(status)
        if status.last_error:
            stop.set()

    source = CameraSource(source_name, url, on_status=on_status, backoff_initial=0.1)
    assert list(source.frames(stop)) == []
    return source, log


def test_file_played_once(demo_clip: Path):
    log: list[CameraStatus] = []
    source = CameraSource("lobby", str(demo_clip), realtime=False, on_status=log.append)
    frames = list(source.frames(threading.Event()))

    assert len(frames) == CLIP_FRAMES
    assert [f.index for f in frames] == list(range(CLIP_FRAMES))
    assert (frames[0].frame.width, frames[0].frame.height) == (1280, 720)
    assert frames[0].frame.format.name == "yuv420p"
    pts = [f.pts for f in frames]
    assert pts[0] == 0.0
    assert all(b > a for a, b in zip(pts, pts[1:])), "pts must increase"
    assert pts[-1] == pytest.approx(CLIP_SECONDS, abs=0.1)
    assert all(f.decode_s > 0 for f in frames)
    assert [s.state for s in log] == ["online", "ended"]
    assert source.status.state == "ended" and source.status.last_frame_at == frames[-1].wall


def test_file_without_timestamps_gets_pts_from_frame_rate(demo_clip: Path, tmp_path: Path):
    raw = tmp_path / "clip.h264"  # an H.264 elementary stream carries no timestamps at all
    with av.open(str(demo_clip)) as src, av.open(str(raw), "w", format="h264") as dst:
        out = dst.add_stream_from_template(src.streams.video[0])
        for packet in src.demux(src.streams.video[0]):
            if packet.dts is not None:
                packet.stream = out
                dst.mux(packet)

    frames = list(CameraSource("raw", str(raw), realtime=False).frames(threading.Event()))

    assert frames[0].frame.pts is None
    assert [f.pts for f in frames] == pytest.approx([i / 25 for i in range(CLIP_FRAMES)])


def test_timestamps_jumping_back_mid_file(demo_clip: Path, tmp_path: Path):
    # Two MPEG-TS recordings back to back: timestamps restart at 0 where the second begins,
    # and the second is stamped at half speed (0.08 s a frame).
    first = remux_first_gop(demo_clip, tmp_path / "first.ts")
    second = remux_first_gop(demo_clip, tmp_path / "second.ts", stretch=2)
    joined = tmp_path / "joined.ts"
    joined.write_bytes(first.read_bytes() + second.read_bytes())

    pts = [f.pts for f in CameraSource("joined", str(joined), realtime=False).frames(threading.Event())]

    assert len(pts) == 256
    steps = [b - a for a, b in zip(pts, pts[1:])]
    assert steps[1:127] == pytest.approx([0.04] * 126)
    assert steps[127] == pytest.approx(0.04), "the jump back becomes one frame step"
    assert min(steps) > 0
    assert (pts[-1] - pts[128]) / 127 == pytest.approx(0.08, abs=0.002), "then stream time is followed"


def test_looped_file_continues_pts_past_the_end(demo_clip: Path):
    source = CameraSource("loop", str(demo_clip), loop=True, realtime=False)
    stop = threading.Event()
    pts = []
    for item in source.frames(stop):
        pts.append(item.pts)
        if len(pts) == 2 * CLIP_FRAMES + 50:
            stop.set()

    assert len(pts) == 2 * CLIP_FRAMES + 50
    steps = [b - a for a, b in zip(pts, pts[1:])]
    assert min(steps) > 0 and max(steps) < 0.1, "no jump back or gap at the loop boundary"
    assert pts[-1] > 2 * CLIP_SECONDS
    assert source.status.state == "stopped"


def test_realtime_file_is_paced_by_pts(demo_clip: Path):
    source = CameraSource("paced", str(demo_clip))
    stop = threading.Event()
    first_wall = None
    for item in source.frames(stop):
        first_wall = first_wall or time.monotonic()
        if item.pts >= 1.0:
            stop.set()
    elapsed = time.monotonic() - first_wall

    assert 0.9 < elapsed < 3  # never ahead of the clip's time; a loaded machine may decode late, not early
    assert source.status.state == "stopped"


def test_closing_the_generator_stops_the_source(demo_clip: Path):
    source = CameraSource("early", str(demo_clip), realtime=False)
    frames = source.frames(threading.Event())
    assert [next(frames).index for _ in range(5)] == [0, 1, 2, 3, 4]
    frames.close()
    assert source.status.state == "stopped"


def test_packet_tap_gets_every_packet_and_each_connection_end(demo_clip: Path):
    tapped: list[tuple[int, int]] = []  # (connection, dts)
    streams: list[object] = []
    disconnects = 0

    def on_packet(packet: av.Packet, stream, wall: float) -> None:
        if not streams or streams[-1] is not stream:
            streams.append(stream)
        tapped.append((len(streams), packet.dts))

    def on_disconnect() -> None:
        nonlocal disconnects
        disconnects += 1

    source = CameraSource("loop", str(demo_clip), loop=True, realtime=False, on_packet=on_packet,
                          on_disconnect=on_disconnect)
    stop = threading.Event()
    decode_s = []
    for item in source.frames(stop):
        decode_s.append(item.decode_s)
        if len(decode_s) == 2 * CLIP_FRAMES + 10:
            stop.set()

    with av.open(str(demo_clip)) as container:
        dts = [p.dts for p in container.demux(container.streams.video[0]) if p.size]
    assert len(streams) == 3 and disconnects == 3, "a stream object and an end for each connection"
    assert [d for c, d in tapped if c == 1] == [d for c, d in tapped if c == 2] == dts
    assert all(s > 0 for s in decode_s)


def test_record_only_source_demuxes_at_the_file_pace(demo_clip: Path):
    walls: list[float] = []
    stop = threading.Event()

    def on_packet(packet: av.Packet, stream, wall: float) -> None:
        walls.append(wall)
        if len(walls) == 26:
            stop.set()

    source = CameraSource("main", str(demo_clip), decode=False, on_packet=on_packet)
    source.run_packets(stop)

    assert len(walls) == 26 and 0.9 < walls[-1] - walls[0] < 1.3, "25 frame times take 1 s"
    assert source.status.state == "stopped" and source.status.last_frame_at == walls[-1]


def test_analysis_fps_decodes_only_reference_frames(demo_clip: Path, caplog: pytest.LogCaptureFixture):
    caplog.set_level(logging.INFO, logger="vigia.appliance.cameras")
    every = list(CameraSource("lobby", str(demo_clip), realtime=False).frames(threading.Event()))
    source = CameraSource("lobby", str(demo_clip), realtime=False, analysis_fps=5)
    frames = list(source.frames(threading.Event()))

    # The first second (SKIP_PROBE_S) is decoded whole; after it, only reference frames.
    assert len(frames) < 0.35 * CLIP_FRAMES
    assert [f.index for f in frames] == list(range(len(frames)))
    pts = [f.pts for f in frames]
    assert pts[0] == 0.0 and all(b > a for a, b in zip(pts, pts[1:])), "pts must increase"
    skipped = [p for p in pts if 2.0 <= p < 12.0]
    assert 5 * 0.95 <= len(skipped) / 10 <= 8, "about the analysis rate, in stream time"
    assert max(b - a for a, b in zip(pts, pts[1:])) <= 0.25
    # Each frame is the picture the full decode has at that time (the flushed last one aside).
    full = {round(f.pts, 4): f.frame for f in every}
    for f in frames[:-1]:
        assert np.array_equal(f.frame.to_ndarray(format="gray"), full[round(f.pts, 4)].to_ndarray(format="gray"))
    assert all(f.decode_s > 0 for f in frames)
    # What skipping costs less is a timing: bench capacity's decoded_frames_share and decode CPU per stream-second.
    assert source.status.state == "ended"
    assert "camera lobby: decoding reference frames only" in caplog.text


def test_analysis_fps_above_the_reference_rate_decodes_every_frame(demo_clip: Path, caplog: pytest.LogCaptureFixture):
    caplog.set_level(logging.INFO, logger="vigia.appliance.cameras")
    frames = list(CameraSource("lobby", str(demo_clip), realtime=False, analysis_fps=10).frames(threading.Event()))

    pts = [f.pts for f in frames]
    assert all(b > a for a, b in zip(pts, pts[1:]))
    steps = [b - a for a, b in zip(pts, pts[1:])]
    probe_and_window = [s for a, s in zip(pts, steps) if 1.1 <= a < 2.9]
    assert max(probe_and_window) > 0.1, "references only during the first window"
    after = [s for a, s in zip(pts, steps) if a >= 3.6]
    assert after == pytest.approx([0.04] * len(after)), "then every frame"
    assert len(frames) > 0.85 * CLIP_FRAMES
    assert "camera lobby: reference frames come at" in caplog.text and "fewer than the 10 analysed" in caplog.text


def test_skip_policy_backs_off_and_tries_again():
    policy = _SkipPolicy(analysis_fps=5, probe_s=1, window_s=2, backoff_s=60)
    changes = []
    for i in range(25 * 70):  # 25 fps of stream time while decoding everything, 4 fps while skipping
        pts = i / 25
        if policy.skip_frame == "NONREF" and i % 6:
            continue
        if policy.observe(pts, True, "lobby"):
            changes.append((round(pts, 2), policy.skip_frame))
    # probe, first window (at the first frame 2 s on), back-off, second window
    assert changes == [(1.0, "NONREF"), (3.12, "DEFAULT"), (63.12, "NONREF"), (65.28, "DEFAULT")]

    untimed = _SkipPolicy(analysis_fps=5)
    assert untimed.observe(0.0, False, "raw") is False and untimed.skip_frame == "DEFAULT"
    assert not any(untimed.observe(i / 25, False, "raw") for i in range(1, 200))


def test_skipping_source_loops_and_paces_by_pts(demo_clip: Path):
    looped = CameraSource("loop", str(demo_clip), loop=True, realtime=False, analysis_fps=5)
    stop = threading.Event()
    pts = []
    for item in looped.frames(stop):
        pts.append(item.pts)
        if item.pts > 1.5 * CLIP_SECONDS:
            stop.set()
    steps = [b - a for a, b in zip(pts, pts[1:])]
    assert min(steps) > 0 and max(steps) <= 0.25, "no jump back or gap at the loop boundary"

    paced = CameraSource("paced", str(demo_clip), analysis_fps=5)
    stop = threading.Event()
    first_wall = None
    for item in paced.frames(stop):
        first_wall = first_wall or time.monotonic()
        if item.pts >= 2.5:
            stop.set()
    assert 2.3 < time.monotonic() - first_wall < 5  # paced at the clip's time (late only on a loaded machine)


@pytest.mark.parametrize("kind", ["text", "audio", "truncated"])
def test_unreadable_file_reports_a_clear_error(kind: str, demo_clip: Path, tmp_path: Path):
    path = tmp_path / f"{kind}.avi"
    if kind == "text":
        path.write_text("this is not a video\n")
    elif kind == "audio":
        path = path.with_suffix(".wav")
        with wave.open(str(path), "wb") as audio:
            audio.setnchannels(1)
            audio.setsampwidth(2)
            audio.setframerate(8000)
            audio.writeframes(b"\0\0" * 8000)
    else:
        path.write_bytes(demo_clip.read_bytes()[:100_000])

    source, log = stop_on_first_error("door", str(path))

    assert log[0].state == "offline"
    assert log[0].last_error.startswith(f"camera door: {path} is not a readable video: ")
    if kind == "audio":
        assert log[0].last_error.endswith("no video stream")
    assert source.status.state == "stopped"


def test_unreachable_rtsp_url_is_offline_with_backoff():
    url = f"rtsp://admin:hunter2@127.0.0.1:{free_port()}/demo"
    stop = threading.Event()
    log: list[tuple[float, CameraStatus]] = []

    def on_status(status: CameraStatus) -> None:
        log.append((time.monotonic(), status))
        if len(log) == 4:
            stop.set()

    source = CameraSource("gate", url, backoff_initial=0.1, backoff_max=10, on_status=on_status)
    assert list(source.frames(stop)) == []

    failures = [status for _, status in log[:4]]
    assert [s.state for s in failures] == ["offline"] * 4 and source.status.state == "stopped"
    assert failures[0].last_error.startswith(f"camera gate: {redact_url(url)}: ")
    assert "admin:***@127.0.0.1" in failures[0].last_error
    assert all("hunter2" not in s.last_error for _, s in log)
    assert [s.reconnects for s in failures] == [0, 1, 2, 3]
    waits = [b - a for (a, _), (b, _) in zip(log, log[1:4])]
    assert waits[0] >= 0.1 and waits[1] >= 0.2 and waits[2] >= 0.4, f"no exponential backoff: {waits}"


def test_redact_url():
    assert redact_url("rtsp://u:p@cam.local:554/s?x=1") == "rtsp://u:***@cam.local:554/s?x=1"
    assert redact_url("rtsp://cam.local/s") == "rtsp://cam.local/s"
    assert redact_url("/dev/video0") == "/dev/video0"


def remux_first_gop(clip: Path, path: Path, stretch: int = 1) -> Path:
    """Copy the clip's first GOP (128 frames, 5.12 s) into `path`, times multiplied by `stretch`."""
    with av.open(str(clip)) as src, av.open(str(path), "w") as dst:
        video = src.streams.video[0]
        out = dst.add_stream_from_template(video)
        to_annexb = av.bitstream.BitStreamFilterContext("h264_mp4toannexb", video, out)
        for number, packet in enumerate(src.demux(video)):
            if number == 128:
                break
            dts = packet.dts * stretch
            for filtered in to_annexb.filter(packet):
                filtered.dts = filtered.pts = dts  # AVI stores no pts, but its muxer wants one
                filtered.time_base = video.time_base
                filtered.stream = out
                dst.mux(filtered)
    return path


@pytest.fixture(scope="module")
def short_clip(demo_clip: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A 5.12 s AVI, so that the server loops it within a test."""
    return remux_first_gop(demo_clip, tmp_path_factory.mktemp("media") / "short.avi")


@pytest.mark.slow
def test_rtsp_clients_share_a_live_looping_stream(short_clip: Path):
    with start_rtsp_server(short_clip) as server:
        # Every frame is wanted here, however loaded the machine: no catching up by keyframes (max_lag_s).
        first = CameraSource("north", server.url, max_lag_s=3600)
        with Reader(first) as reader:
            wait_for(lambda: reader.seen, 10, "first frames")
            with Reader(CameraSource("south", server.url)) as late:
                wait_for(lambda: len(late.seen) > 10, 10, "frames for a client joining later")
            wait_for(lambda: reader.seen[-1].wall > reader.seen[0].wall + 7, 9, "7 s of frames")

    # Across the file's end (5.12 s) and the second client's PLAY, the stream neither
    # stalls nor rewinds: the server keeps its timestamps going like a live camera. Never faster than the
    # camera's 25 fps; slower only by what a loaded machine's decoding loses (a stall of 2.4 s would show).
    assert 15 < reader.fps(1, 7) < 27
    raw_dts = [s.raw_dts for s in reader.seen if s.raw_dts is not None]
    assert all(b > a for a, b in zip(raw_dts, raw_dts[1:]))
    steps = [b.pts - a.pts for a, b in zip(reader.seen, reader.seen[1:])]
    assert max(steps) < 0.05 and min(steps) > 0.03
    assert {(s.width, s.height) for s in late.seen} == {(1280, 720)}


@pytest.mark.slow
def test_rtsp_stream_survives_a_server_restart(demo_clip: Path):
    log: list[CameraStatus] = []
    with start_rtsp_server(demo_clip) as server:
        url = server.url.replace("rtsp://", "rtsp://viewer:s3cret@")  # the server ignores credentials
        source = CameraSource("street", url, read_timeout=2, open_timeout=2,
                              backoff_initial=0.2, backoff_max=1, on_status=log.append)
        with Reader(source) as reader:
            wait_for(lambda: reader.seen, 10, "first frames")
            wait_for(lambda: reader.seen[-1].wall > reader.seen[0].wall + 4, 6, "4 s of frames")
            # From the second on: frames queued while the client was probing arrive in a burst.
            assert 15 < reader.fps(1, 4) < 27  # the camera's 25 fps (less only on a loaded machine)
            assert {(s.width, s.height) for s in reader.seen} == {(1280, 720)}

            server.kill()
            wait_for(lambda: source.status.state in ("reconnecting", "offline"), 5, "loss detected")
            assert redact_url(url) in source.status.last_error
            frames_when_down = len(reader.seen)

            with start_rtsp_server(demo_clip, port=server.port):
                wait_for(lambda: source.status.state == "online", 5, "back online")
                wait_for(lambda: len(reader.seen) > frames_when_down + 25, 5, "frames after restart")
                reader.close()

    states = [s.state for s in log]
    assert states[0] == "online" and "reconnecting" in states
    assert states[-2:] == ["online", "stopped"]
    assert source.status.reconnects >= 1
    assert all("s3cret" not in (s.last_error or "") for s in log)
    pts = [s.pts for s in reader.seen]
    assert all(b > a for a, b in zip(pts, pts[1:])), "pts monotonic across the reconnect"
    assert [s.index for s in reader.seen] == list(range(len(reader.seen)))


@pytest.mark.slow
def test_stalled_rtsp_server_times_out_and_recovers(demo_clip: Path):
    with start_rtsp_server(demo_clip) as server:
        source = CameraSource("yard", server.url, read_timeout=1, open_timeout=1,
                              backoff_initial=0.2, backoff_max=5)
        with Reader(source) as reader:
            wait_for(lambda: source.status.state == "online", 10, "online")
            os.kill(server.process.pid, signal.SIGSTOP)  # the connection stays open, no data flows
            try:
                wait_for(lambda: source.status.state == "reconnecting", 3, "read timeout")
                assert "no data for 1 s" in source.status.last_error
            finally:
                os.kill(server.process.pid, signal.SIGCONT)
            wait_for(lambda: source.status.state == "online", 10, "back online")
            count = len(reader.seen)
            wait_for(lambda: len(reader.seen) > count + 10, 5, "frames after the stall")
    assert source.status.state == "stopped"
