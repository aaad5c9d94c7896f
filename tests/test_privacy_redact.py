"""Export for disclosure: recorded footage with every person hidden on every frame, or all but a chosen one.

Footage is recorded by the appliance's own recorder from a small cut of the demo clip (416x234, so the whole frame
is the detector's only view and the tests stay quick); the check is the one `vigia bench privacy` makes: the
detector, at a score of 0.5, finds persons in the original frames and none (or only the kept one) in the redacted.
"""
from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import av
import numpy as np
import pytest

from tests.test_recording import T0, encode, feed, new_recorder
from vigia.app.cli.main import main as vigia
from vigia.appliance.privacy.disclosure import sha256_of, subject_tracks
from vigia.appliance.privacy.redact import (
    RedactionError,
    RedactionSettings,
    decoded_frames,
    plan_redaction,
    track_boxes,
    write_redacted,
)
from vigia.appliance.recording.export import export
from vigia.appliance.storage import database
from vigia.inference.factory import create_detector
from vigia.inference.preprocess import letterbox
from vigia.scene.events import Event, new_event_id

SECONDS = 4.0


@pytest.fixture(scope="module")
def footage(demo_clip: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A data directory whose camera "door" recorded 4 s of the demo crowd at 416x234 (plain, continuous)."""
    data_dir = tmp_path_factory.mktemp("disclosure")
    clip = encode(demo_clip, data_dir / "cut.ts", "scale=416:234", SECONDS)
    recorder = new_recorder(data_dir, "door", None, mode="continuous", segment_seconds=2)
    feed(recorder, clip)
    recorder.close()
    return data_dir


@pytest.fixture(scope="module")
def plain(footage: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    return export(footage / "vigia.db", footage, None, "door", T0, T0 + SECONDS, tmp_path_factory.mktemp("plain") / "p.mp4")


@pytest.fixture(scope="module")
def checker(default_model: Path):
    return create_detector("onnxruntime", default_model, score_threshold=0.5)


def persons(checker, path: Path) -> list[np.ndarray]:
    """Per frame, the boxes of persons the detector finds at a score of 0.5 or more."""
    found = []
    for frame, _t in decoded_frames(path):
        detections = checker.detect([letterbox(frame.to_ndarray(format="bgr24"), checker.input_size)])[0]
        found.append(detections.boxes[(detections.class_ids == 0) & (detections.scores >= 0.5)])
    return found


def test_a_redacted_export_hides_every_person_and_says_what_it_is(footage: Path, plain: Path, checker,
                                                                  default_model: Path, tmp_path: Path):
    config = tmp_path / "vigia.yml"
    config.write_text(f"storage: {{data_dir: {footage}, encrypt: false}}\ndetector: {{model: {default_model}}}\n")
    out = tmp_path / "for-police.mp4"
    assert vigia(["export", str(out), "--camera", "door", "--from", str(T0), "--to", str(T0 + SECONDS),
                  "--redact", "persons", "--by", "dpo-ana", "-c", str(config)]) == 0
    before, after = persons(checker, plain), persons(checker, out)
    assert sum(map(len, before)) > 50, "the cut has people to hide"
    assert sum(map(len, after)) == 0
    assert len(after) == len(before), "every frame is there"
    with av.open(str(out)) as container:
        stream = container.streams.video[0]
        assert (stream.codec_context.name, stream.width, stream.height) == ("h264", 416, 234)
    manifest = json.loads(out.with_name(out.name + ".manifest.json").read_text())
    assert manifest["output"]["sha256"] == sha256_of(out) and manifest["output"]["size"] == out.stat().st_size
    assert manifest["source"]["sha256"] == sha256_of(plain), "the same footage the plain export gives"
    assert manifest["redacted"] == ["persons"] and manifest["requested_by"] == "dpo-ana"
    assert manifest["model"]["sha256"] == sha256_of(default_model) and manifest["frames"] == len(before)
    with database(footage / "vigia.db") as db:
        action, username, target, details = db.execute(
            "select action, username, target, details from audit_log order by id desc limit 1").fetchone()
    assert (action, username, target) == ("export_redacted", "dpo-ana", "door")
    assert json.loads(details)["redact"] == ["persons"]


def test_the_person_of_a_chosen_event_stays_visible_and_no_one_else(plain: Path, checker, default_model: Path,
                                                                    tmp_path: Path):
    detector = create_detector("onnxruntime", default_model, score_threshold=0.1)
    settings = RedactionSettings()
    plan = plan_redaction(plain, detector, settings)
    subject = max(plan.tracks.values(), key=lambda track: len(track.seen))
    width, height = plan.frame_size
    started = T0 + plan.times[subject.first]
    path = [(plan.times[i] - plan.times[subject.first], (b[0] + b[2]) / 2 / width, b[3] / height)
            for i, b in subject.seen[::5]]
    event = Event(id=new_event_id(started), camera="door", rule="r", kind="enter", zone=None, label="person",
                  track_id=1, start=0.0, started_at=started, max_score=0.9, box=(0, 0, 1, 1), path=path)
    kept = subject_tracks(plan, [event], T0)
    assert subject.id in kept and len(kept) <= 2
    out = write_redacted(plain, plan, RedactionSettings(keep_tracks=frozenset(kept)), tmp_path / "kept.mp4",
                         verifier=detector).path
    boxes = {index: box for track in kept for index, box in track_boxes(plan.tracks[track], 0, plan.frames)}
    found = persons(checker, out)
    near = lambda index, b: index in boxes and _iou(b, boxes[index]) > 0.3  # noqa: E731
    assert sum(near(i, b) for i, frame in enumerate(found) for b in frame) > len(subject.seen) // 3, "the subject is seen"
    assert sum(not near(i, b) for i, frame in enumerate(found) for b in frame) == 0, "no one else is"


def test_what_is_not_a_video_gets_a_clear_error(default_model: Path, tmp_path: Path):
    bogus = tmp_path / "not-a-video.mp4"
    bogus.write_bytes(b"no video here")
    detector = create_detector("onnxruntime", default_model, score_threshold=0.1)
    with pytest.raises(RedactionError, match="cannot open"):
        plan_redaction(bogus, detector, RedactionSettings())
    with pytest.raises(ValueError, match="choose from persons, faces, plates"):
        RedactionSettings(targets=frozenset({"pets"}))
    bad = subprocess.run([sys.executable, "-m", "vigia.app.cli.main", "export", str(tmp_path / "x.mp4"), "--camera",
                          "door", "--from", "0", "--to", "1", "--redact", "pets"], capture_output=True, text=True)
    assert bad.returncode == 2 and "a comma-separated choice of persons, faces, plates" in bad.stderr


def _iou(a, b) -> float:
    w = max(0.0, min(a[2], b[2]) - max(a[0], b[0]))
    h = max(0.0, min(a[3], b[3]) - max(a[1], b[1]))
    union = (a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - w * h
    return w * h / union if union > 0 else 0.0
