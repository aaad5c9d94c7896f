"""Privacy masks: a polygon of the demo crowd's picture is never analysed and black wherever a person sees the
camera: the detector's input and the live view (the analysed frame), snapshots (and so thumbnails), exports and
event clips (what the UI plays and what is queued for central, where re-analysis reads it).

Pixel checks on real frames of the demo clip: inside the mask (a few pixels in from its edge, where the encoder
may blur the border) everything is black; outside, the picture is the camera's.
"""
from __future__ import annotations

import threading
from fractions import Fraction
from pathlib import Path

import av
import cv2
import numpy as np
import pytest

from tests.test_recording import T0, encode, feed, new_recorder
from tests.test_sync_outbox import make_event
from vigia.app.cli.main import main as vigia
from vigia.appliance.cameras import CameraSource
from vigia.appliance.config import ConfigError, Record, parse_config, with_layout
from vigia.appliance.demo import demo_config_text
from vigia.appliance.metrics import Metrics
from vigia.appliance.pipeline import CameraPipeline
from vigia.appliance.privacy.masks import Masker, mask_video
from vigia.appliance.recording.event_clips import event_clip
from vigia.appliance.recording.export import export
from vigia.appliance.snapshots import SnapshotWriter
from vigia.appliance.storage import EventWriter, database
from vigia.inference.factory import create_detector
from vigia.inference.pool import DetectorPool
from vigia.inference.preprocess import letterbox
from vigia.local_ui.live import encode_jpeg
from vigia.sync.media import MediaSource, queue_clip

MASK = [(0.0, 0.0), (0.3, 0.0), (0.3, 1.0), (0.0, 1.0)]   # the left third of the concourse, where people walk
KEY = bytes(range(32))
SECONDS = 3.0


def inside(image: np.ndarray, margin: int = 4) -> np.ndarray:
    """The pixels of `image` well inside MASK."""
    return image[margin:-margin, margin:round(0.3 * image.shape[1]) - margin]


def outside(image: np.ndarray, margin: int = 4) -> np.ndarray:
    return image[margin:-margin, round(0.3 * image.shape[1]) + margin:]


def assert_masked(bgr: np.ndarray, black: int = 30) -> None:
    assert inside(bgr).max() <= black, f"a masked pixel is {inside(bgr).max()}, not black"


@pytest.fixture(scope="module")
def detector(default_model: Path):
    det = create_detector("onnxruntime", default_model)
    yield det
    det.close()


