"""Recording against real media: PyAV muxing into real files, a real SQLite store, real crashes.

Most tests feed the recorder the packets of a clip re-encoded with a keyframe every second
(`gop_clip`) as a live camera would: each packet arrives at T0 plus its stream time.
"""
from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path

import av
import pytest
from support.mp4_boxes import fragment_starts

from vigia.appliance.cameras import CameraSource
from vigia.appliance.config import Record
from vigia.appliance.encryption import MAGIC, load_or_create_key, open_media
from vigia.appliance.recording.clips import START_TAG, assemble_clip
from vigia.appliance.recording.export import ExportError, export
from vigia.appliance.recording.reconcile import reconcile
from vigia.appliance.recording.recorder import SegmentRecorder, parameter_sets
from vigia.appliance.storage import connect, database

T0 = 1_750_000_000.0  # wall clock of the first packet fed
GOP_CLIP_SECONDS = 36
DEMO_FRAMES = 341
SEGMENT_PATH = re.compile(
    r"media/(?P<camera>[\w.-]+)/(?P<day>\d{4}-\d{2}-\d{2})/(?P<time>\d{2}-\d{2}-\d{2})-[0-9A-Z]{26}\.mp4")


def encode(source: Path, out: Path, video_filter: str, seconds: float, *extra: str) -> Path:
    """Re-encode `source` with ffmpeg: H.264, a keyframe every second (25 frames), no B-frames."""
    subprocess.run(
        ["ffmpeg", "-v", "error", "-y", "-i", str(source), "-an", "-vf", video_filter, "-t", str(seconds),
         "-c:v", "libx264", "-preset", "ultrafast", "-g", "25", "-keyint_min", "25", "-sc_threshold", "0",
         "-bf", "0", *extra, str(out)],
        check=True,
    )
    return out


