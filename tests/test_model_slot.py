"""The appliance's model slot without central: a model switched in between frames, kept on disk for a restart, and
rolled back by the device itself when the new model fails in its first seconds."""
from __future__ import annotations

import functools
import time
from pathlib import Path

import numpy as np
import pytest

from vigia.app.modelfleet import demo_frames, edited_model
from vigia.appliance.model_slot import ModelRefused, ModelSlot, active_model
from vigia.inference.factory import create_detector
from vigia.inference.swappable import SwappableDetector
from vigia.inference.types import DetectorInput


@pytest.fixture
def slot(tmp_path: Path, default_model: Path):
    opener = functools.partial(create_detector, "onnxruntime", score_threshold=0.3)
    detector = SwappableDetector(opener(default_model), "factory")
    slot = ModelSlot(detector, tmp_path / "model-slot", opener, default_model)
    yield slot
    slot.close()
    detector.close()


def test_a_model_is_switched_in_between_frames_and_named_for_the_next_start(slot, tmp_path, default_model, demo_clip):
    frames = demo_frames(demo_clip, slot.detector.input_size, count=3)
    before = slot.detector.detect(frames)
    new = edited_model(default_model, tmp_path / "new.onnx", class_scale=1.0)
    result = slot.install(new, "new-1", watch_s=60)
    assert result["model_id"] == "new-1" and result["previous"] == "factory"
    assert result["smoke_frames"] == 1  # one recent input in RECENT_EVERY (5) is kept: the first of these 3
    after = slot.detector.detect(frames)  # the next batch runs on the new model: same weights, same boxes
    assert [len(d) for d in after] == [len(d) for d in before] and sum(map(len, after)) > 0
    health = slot.detector.take_health()
    assert health["id"] == "new-1" and health["previous"] == "factory" and health["health"]["frames"] == 3
    assert health["health"]["detections_per_hour"]["person"] > 0 and health["health"]["errors"] == 0
    active = active_model(tmp_path / "model-slot")
    assert active.model_id == "new-1" and active.path.read_bytes() == new.read_bytes()


def test_the_device_rolls_back_on_its_own_when_the_new_model_fails_in_its_first_seconds(slot, tmp_path, default_model):
    new = edited_model(default_model, tmp_path / "new.onnx", class_scale=1.0)
    slot.install(new, "new-1", watch_s=0.5)
    wrong = DetectorInput(np.zeros((100, 100, 3), np.uint8), 1.0, (0.0, 0.0))  # not the model's input: it fails
    with pytest.raises(Exception):  # noqa: B017 - whatever the runtime raises, it is the model's error
        slot.detector.detect([wrong])
    deadline = time.monotonic() + 10
    while slot.events[-1]["action"] != "rolled_back" and time.monotonic() < deadline:  # noted after the switch back
        time.sleep(0.05)
    assert slot.detector.model_id == "factory"
    assert slot.events[-1]["action"] == "rolled_back" and "1 inference errors" in slot.events[-1]["reason"]
    assert active_model(tmp_path / "model-slot").model_id == "factory"


def test_a_model_of_another_input_shape_is_refused_and_nothing_changes(slot, tmp_path, default_model):
    small = edited_model(default_model, tmp_path / "small.onnx", input_size=320)
    with pytest.raises(ModelRefused, match="wrong input shape: the model takes 320x320"):
        slot.install(small, "small-1", watch_s=60)
    assert slot.detector.model_id == "factory" and active_model(tmp_path / "model-slot") is None