@pytest.fixture(scope="module")
def cut(demo_clip: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    return encode(demo_clip, tmp_path_factory.mktemp("masks") / "cut.ts", "scale=640:360", 4.0)


@pytest.fixture(scope="module")
def masked_run(cut: Path, detector, tmp_path_factory: pytest.TempPathFactory):
    """The demo camera with MASK, through the appliance's pipeline: analysed frames, tracks, events, snapshots."""
    data_dir = tmp_path_factory.mktemp("run")
    config = parse_config(demo_config_text(cut, data_dir, 0))
    camera = config.cameras[0].model_copy(update={
        "realtime": False, "loop": False,
        "privacy_masks": with_layout(config.cameras[0], {"zones": [], "lines": [], "rules": [], "privacy_masks": [
            {"name": "bystanders", "polygon": MASK}]}).privacy_masks})
    frames, centres, changes = [], [], []
    pool = DetectorPool(detector, workers=1)
    snapshots = SnapshotWriter().start()
    pipeline = CameraPipeline(
        camera=camera, pool=pool, input_size=detector.input_size, class_names=detector.class_names,
        kept_classes=config.detector.classes, metrics=Metrics.create(), on_change=changes.append,
        on_tracks=lambda t, update: centres.extend((t.box[0] + t.box[2]) / 2 for t in update.active),
        on_frame=lambda decoded, update: frames.append(decoded.frame), snapshots=snapshots, data_dir=data_dir,
        drop_when_behind=False)
    try:
        pipeline.run(CameraSource(camera.name, camera.url, loop=False, realtime=False).frames(threading.Event()))
    finally:
        pool.close()
        snapshots.stop()
        snapshots.join()
    return frames, centres, changes, data_dir


def test_a_mask_is_black_in_the_analysed_frames_and_the_live_view(masked_run, cut: Path):
    frames, _centres, _changes, _ = masked_run
    assert len(frames) >= 15
    with av.open(str(cut)) as container:
        original = next(container.decode(video=0)).to_ndarray(format="bgr24")
    first = frames[0].to_ndarray(format="bgr24")
    assert inside(original).mean() > 60, "the demo's left third is not dark of itself"
    assert_masked(first)
    assert np.abs(outside(first).astype(int) - outside(original)).mean() < 2, "outside the mask, the camera's picture"
    for frame in frames:   # what the live view and the zone editor's frame encode
        live = cv2.imdecode(np.frombuffer(encode_jpeg(frame, 640), np.uint8), cv2.IMREAD_COLOR)
        assert_masked(live)


def test_nothing_in_a_mask_is_detected(masked_run, cut: Path, detector):
    _frames, centres, _changes, _ = masked_run
    with av.open(str(cut)) as container:
        bgr = next(container.decode(video=0)).to_ndarray(format="bgr24")
    found = detector.detect([letterbox(bgr, detector.input_size)])[0]
    people = found.boxes[found.class_ids == 0]
    assert ((people[:, 0] + people[:, 2]) / 2 < 0.3 * 640).sum() >= 2, "unmasked, people are found in the left third"
    assert centres, "people outside the mask are tracked"
    assert min(centres) >= 0.3 * 640 - 8, "a track's centre in the mask"


def test_snapshots_and_so_thumbnails_are_masked(masked_run):
    _frames, _centres, changes, data_dir = masked_run
    snapshots = {c.event.snapshot for c in changes if c.event.snapshot}
    assert snapshots, "the demo's rules opened events"
    for relative in snapshots:
        image = cv2.imread(str(data_dir / relative))
        # the object's amber box may reach into the mask: all but those few pixels are black
        assert (inside(image).max(axis=2) <= 30).mean() > 0.98


def test_a_masked_layout_is_validated_and_kept_when_a_layout_leaves_it_out(masked_run, cut: Path, tmp_path: Path):
    camera = parse_config(demo_config_text(cut, tmp_path, 0)).cameras[0]
    masked = with_layout(camera, {"zones": [], "lines": [], "rules": [],
                                  "privacy_masks": [{"name": "window", "polygon": MASK}]})
    assert [m.name for m in with_layout(masked, {"zones": [], "lines": [], "rules": []}).privacy_masks] == ["window"]
    assert with_layout(masked, {"zones": [], "lines": [], "rules": [], "privacy_masks": []}).privacy_masks == []
    with pytest.raises(ConfigError) as error:
        with_layout(camera, {"zones": [], "lines": [], "rules": [],
                             "privacy_masks": [{"name": "w", "polygon": [[0, 0], [1, 1]]}]})
    assert "privacy_masks[0].polygon" in str(error.value)


@pytest.fixture(scope="module")
def footage(demo_clip: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A data directory whose camera "door" recorded 3 s of the demo crowd at 416x234, encrypted, continuous."""
    data_dir = tmp_path_factory.mktemp("footage")
    clip = encode(demo_clip, data_dir / "cut.ts", "scale=416:234", SECONDS)
    recorder = new_recorder(data_dir, "door", KEY, mode="continuous", segment_seconds=2)
    feed(recorder, clip)
    recorder.close()
    return data_dir


def frames_of(media) -> list[np.ndarray]:
    with av.open(media) as container:
        return [frame.to_ndarray(format="bgr24") for frame in container.decode(video=0)]


def test_an_export_is_reencoded_masked_and_the_recording_is_untouched(footage: Path, tmp_path: Path):
    segments = {p: p.read_bytes() for p in footage.glob("media/door/**/*.mp4")}
    plain = export(footage / "vigia.db", footage, KEY, "door", T0, T0 + SECONDS, tmp_path / "plain.mp4")
    masked = export(footage / "vigia.db", footage, KEY, "door", T0, T0 + SECONDS, tmp_path / "masked.mp4", [MASK])
    before, after = frames_of(str(plain)), frames_of(str(masked))
    assert len(after) == len(before) >= 70
    for a, b in zip(before, after):
        assert_masked(b)
        assert np.abs(outside(a).astype(int) - outside(b)).mean() < 4
    assert inside(before[0]).mean() > 60
    with av.open(str(masked)) as container:
        assert container.streams.video[0].codec_context.name == "h264"
        assert float(container.metadata["vigia_start"]) == pytest.approx(T0, abs=0.1)
    assert {p: p.read_bytes() for p in footage.glob("media/door/**/*.mp4")} == segments, "segments stay as recorded"
    assert not list(tmp_path.glob(".*")), "no unmasked copy left behind"


def test_an_event_clip_queued_for_central_is_masked_and_encrypted(footage: Path):
    event = make_event(T0 + 1)
    event.camera, event.end, event.ended_at = "door", event.start + 1, T0 + 2
    writer = EventWriter(footage / "vigia.db", outbox=True, linger_s=0.01).start()
    writer.put(event)
    writer.close()
    record = Record(mode="continuous", pre_roll=1, post_roll=1)
    with database(footage / "vigia.db") as db:
        relative = queue_clip(db.conn, footage / "vigia.db", MediaSource(footage, KEY), event.id, record, [MASK])
        queued = db.execute("select json_extract(body, '$.path') from outbox where kind = 'clip' and key = ?",
                            [event.id]).fetchone()
    assert queued == (relative,)
    clip = footage / relative
    assert clip.read_bytes()[:4] == b"VGM1", "encrypted at rest like all media"
    from vigia.appliance.encryption import open_media

    with open_media(clip, KEY) as media:
        frames = frames_of(media)
    assert len(frames) >= 50
    for frame in frames:
        assert_masked(frame)
    # what the UI plays is the same kept clip
    assert event_clip(footage / "vigia.db", footage, KEY, event.id, record, [MASK]) == clip


def test_masking_a_frame_leaves_the_decoders_frame_alone(cut: Path):
    with av.open(str(cut)) as container:
        frame = next(container.decode(video=0))
        before = frame.to_ndarray().copy()
        painted = Masker([MASK], (frame.width, frame.height)).paint_frame(frame)
        assert np.array_equal(frame.to_ndarray(), before)
        assert painted.pts == frame.pts
        assert_masked(painted.to_ndarray(format="bgr24"))


def test_the_cli_export_paints_the_masks_the_ui_saved(footage: Path, tmp_path: Path):
    from vigia.appliance.camera_store import save_layout

    save_layout(footage / "vigia.db", "door", {"zones": [], "lines": [], "rules": [],
                                                "privacy_masks": [{"name": "m", "polygon": MASK}]}, "installer")
    config = tmp_path / "vigia.yml"
    config.write_text(f"storage: {{data_dir: {footage}, encrypt: true}}\n")
    key_file = parse_config(config.read_text()).storage.media_key
    key_file.parent.mkdir(mode=0o700, exist_ok=True)
    key_file.write_bytes(KEY)
    key_file.chmod(0o600)
    out = tmp_path / "cli.mp4"
    try:
        assert vigia(["export", str(out), "--camera", "door", "--from", str(T0), "--to", str(T0 + SECONDS),
                      "-c", str(config)]) == 0
    finally:
        key_file.unlink()
    for frame in frames_of(str(out)):
        assert_masked(frame)


def test_frames_at_irregular_times_are_all_reencoded_masked(tmp_path: Path):
    """A camera's frames need not fall on its nominal rate (here 25 fps, with frames 20 ms apart among them): each
    is re-encoded at its own time, none merged or dropped."""
    times = [0, 20, 60, 100, 120, 160, 200, 220, 260, 300, 340, 360, 400, 440, 460, 500]
    source = tmp_path / "irregular.mp4"
    with av.open(str(source), "w", format="mp4") as output:
        stream = output.add_stream("libx264", rate=25, options={"preset": "ultrafast", "bf": "0"})
        stream.width, stream.height, stream.pix_fmt = 128, 72, "yuv420p"
        stream.time_base = stream.codec_context.time_base = Fraction(1, 1000)
        for t in times:
            frame = av.VideoFrame.from_ndarray(np.full((72, 128, 3), 200, np.uint8), format="bgr24")
            frame.pts, frame.time_base = t, Fraction(1, 1000)
            output.mux(stream.encode(frame))
        output.mux(stream.encode(None))
    out = mask_video(source, None, tmp_path / "masked.mp4", [MASK], encrypt=False)
    with av.open(str(out)) as container:
        decoded = list(container.decode(video=0))
        base = container.streams.video[0].time_base
    assert [round(float(f.pts * base) * 1000) for f in decoded] == times
    for frame in decoded:
        assert_masked(frame.to_ndarray(format="bgr24"))
