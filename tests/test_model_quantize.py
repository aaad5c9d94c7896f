"""INT8 models: calibrated on a slice of the demo clip, checked against FP32, installed with their lineage or refused."""
from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import av
import numpy as np
import onnx
import pytest

from vigia.app.appliance import open_detector
from vigia.appliance.config import Config
from vigia.inference.agreement import Agreement, agreement, match
from vigia.inference.footage import FootageError, redact, sample
from vigia.inference.int8 import Footage, sample_footage
from vigia.inference.model_store import import_model, list_models, resolve
from vigia.inference.onnx_backend import OnnxDetector
from vigia.inference.onnx_model import load_model
from vigia.inference.types import Detections

MODEL_SHA256 = "695e750a5d5754bb5a8d5325643b59282191a7e7a564e435a415fd3c578eab14"  # MODELS.md
MODEL_SIZE = 3_660_092
PERSON_CAR = frozenset({0, 2})


@pytest.fixture(scope="module")
def clip_slice(demo_clip: Path, tmp_path_factory) -> Path:
    """The first 5 s of the demo clip, remuxed (no re-encoding) into an MP4 of its own."""
    out = tmp_path_factory.mktemp("footage") / "gate-5s.mp4"
    with av.open(str(demo_clip)) as src, av.open(str(out), "w") as dst:
        video = src.streams.video[0]
        stream = dst.add_stream_from_template(video)
        for packet in src.demux(video):
            if packet.dts is None:
                continue
            if packet.pts is not None and packet.pts * video.time_base > 5:
                break
            packet.stream = stream
            dst.mux(packet)
    return out


def quantize_command(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "vigia.app.cli.main", "--log-level", "warning", "models", "quantize",
                           *args], capture_output=True, text=True, timeout=300)


@pytest.fixture(scope="module")
def installed(clip_slice: Path, default_model: Path, tmp_path_factory):
    """`vigia models quantize --json` on the slice: 12 calibration frames, 8 others to check, in a fresh store."""
    store = tmp_path_factory.mktemp("store") / "models"
    import_model(store, default_model)
    done = quantize_command(str(clip_slice), "--store", str(store), "--frames", "12", "--check-frames", "8", "--json")
    assert done.returncode == 0, done.stderr
    printed = json.loads(done.stdout)  # one JSON object, nothing else on stdout
    (info,) = [m for m in list_models(store) if m.lineage]
    assert printed["model"]["sha256"] == info.sha256
    return store, info, Agreement(**printed["agreement"])


def test_footage_is_sampled_over_the_file_and_split_without_overlap(clip_slice: Path) -> None:
    calibration, checked = sample_footage(Footage([str(clip_slice)], calibration_frames=6, checked_frames=3), (416, 416))
    assert len(calibration) == 6 and len(checked) == 3
    times = sorted(s.time for s in calibration + checked)
    assert len(set(times)) == 9 and times[0] < 1.0 and times[-1] > 4.0  # spread over the 5 s
    assert not {s.time for s in calibration} & {s.time for s in checked}
    assert all(s.input.image.shape == (416, 416, 3) and s.input.image.dtype == np.uint8 for s in checked)
    first = calibration[0].input
    assert first.scale == pytest.approx(416 / 1280) and (first.image[300:, :] == 114).all()  # letterboxed


def test_unreadable_footage_is_named(tmp_path: Path) -> None:
    with pytest.raises(FootageError, match="cannot open .*missing.mp4"):
        sample(str(tmp_path / "missing.mp4"), 4, (416, 416))
    assert redact("rtsp://admin:secret@10.0.0.5:554/s1") == "rtsp://10.0.0.5:554/s1"


def test_agreement_matches_same_class_boxes() -> None:
    def dets(boxes, scores, classes):
        return Detections(np.array(boxes, np.float32).reshape(-1, 4), np.array(scores, np.float32),
                          np.array(classes, np.int32))

    ref = dets([[0, 0, 10, 10], [20, 20, 40, 40], [50, 50, 60, 60]], [0.9, 0.8, 0.5], [0, 0, 2])
    cand = dets([[1, 1, 10, 10], [50, 50, 60, 60], [100, 100, 110, 110]], [0.85, 0.6, 0.4], [0, 0, 2])
    assert [(r, c) for r, c, _ in match(ref, cand)] == [(0, 0)]  # the third box differs in class
    result = agreement([ref], [cand])
    assert result.matched == 1 and result.recall == pytest.approx(1 / 3) and result.precision == pytest.approx(1 / 3)
    assert result.mean_score_delta == pytest.approx(0.05, abs=1e-6)
    assert agreement([ref], [ref]).recall == 1.0


