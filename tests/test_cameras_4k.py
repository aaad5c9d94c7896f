"""4K cameras as installers meet them: FFmpeg-made streams (vigia.app.bench.camera_media, cached between runs)
served over RTSP by the tests' GStreamer server, a main stream and its sub-stream as two paths of one camera."""
from __future__ import annotations

import os
import threading
from pathlib import Path

import av
import pytest
from support.servers import free_port, start_rtsp_server
from support.waiting import wait_for

from tests.conftest import shared_dir
from vigia.app.appliance import Appliance
from vigia.app.bench.camera_media import PROFILES, make_clip
from vigia.appliance.cameras import CameraSource
from vigia.appliance.config import ConfigError, parse_config
from vigia.appliance.encryption import open_media
from vigia.appliance.storage import connect


@pytest.fixture(scope="session")
def traffic_clip() -> Path:
    path = shared_dir() / "media" / "traffic-720p.mp4"
    assert path.is_file(), f"shared clip missing: {path}"
    return path


def camera(traffic_clip: Path, profile: str) -> tuple[Path, Path | None]:
    """The (main, sub) files of a test camera, made once and cached."""
    main, sub = PROFILES[profile]
    return make_clip(traffic_clip, main), make_clip(traffic_clip, sub) if sub else None


def streams_of(path: Path, key: bytes) -> tuple[str, int, int, int]:
    """(codec, width, height, frames) of a recorded file."""
    with open_media(path, key) as media, av.open(media) as container:
        stream = container.streams.video[0]
        return (stream.codec_context.name, stream.codec_context.width, stream.codec_context.height,
                sum(1 for _ in container.demux(stream) if _.size))


def test_a_sub_stream_in_the_config_with_clear_errors():
    config = parse_config("""
cameras:
  - name: gate
    url: rtsp://10.0.0.5/main
    detect: {url: "rtsp://10.0.0.5/sub", fps: 5}
""")
    assert (config.cameras[0].detect_url, config.cameras[0].record_url) == ("rtsp://10.0.0.5/sub", "rtsp://10.0.0.5/main")
    plain = parse_config("cameras:\n  - url: rtsp://10.0.0.5/main\n").cameras[0]
    assert (plain.detect_url, plain.record_url) == ("rtsp://10.0.0.5/main", None)  # recording taps the analysed one
    with pytest.raises(ConfigError) as wrong:
        parse_config("""
cameras:
  - name: gate
    url: rtsp://10.0.0.5/main
    detect:
      url: http://10.0.0.5/sub
""")
    assert [str(i) for i in wrong.value.issues] == [
        "line 6: cameras[0].detect.url: url must be rtsp://..., a file path or a V4L2 device (/dev/videoN)"]
    with pytest.raises(ConfigError) as wrong:
        parse_config("""
cameras:
  - name: yard
    url: rtsp://10.0.0.6/main
    detect: {url: "rtsp://10.0.0.6/sub"}
    record: {url: "rtsp://10.0.0.6/other"}
  - name: door
    url: rtsp://10.0.0.7/main
    detect: {url: "rtsp://10.0.0.7/main"}
""")
    assert [str(i) for i in wrong.value.issues] == [
        "line 6: cameras[0].record.url: detect.url and record.url both name a second stream: with detect.url "
        "(the sub-stream) `url` is the main stream, recorded; remove record.url",
        "line 9: cameras[1].detect.url: the same stream as `url`: give the camera's sub-stream, or leave detect.url out"]


@pytest.mark.slow
def test_a_4k_camera_is_analysed_on_its_sub_stream_and_its_main_stream_recorded_by_remux(
        traffic_clip, default_model, tmp_path):
    main, sub = camera(traffic_clip, "4k30-h264-bframes")
    port = free_port()
    config = parse_config(f"""
cameras:
  - name: gate
    url: rtsp://127.0.0.1:{port}/main
    detect: {{url: "rtsp://127.0.0.1:{port}/sub"}}
    zones:
      - {{name: road, polygon: [[0, 0], [1, 0], [1, 1], [0, 1]]}}
    record: {{mode: continuous, segment_seconds: 2}}
detector:
  model: {default_model}
storage:
  data_dir: {tmp_path}
""")
    threads_before = threading.active_count()
    with start_rtsp_server(main, port=port, path="main", more={"sub": sub}):
        appliance = Appliance(config)
        try:
            appliance.start()
            assert wait_for(lambda: getattr(appliance.statuses.get("gate-main"), "state", None) == "online", 30)
            db = connect(tmp_path / "vigia.db")
            complete = lambda: db.execute(  # noqa: E731
                "select path from recordings where camera = 'gate' and kind = 'segment' and state = 'complete'"
            ).fetchall()
            assert wait_for(lambda: len(complete()) >= 2, 60)
            assert wait_for(lambda: db.execute("select count(*) from events where camera = 'gate'").fetchone()[0], 60)
            pipeline = appliance.pipelines["gate"]
            assert pipeline._frame_size == (640, 360)  # detection decoded the sub-stream only
            snapshot = db.execute("select snapshot from events where snapshot is not null").fetchone()
        finally:
            appliance.stop()
    key = (tmp_path / "keys" / "media.key").read_bytes()
    recorded = [streams_of(tmp_path / path, key) for (path,) in complete()]
    assert {r[:3] for r in recorded} == {("h264", 3840, 2160)}  # the main stream, remuxed as the camera sent it
    assert max(r[3] for r in recorded) >= 55  # a whole 2 s segment at 30 fps, B-frames and all
    assert snapshot is not None
    assert wait_for(lambda: threading.active_count() <= threads_before, 10)