@pytest.fixture(scope="module")
def media(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("media")


@pytest.fixture(scope="module")
def gop_clip(demo_clip: Path, media: Path) -> Path:
    """36 s of the demo clip (looped) at 640x360 with a keyframe every second, as MPEG-TS (Annex B, as RTSP)."""
    looped = "scale=640:360,loop=loop=2:size=341:start=0,setpts=N/25/TB"
    return encode(demo_clip, media / "gop25.ts", looped, GOP_CLIP_SECONDS)


@dataclass
class Fed:
    packets: int
    stream_s: float  # stream time of the last packet fed


def feed(recorder: SegmentRecorder, clip: Path, actions: list[tuple[float, Callable[[float], None]]] = (),
         until: float | None = None) -> Fed:
    """Give the recorder the clip's packets, packet at stream time t arriving at T0 + t.

    Each action (t, hook) is called with T0 + t just before the first packet at or after t.
    """
    pending = sorted(actions, key=lambda action: action[0])
    count, t = 0, 0.0
    with av.open(str(clip)) as container:
        stream = container.streams.video[0]
        first = None
        for packet in container.demux(stream):
            if not packet.size:
                continue
            first = packet.dts if first is None else first
            t = float((packet.dts - first) * stream.time_base)
            if until is not None and t >= until:
                break
            while pending and pending[0][0] <= t:
                pending.pop(0)[1](T0 + t)
            recorder.on_packet(packet, stream, T0 + t)
            count += 1
    return Fed(count, t)


def recordings(path: Path, camera: str | None = None) -> list[dict]:
    with database(path) as db:
        where, params = ("where camera = ?", [camera]) if camera else ("", [])
        return list(db.query(f"select * from recordings {where} order by start", params))


@dataclass
class Decoded:
    frames: int
    first_is_key: bool
    size: tuple[int, int]
    duration: float


def decode(path: Path, key: bytes | None = None) -> Decoded:
    """Decode every frame of a (plain or encrypted) MP4 with PyAV."""
    with open_media(path, key) as media, av.open(media) as container:
        stream = container.streams.video[0]
        frames = list(frame.key_frame for frame in container.decode(stream))
        duration = float(container.duration / av.time_base) if container.duration else 0.0
        return Decoded(len(frames), frames[0], (stream.codec_context.width, stream.codec_context.height), duration)


def ffprobe_frames(path: Path) -> int:
    """Frames ffprobe reads from a plain file; any error it reports fails the test."""
    done = subprocess.run(["ffprobe", "-v", "error", "-count_frames", "-select_streams", "v:0",
                           "-show_entries", "stream=nb_read_frames", "-of", "csv=p=0", str(path)],
                          capture_output=True, text=True, check=True)
    assert done.stderr == "", done.stderr
    return int(done.stdout)


def spans(rows: list[dict]) -> list[tuple[float, float]]:
    """Covered time (seconds after T0), touching segments merged."""
    out: list[tuple[float, float]] = []
    for row in rows:
        start, end = row["start"] - T0, row["end"] - T0
        if out and abs(start - out[-1][1]) < 1e-3:
            out[-1] = (out[-1][0], end)
        else:
            out.append((start, end))
    return out


def top_level_boxes(path: Path, key: bytes | None = None) -> list[bytes]:
    with open_media(path, key) as media:
        size = media.seek(0, os.SEEK_END)
        boxes, offset = [], 0
        while offset < size:
            media.seek(offset)
            header = media.read(8)
            boxes.append(header[4:])
            offset += int.from_bytes(header[:4], "big")
        return boxes


def new_recorder(tmp: Path, camera: str, key: bytes | None = None, **record) -> SegmentRecorder:
    return SegmentRecorder(camera, Record(**record), tmp, tmp / "vigia.db", key)


@dataclass
class Recording:
    data_dir: Path
    database: Path
    key: bytes | None
    fed: Fed


@pytest.fixture(scope="module", params=["plain", "encrypted"])
def continuous(request: pytest.FixtureRequest, gop_clip: Path, tmp_path_factory: pytest.TempPathFactory) -> Recording:
    """The whole gop_clip recorded by camera "door" in continuous mode, 4 s segments."""
    data_dir = tmp_path_factory.mktemp(f"continuous-{request.param}")
    key = load_or_create_key(data_dir / "keys" / "media.key") if request.param == "encrypted" else None
    recorder = new_recorder(data_dir, "door", key, mode="continuous", segment_seconds=4)
    fed = feed(recorder, gop_clip)
    recorder.close()
    return Recording(data_dir, data_dir / "vigia.db", key, fed)


def test_continuous_segments_cover_the_stream_without_losing_a_frame(continuous: Recording):
    rows = recordings(continuous.database)
    fed = continuous.fed

    assert len(rows) == 9
    assert {(row["kind"], row["state"], row["camera"], row["codec"]) for row in rows} == {
        ("segment", "complete", "door", "h264")}
    assert {(row["width"], row["height"], row["encrypted"]) for row in rows} == {
        (640, 360, continuous.key is not None)}
    assert spans(rows) == [(0.0, pytest.approx(fed.stream_s + 0.04, abs=1e-3))], "contiguous, start to end"
    assert [row["end"] - row["start"] for row in rows] == [pytest.approx(4.0, abs=1e-6)] * 9, "cut at keyframes"
    total = 0
    for row in rows:
        path = continuous.data_dir / row["path"]
        match = SEGMENT_PATH.fullmatch(row["path"])
        started = datetime.fromtimestamp(row["start"], timezone.utc)
        assert match and match["camera"] == "door"
        assert (match["day"], match["time"]) == (f"{started:%Y-%m-%d}", f"{started:%H-%M-%S}")
        assert row["bytes"] == path.stat().st_size > 0
        assert (path.read_bytes()[:4] == MAGIC) == (continuous.key is not None)
        decoded = decode(path, continuous.key)
        assert decoded.first_is_key and decoded.size == (640, 360)
        assert decoded.duration == pytest.approx(row["end"] - row["start"], abs=0.05)
        if continuous.key is None:
            assert ffprobe_frames(path) == decoded.frames
        total += decoded.frames
    assert total == fed.packets, "every packet fed is a frame in exactly one segment"
    # What recording costs is `vigia bench storage`'s record_cpu_per_stream_second and record_vs_decode_ratio.


def test_assemble_clip_across_segments(continuous: Recording, tmp_path: Path):
    """Encrypted footage makes an encrypted clip (test_export covers encrypted footage to a plain file)."""
    db = connect(continuous.database)
    started = time.perf_counter()
    clip = assemble_clip(db, continuous.data_dir, continuous.key, "door", T0 + 3.3, T0 + 33.3, tmp_path / "clip.mp4")
    elapsed_ms = (time.perf_counter() - started) * 1e3
    db.conn.close()
    key = continuous.key

    decoded = decode(clip, key)
    # From the keyframe at 3.0 s up to the packet at 33.28 s, one frame every 40 ms.
    assert decoded.frames == round((33.28 - 3.0) / 0.04) + 1
    assert 30.0 <= decoded.duration <= 31.1
    assert decoded.first_is_key and decoded.size == (640, 360)
    with open_media(clip, key) as media, av.open(media) as container:
        assert float(container.metadata[START_TAG]) == pytest.approx(T0 + 3.0, abs=0.005), "the clip says when it starts"
    boxes = top_level_boxes(clip, key)
    if key is not None:
        assert clip.read_bytes()[:4] == MAGIC and b"moof" in boxes, "encrypted clips are fragmented"
    else:
        assert boxes.index(b"moov") < boxes.index(b"mdat"), "faststart: the index comes first"
        assert ffprobe_frames(clip) == decoded.frames
    assert [p.name for p in tmp_path.iterdir()] == ["clip.mp4"], "no temporary file left"
    print(f"\nassemble_clip ({'encrypted' if key else 'plain'}): 30 s of 640x360 across "
          f"{len(recordings(continuous.database))} segments in {elapsed_ms:.0f} ms")


def test_events_mode_records_pre_roll_to_post_roll(gop_clip: Path, tmp_path: Path):
    recorder = new_recorder(tmp_path, "yard", mode="events", pre_roll=5, post_roll=3, segment_seconds=4)
    feed(recorder, gop_clip, [(10.0, recorder.event_started), (12.0, recorder.event_ended)])
    recorder.close()
    rows = recordings(tmp_path / "vigia.db")

    [(start, end)] = spans(rows)
    assert start == pytest.approx(5.0, abs=1e-6), "from the keyframe at event start - pre_roll"
    assert end == pytest.approx(16.0, abs=1e-6), "until the first keyframe after event end + post_roll"
    assert all(row["state"] == "complete" for row in rows)
    frames = sum(decode(tmp_path / row["path"]).frames for row in rows)
    assert frames == round((end - start) / 0.04)


def test_pre_roll_ring_is_bounded_in_bytes(gop_clip: Path, tmp_path: Path):
    recorder = SegmentRecorder("lane", Record(mode="events", pre_roll=10, post_roll=1), tmp_path,
                               tmp_path / "vigia.db", max_ring_bytes=600_000)  # about 2.5 s of this clip
    feed(recorder, gop_clip, [(20.0, recorder.event_started), (21.0, recorder.event_ended)])
    recorder.close()

    [(start, end)] = spans(recordings(tmp_path / "vigia.db"))
    assert 16.0 <= start <= 19.0 and start == round(start), "as much pre-roll as fits, from a keyframe"
    assert end == pytest.approx(23.0)


def test_overlapping_events_extend_the_window_and_pauses_keep_events(gop_clip: Path, tmp_path: Path):
    recorder = new_recorder(tmp_path, "gate", mode="continuous", pre_roll=2, post_roll=3, segment_seconds=4)
    feed(recorder, gop_clip, [
        (6.5, lambda _: recorder.set_continuous_allowed(False)),
        (12.0, recorder.event_started),
        (14.0, recorder.event_started),  # overlaps the first
        (15.0, recorder.event_ended),
        (17.5, recorder.event_ended),
        (28.0, lambda _: recorder.set_continuous_allowed(True)),
    ])
    recorder.close()

    covered = spans(recordings(tmp_path / "vigia.db"))
    assert len(covered) == 3
    assert covered[0][0] == 0 and 6.5 <= covered[0][1] <= 7.05, "continuous until the pause, to a keyframe"
    assert covered[1][0] == pytest.approx(10.0) and 20.5 <= covered[1][1] <= 21.05, "one window for both events"
    assert covered[2][0] == pytest.approx(28.0) and covered[2][1] == pytest.approx(GOP_CLIP_SECONDS - 0.04, abs=0.05)


def test_recording_shares_the_detection_connection(demo_clip: Path, tmp_path: Path):
    recorder = new_recorder(tmp_path, "lobby", mode="continuous", segment_seconds=4)
    tapped: list[int] = []
    record_cpu = 0.0

    def tap(packet: av.Packet, stream, wall: float) -> None:
        nonlocal record_cpu
        tapped.append(packet.dts)
        started = time.thread_time()
        recorder.on_packet(packet, stream, wall)
        record_cpu += time.thread_time() - started

    source = CameraSource("lobby", str(demo_clip), realtime=False, on_packet=tap,
                          on_disconnect=recorder.connection_lost)
    frames = decode_cpu = 0
    for decoded in source.frames(threading.Event()):
        frames += 1
        decode_cpu += decoded.decode_s
    rows = recordings(tmp_path / "vigia.db")  # complete before close(): on_disconnect finished the segment

    with av.open(str(demo_clip)) as container:
        demuxed = [p.dts for p in container.demux(container.streams.video[0]) if p.size]
    assert frames == DEMO_FRAMES and source.status.state == "ended"
    assert tapped == demuxed, "every packet, in demux order"
    assert [row["state"] for row in rows] == ["complete"] * 3, "cut at the keyframes at 5.12 and 10.24 s"
    assert sum(decode(tmp_path / row["path"]).frames for row in rows) == DEMO_FRAMES
    assert {(row["width"], row["height"]) for row in rows} == {(1280, 720)}

    # A record-only main stream: demuxed, never decoded.
    main = new_recorder(tmp_path, "lobby-main", mode="continuous", segment_seconds=4)
    only = CameraSource("lobby-main", str(demo_clip), realtime=False, decode=False,
                        on_packet=main.on_packet, on_disconnect=main.connection_lost)
    started = time.thread_time()
    only.run_packets(threading.Event())
    demux_cpu = time.thread_time() - started
    main.close()
    recorder.close()
    main_rows = recordings(tmp_path / "vigia.db", "lobby-main")
    assert only.status.state == "ended"
    assert sum(decode(tmp_path / row["path"]).frames for row in main_rows) == DEMO_FRAMES

    seconds = DEMO_FRAMES / 25
    print(f"\n1280x720 H.264 per stream second: decode {decode_cpu / seconds * 1e3:.1f} ms CPU, "
          f"recording {record_cpu / seconds * 1e3:.2f} ms ({record_cpu / decode_cpu:.2%} of decode); "
          f"record-only source (demux + record) {demux_cpu / seconds * 1e3:.2f} ms")
    # The cost against decoding is a timing: bench storage's record_vs_decode_ratio (test_bench holds it to 0.05).


def test_resolution_change_starts_a_new_segment(demo_clip: Path, media: Path, tmp_path: Path):
    big = encode(demo_clip, media / "big.ts", "scale=1280:720", 3)
    small = encode(demo_clip, media / "small.ts", "scale=640:360", 3, "-output_ts_offset", "3")
    joined = tmp_path / "joined.ts"  # timestamps run on; the picture size changes in-band
    joined.write_bytes(big.read_bytes() + small.read_bytes())
    causes: list[str] = []
    recorder = new_recorder(tmp_path, "porch", mode="continuous", segment_seconds=30)
    recorder.on_restart = causes.append
    source = CameraSource("porch", str(joined), realtime=False, on_packet=recorder.on_packet,
                          on_disconnect=recorder.connection_lost)

    sizes = [(d.frame.width, d.frame.height) for d in source.frames(threading.Event())]
    recorder.close()
    rows = recordings(tmp_path / "vigia.db")

    # (The demuxer drops the last packet of each file: MPEG-TS continuity counters restart at the join.)
    counts = [sizes.count((1280, 720)), sizes.count((640, 360))]
    assert sizes == [(1280, 720)] * counts[0] + [(640, 360)] * counts[1] and min(counts) >= 74
    assert [(row["width"], row["height"], row["state"]) for row in rows] == [
        (1280, 720, "complete"), (640, 360, "complete")]
    assert causes == ["stream"]  # counted (vigia_recording_restarts_total)
    for row, size, count in zip(rows, [(1280, 720), (640, 360)], counts):
        decoded = decode(tmp_path / row["path"])
        assert (decoded.frames, decoded.size, decoded.first_is_key) == (count, size, True)
        assert ffprobe_frames(tmp_path / row["path"]) == count


def test_timestamps_jumping_back_start_a_new_segment(demo_clip: Path, media: Path, tmp_path: Path,
                                                     caplog: pytest.LogCaptureFixture):
    small = encode(demo_clip, media / "small3.ts", "scale=640:360", 3)
    joined = tmp_path / "twice.ts"  # the second copy's timestamps start over
    joined.write_bytes(small.read_bytes() * 2)
    causes: list[str] = []
    recorder = new_recorder(tmp_path, "dock", mode="continuous", segment_seconds=30)
    recorder.on_restart = causes.append

    with av.open(str(joined)) as container, caplog.at_level("INFO"):
        stream = container.streams.video[0]
        packets = [p for p in container.demux(stream) if p.size]
        stamps = [p.dts for p in packets]
        for index, packet in enumerate(packets):
            recorder.on_packet(packet, stream, T0 + index * 0.04)
    recorder.close()
    rows = recordings(tmp_path / "vigia.db")

    # (The demuxer drops the last packet of each copy: MPEG-TS continuity counters restart at the join.)
    jump = next(i for i in range(1, len(stamps)) if stamps[i] < stamps[i - 1])
    counts = [jump, len(packets) - jump]
    assert [row["state"] for row in rows] == ["complete", "complete"] and min(counts) >= 74
    assert rows[1]["start"] == pytest.approx(rows[0]["end"], abs=1e-3) == T0 + jump * 0.04
    assert [decode(tmp_path / row["path"]).frames for row in rows] == counts
    assert [ffprobe_frames(tmp_path / row["path"]) for row in rows] == counts
    assert re.search(r"timestamps jumped by -2\.9\d s", caplog.text)
    assert causes == ["timestamps"]


def test_hevc_camera(demo_clip: Path, media: Path, tmp_path: Path):
    clip = encode(demo_clip, media / "hevc.ts", "scale=640:360", 3, "-c:v", "libx265",
                  "-x265-params", "keyint=25:min-keyint=25:scenecut=0:bframes=0:log-level=error")
    with av.open(str(clip)) as container:
        keyframe = next(p for p in container.demux(container.streams.video[0]) if p.is_keyframe)
        units = parameter_sets(keyframe, "hevc").split(b"\x00\x00\x00\x01")[1:]
    assert [(unit[0] >> 1) & 0x3F for unit in units] == [32, 33, 34], "VPS, SPS, PPS"

    recorder = new_recorder(tmp_path, "hevc", mode="continuous", segment_seconds=2)
    fed = feed(recorder, clip)
    recorder.close()
    rows = recordings(tmp_path / "vigia.db")

    assert [(row["codec"], row["state"]) for row in rows] == [("hevc", "complete")] * 2
    assert sum(decode(tmp_path / row["path"]).frames for row in rows) == fed.packets
    probe = subprocess.run(["ffprobe", "-v", "error", "-show_entries", "stream=codec_tag_string", "-of", "csv=p=0",
                            str(tmp_path / rows[0]["path"])], capture_output=True, text=True, check=True)
    assert probe.stdout.strip() == "hvc1"


def test_write_failures_stay_in_the_recorder_and_are_retried(gop_clip: Path, tmp_path: Path):
    blocker = tmp_path / "media" / "attic"
    blocker.parent.mkdir()
    blocker.write_text("a file where the camera's directory should be")  # mkdir fails as on a broken disk
    errors: list[Exception] = []
    recorder = SegmentRecorder("attic", Record(mode="continuous", segment_seconds=4), tmp_path,
                               tmp_path / "vigia.db", on_error=errors.append)

    feed(recorder, gop_clip, [(15.0, lambda _: blocker.unlink())])
    recorder.close()

    assert [type(error) for error in errors] == [NotADirectoryError] * 2, "at 0 s, then retried at 10 s"
    covered = spans(recordings(tmp_path / "vigia.db"))
    assert covered == [(pytest.approx(20.0), pytest.approx(GOP_CLIP_SECONDS, abs=1e-6))], "resumed at 20 s"


def test_packets_without_timestamps_at_connection_start_are_dated(gop_clip: Path, tmp_path: Path):
    """RTSP gives the first packets of a connection no dts (nor, for the very first, a pts)."""
    recorder = new_recorder(tmp_path, "rtsp", mode="continuous", segment_seconds=30)
    with av.open(str(gop_clip)) as container:
        stream = container.streams.video[0]
        packets = [p for _, p in zip(range(50), container.demux(stream))]
        packets[0].pts = packets[0].dts = packets[1].dts = None
        for index, packet in enumerate(packets):
            recorder.on_packet(packet, stream, T0 + index * 0.04)
    recorder.close()
    [row] = recordings(tmp_path / "vigia.db")
    assert decode(tmp_path / row["path"]).frames == 50
    assert row["end"] - row["start"] == pytest.approx(2.0, abs=1e-3)


def test_segment_times_follow_the_stream_not_late_arrivals(gop_clip: Path, tmp_path: Path):
    """The first second arrives in one burst (as after RTSP probing), later packets up to 0.3 s late."""
    recorder = new_recorder(tmp_path, "late", mode="continuous", segment_seconds=4)
    with av.open(str(gop_clip)) as container:
        stream = container.streams.video[0]
        for index, packet in zip(range(250), container.demux(stream)):
            t = index * 0.04
            recorder.on_packet(packet, stream, T0 + max(t, 1.0) + (index % 7) * 0.05)
    recorder.close()

    rows = recordings(tmp_path / "vigia.db")
    assert [(row["start"] - T0, row["end"] - T0) for row in rows] == [
        (pytest.approx(0.0, abs=1e-6), pytest.approx(4.0, abs=1e-6)),
        (pytest.approx(4.0, abs=1e-6), pytest.approx(8.0, abs=1e-6)),
        (pytest.approx(8.0, abs=1e-6), pytest.approx(10.0, abs=1e-6)),
    ]


CRASHING_RECORDER = """
import sys, time
from pathlib import Path
from test_recording import feed, new_recorder
clip, data_dir, key, until = sys.argv[1:5]
recorder = new_recorder(Path(data_dir), "gate", bytes.fromhex(key) or None, mode="continuous")
feed(recorder, Path(clip), until=float(until))
print("ready", flush=True)
time.sleep(60)
"""


@pytest.mark.parametrize("encrypted", [False, True], ids=["plain", "encrypted"])
def test_crash_mid_segment_loses_about_a_second_whatever_the_keyframe_interval(demo_clip: Path, tmp_path: Path,
                                                                              encrypted: bool):
    key = load_or_create_key(tmp_path / "keys" / "media.key") if encrypted else None
    child = subprocess.Popen(  # the demo clip: keyframes at 0, 5.12 and 10.24 s
        [sys.executable, "-c", CRASHING_RECORDER, str(demo_clip), str(tmp_path), key.hex() if key else "", "9.0"],
        stdout=subprocess.PIPE, text=True, env={**os.environ, "PYTHONPATH": str(Path(__file__).parent)},
    )
    try:
        assert child.stdout.readline().strip() == "ready"
    finally:
        child.send_signal(signal.SIGKILL)  # 0..8.96 s of the first segment (10 s, to the keyframe at 10.24 s) fed
        child.wait()
        child.stdout.close()
    assert [row["state"] for row in recordings(tmp_path / "vigia.db")] == ["writing"]

    db = connect(tmp_path / "vigia.db")
    counts = reconcile(db, tmp_path, key)
    assert db.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
    db.conn.close()
    (row,) = recordings(tmp_path / "vigia.db")

    assert counts == {"completed": 1, "damaged": 0, "missing": 0, "orphans": 0} and row["state"] == "complete"
    path = tmp_path / row["path"]
    last = decode(path, key)
    # A fragment starts at each keyframe and at the first frame FRAGMENT_S (0.5 s) or more after the
    # fragment before: 13 frames (0.52 s) each, ... 7.72, 8.24, 8.76 s; 8.76..8.96 s was in progress. An
    # encrypted file also loses the fragment whose last bytes its writer held in its partial chunk.
    kept = 8.76 if not encrypted else 8.24
    assert last.frames == round(kept * 25) and last.first_is_key
    assert row["end"] - row["start"] == pytest.approx(kept, abs=1e-3)
    starts = fragment_starts(path, key)
    assert starts[:11] == pytest.approx([0.52 * i for i in range(10)] + [5.12])
    assert starts[-1] == pytest.approx(kept - 0.52) and max(b - a for a, b in zip(starts, starts[1:])) < 0.53
    assert row["bytes"] == path.stat().st_size
    if not encrypted:
        assert ffprobe_frames(path) == last.frames


def test_reconcile_removes_rows_without_files_and_files_without_rows(gop_clip: Path, tmp_path: Path):
    recorder = new_recorder(tmp_path, "hall", mode="continuous", segment_seconds=4)
    feed(recorder, gop_clip, until=5)
    recorder.close()
    kept = recordings(tmp_path / "vigia.db")
    db = connect(tmp_path / "vigia.db")
    db["recordings"].insert_all([
        {"id": "GONE", "camera": "hall", "kind": "clip", "path": "media/hall/2025-06-15/gone.mp4",
         "start": T0, "end": T0 + 5, "state": "complete"},
        {"id": "EMPTY", "camera": "hall", "kind": "segment", "path": "media/hall/2025-06-15/empty.mp4",
         "start": T0 + 5, "state": "writing"},
    ])
    db.execute("insert into events (id, camera, rule, kind, label, start, started_at, max_score, clip)"
               " values ('E1', 'hall', 'r', 'enter', 'person', 0, ?, 0.9, 'GONE')", [T0])
    (tmp_path / "media/hall/2025-06-15/empty.mp4").write_bytes(b"")  # the crash came before any byte
    stray = tmp_path / "media/other/2025-06-14/.clip.mp4.0123.tmp"
    stray.parent.mkdir(parents=True)
    stray.write_bytes(b"half a clip")

    counts = reconcile(db, tmp_path, None)

    assert counts == {"completed": 0, "damaged": 1, "missing": 1, "orphans": 1}
    rows = {row["id"]: row for row in db.query("select * from recordings")}
    assert set(rows) == {row["id"] for row in kept} | {"EMPTY"} and rows["EMPTY"]["state"] == "damaged"
    assert db.execute("select clip from events").fetchone()[0] is None
    assert not stray.parent.exists(), "the stray file and its emptied directory are gone"
    assert all((tmp_path / row["path"]).is_file() for row in kept)
    db.conn.close()


def test_export(continuous: Recording, tmp_path: Path):
    out = tmp_path / "export.mp4"
    args = (continuous.database, continuous.data_dir, continuous.key)

    with pytest.raises(ExportError, match="unknown camera 'attic'.*cameras with recordings: door"):
        export(*args, "attic", T0, T0 + 10, out)
    with pytest.raises(ExportError, match=r"no footage between .*\(its recordings span 2025-06-15T15:06:40"):
        export(*args, "door", T0 + 3600, T0 + 3660, out)
    with pytest.raises(ExportError, match="nothing to export"):
        export(*args, "door", T0 + 10, T0 + 5, out)
    with pytest.raises(ExportError, match="is not a directory"):
        export(*args, "door", T0 + 2, T0 + 12, tmp_path / "missing" / "export.mp4")
    assert export(*args, "door", T0 + 2, T0 + 12, out) == out

    assert out.read_bytes()[:4] != MAGIC, "exports are plain, whatever the footage at rest"
    assert ffprobe_frames(out) == decode(out).frames == 251
    assert [p.name for p in tmp_path.iterdir()] == ["export.mp4"], "no temporary file left"