def test_int8_model_is_stored_valid_with_its_lineage(installed, clip_slice: Path) -> None:
    store, info, result = installed
    assert info.name == "yolox_nano-int8" and info.path.is_file()
    assert info.input_shape == [1, 3, 416, 416] and info.output_shape == [1, 3549, 85]
    model, spec = load_model(info.path)  # the store's validation, again
    assert spec.num_classes == 80
    ops = {node.op_type for node in model.graph.node}
    assert {"QuantizeLinear", "DequantizeLinear"} <= ops
    assert any(init.data_type == onnx.TensorProto.INT8 for init in model.graph.initializer)
    assert info.size < 0.5 * MODEL_SIZE  # 8-bit weights

    lineage = info.lineage
    assert lineage.base_name == "yolox_nano" and lineage.base_sha256 == MODEL_SHA256
    assert lineage.calibration_sources == [str(clip_slice)]
    assert lineage.calibration_frames == 12 and lineage.checked_frames == 8
    assert "QDQ" in lineage.method and "per-channel" in lineage.method
    # The comparison's numbers exist and are sane (not a timing: the model and frames are fixed).
    assert result.images == 8 and result.reference_boxes >= 40  # people and cars in every frame
    assert 0.8 <= result.recall <= 1.0 and 0.8 <= result.precision <= 1.0
    assert 0 < result.mean_score_delta <= 0.1 and result.mean_iou >= 0.8
    assert lineage.metrics["recall"] == round(result.recall, 4)
    sidecar = json.loads(info.path.with_suffix(".json").read_text())
    assert sidecar["lineage"]["base_sha256"] == MODEL_SHA256 and sidecar["lineage"]["metrics"]["matched"] == result.matched
    assert {m.name for m in list_models(store)} == {"yolox_nano", "yolox_nano-int8"}  # read back from the sidecars


def test_config_selects_it_and_the_onnx_back_end_runs_it(installed, demo_clip: Path, tmp_path: Path) -> None:
    store, info, _ = installed
    assert resolve(store, "yolox_nano-int8") == info.path
    config = Config.model_validate({
        "cameras": [{"url": str(demo_clip)}],
        "detector": {"model": "yolox_nano-int8", "backend": "onnxruntime", "classes": ["person", "car"]},
        "storage": {"data_dir": str(store.parent)},
    })
    frames = [s.input for s in sample(str(demo_clip), 3, (416, 416))]
    int8 = open_detector(config)
    fp32 = OnnxDetector(resolve(store, "yolox_nano"), classes=set(PERSON_CAR))
    try:
        assert int8.name == "onnxruntime"
        found, reference = int8.detect(frames), fp32.detect(frames)
    finally:
        int8.close()
        fp32.close()
    assert agreement(reference, found).recall >= 0.8
    assert all(set(d.class_ids.tolist()) <= PERSON_CAR for d in found)  # the config's classes


def test_a_threshold_too_high_refuses_the_model(clip_slice: Path, default_model: Path, tmp_path: Path) -> None:
    store = tmp_path / "models"
    done = quantize_command(str(clip_slice), "--model", str(default_model), "--store", str(store), "--frames", "6",
                            "--check-frames", "4", "--calibration", "minmax", "--min-recall", "1.01")
    assert done.returncode == 2, done.stderr
    message = done.stderr.strip().splitlines()[-1]
    assert message.startswith("vigia: INT8 model of yolox_nano not installed"), message
    assert "recall" in message and "not installed: on 4 held-out frames it found" in message and "(needs >= 1.01)" in message
    assert list_models(store) == [] and not list(store.glob("*.onnx"))  # nothing left behind


def test_quantize_without_footage_says_what_is_missing(tmp_path: Path) -> None:
    done = subprocess.run([sys.executable, "-m", "vigia.app.cli.main", "models", "quantize", "--store", str(tmp_path)],
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 2 and "no footage: give video files or camera URLs" in done.stderr