@pytest.mark.slow
def test_decoding_behind_a_4k60_h265_camera_drops_analysis_never_recording(traffic_clip):
    """The analysis stalls (a busy box) for longer than detect.max_lag_s: the camera's packets pile up; decoding
    then takes keyframes only until it is back in step with the camera, while every packet still reaches recording."""
    main, _ = camera(traffic_clip, "4k60-h265")
    packets: list[float] = []  # stream times of the packets recording got
    statuses = []
    frames = []
    stop = threading.Event()
    stall = threading.Event()  # never set: its timeout is the stall
    with start_rtsp_server(main, path="main") as server:
        source = CameraSource("gate", server.url, max_lag_s=0.5, on_status=statuses.append,
                              on_packet=lambda packet, stream, _wall: packets.append(float(packet.dts * stream.time_base))
                              if packet.dts is not None else None)
        for decoded in source.frames(stop):
            frames.append(decoded)
            if len(frames) == 5:
                stall.wait(1.5)
            if any(s.behind for s in statuses) and not statuses[-1].behind:
                break  # caught up (the test server does not keep a client that stays behind for long)
            assert decoded.pts - frames[0].pts < 30, "decoding never fell behind and caught up"
        stop.set()
    assert frames[0].frame.width == 3840 and frames[0].frame.format.name == "yuv420p"
    assert source.status.frames_undecoded > 0
    assert 0 < sum(f.undecoded_before for f in frames) <= source.status.frames_undecoded
    assert source.status.reconnects == 0
    # Recording got every packet: 60 a second of stream time, none missing.
    span = packets[-1] - packets[0]
    assert len(packets) >= 0.98 * span * 60
    gaps = [b - a for a, b in zip(packets, packets[1:])]
    assert max(gaps) < 2.5 / 60


def test_the_playable_cache_drops_orphans_then_the_least_recently_played(tmp_path):
    from vigia.appliance.recording.playable import evict

    cache = tmp_path / "cache" / "playable"
    cache.mkdir(parents=True)
    clips = tmp_path / "media" / "gate" / "clips"
    clips.mkdir(parents=True)
    copies = []
    for age, name in enumerate(["a", "b", "c", "gone"]):
        if name != "gone":
            (clips / f"{name}.mp4").write_bytes(b"x")
        copy = cache / f"media~gate~clips~{name}.mp4.h264.mp4"
        copy.write_bytes(b"y" * 1000)
        os.utime(copy, (1000 - age * 10, 1000 - age * 10))  # a: played last
        copies.append(copy)
    deleted = evict(cache, tmp_path, max_bytes=2500, keep=copies[2])
    assert sorted(p.name for p in deleted) == sorted([copies[3].name, copies[1].name])  # the orphan, then the oldest
    assert sorted(p.name for p in cache.iterdir()) == sorted([copies[0].name, copies[2].name])


def test_catching_up_keeps_keyframes_then_none_and_resumes_at_a_keyframe():
    from vigia.appliance.cameras import _CatchUp

    catch_up = _CatchUp(max_lag_s=1.0)
    # 10 fps, a keyframe a second; read in step for 2 s, then 1.5 s late (a stall), 2.5 s late (a longer one),
    # then fast enough to catch up.
    read = [(i / 10, i % 10 == 0, 100 + i / 10) for i in range(20)]
    read += [(i / 10, i % 10 == 0, 100 + 1.5 + i / 10) for i in range(20, 25)]
    read += [(i / 10, i % 10 == 0, 100 + 2.5 + 2.5 + (i - 25) * 0.05) for i in range(25, 90)]
    modes = [catch_up.update(t, key, now) for t, key, now in read]
    assert set(modes[:20]) == {"DEFAULT"}
    assert set(modes[20:25]) == {"NONKEY"}  # 1.5 s behind: keyframes only
    assert modes[25] == "ALL"  # 2.5 s behind: not even keyframes
    first_again = modes.index("DEFAULT", 25)
    assert read[first_again][1] and set(modes[25:first_again]) <= {"ALL", "NONKEY"}
    assert set(modes[first_again:]) == {"DEFAULT"}
