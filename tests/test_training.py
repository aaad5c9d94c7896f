"""Central's training: the ONNX graph in PyTorch, the YOLOX loss, real fine-tuning on frames of the demo clip, the
exported model's contract, and the gate rejecting a bad candidate."""
from __future__ import annotations

import asyncio
import hashlib
import json
import os
import subprocess
import sys
import uuid
from datetime import datetime, timezone

import boto3
import cv2
import numpy as np
import onnx
import onnxruntime as ort
import psycopg
import pytest
import torch
from onnx import numpy_helper
from psycopg.types.json import Jsonb

from tests.support.s3 import moto_s3
from vigia.app.devstack import temporary_database
from vigia.central.migrations import migrate
from vigia.central.reanalysis import datasets
from vigia.central.reanalysis.hard_examples import Example
from vigia.central.training.data import DatasetError, coco_samples, flipped, replay_samples, split_by_time, write_coco
from vigia.central.training.evaluate import GateSettings, Metrics, frames_of, gate, measure
from vigia.central.training.graph import OnnxNet, head_sigmoids, with_weights
from vigia.central.training.train import TrainConfig, fine_tune
from vigia.central.training.yolox_loss import YoloxLoss
from vigia.inference.factory import create_detector
from vigia.inference.model_store import import_model
from vigia.inference.onnx_model import load_model, parse_model
from vigia.inference.preprocess import letterbox

START = datetime(2026, 1, 1, tzinfo=timezone.utc)


def test_the_graph_runs_in_torch_as_onnx_runtime_runs_it(default_model):
    model = onnx.load(str(default_model))
    image = np.random.default_rng(0).integers(0, 255, (1, 3, 416, 416)).astype(np.float32)
    expected = ort.InferenceSession(str(default_model)).run(None, {"images": image})[0]
    with torch.no_grad():
        scores = OnnxNet(model)(torch.from_numpy(image)).numpy()
        logits = OnnxNet(model, logits=True)(torch.from_numpy(image)).numpy()
    assert np.abs(scores - expected).max() < 1e-3
    assert np.abs(1 / (1 + np.exp(-logits[..., 4:])) - expected[..., 4:]).max() < 1e-3
    assert len(head_sigmoids(model)) == 6  # objectness and classes at each of the three strides


def test_simota_takes_anchors_near_the_box_and_a_right_prediction_costs_less():
    loss = YoloxLoss(num_classes=3, input_size=(128, 128))
    gt = torch.tensor([[1.0, 64.0, 64.0, 40.0, 30.0]])  # class 1, centre (64, 64), 40x30
    raw = torch.zeros(1, len(loss.grid), 8)
    raw[..., 4:] = -4.0
    fg, index, ious = loss.assign(gt, loss.decode(raw)[0], raw[0, :, 4], raw[0, :, 5:])
    centres = (loss.grid[fg] + 0.5) * loss.strides[fg, None]
    assert fg.sum() >= 1 and (index == 0).all() and (ious > 0).all()
    assert ((centres - gt[0, 1:3]).abs() < 1.5 * loss.strides[fg, None]).all()
    good = raw.clone()
    good[0, fg, :2] = gt[0, 1:3] / loss.strides[fg, None] - loss.grid[fg]
    good[0, fg, 2:4] = torch.log(gt[0, 3:5] / loss.strides[fg, None])
    good[0, fg, 4], good[0, fg, 6] = 6.0, 6.0
    bad = loss(raw, [gt])
    right = loss(good, [gt])
    assert right.total < bad.total and right.iou < 0.05 and right.matched >= 1
    empty = loss(raw, [torch.zeros(0, 5)])
    assert empty.matched == 0 and torch.isfinite(empty.total)


@pytest.fixture(scope="module")
def dataset(tmp_path_factory, demo_clip, default_model):
    """Six frames of the demo clip, a second apart, labelled by the base model: the COCO export's layout."""
    folder = tmp_path_factory.mktemp("dataset")
    detector = create_detector("onnxruntime", default_model, score_threshold=0.3)
    try:
        examples = []
        for t, bgr in frames_of(demo_clip, 6, (0.0, 0.5)):
            found = detector.detect([letterbox(bgr, detector.input_size)])[0]
            h, w = bgr.shape[:2]
            labels = [{"label": detector.class_names[c], "box": [b[0] / w, b[1] / h, b[2] / w, b[3] / h]}
                      for b, c in zip(found.boxes.tolist(), found.class_ids)]
            examples.append(Example(t, "missed", cv2.imencode(".jpg", bgr)[1].tobytes(), w, h, labels))
    finally:
        detector.close()
    write_coco(folder, examples, START)
    return folder


def test_a_dataset_is_split_by_time_and_bad_files_are_named(dataset, tmp_path):
    train, heldout = split_by_time(dataset, 0.3)
    times = {i["id"]: i["vigia"]["taken_at"] for i in train.coco["images"]}
    assert len(train.image_ids) == 4 and len(heldout.image_ids) == 2
    assert max(times[i] for i in train.image_ids) < min(times[i] for i in heldout.image_ids)
    samples = coco_samples(train, (416, 416))
    assert all(s.image.shape == (416, 416, 3) and len(s.boxes) == len(s.class_ids) for s in samples)
    mirrored = flipped(samples[0])
    assert np.allclose(flipped(mirrored).boxes, samples[0].boxes)
    (tmp_path / "annotations.json").write_text(json.dumps({"images": [], "annotations": {}, "categories": []}))
    with pytest.raises(DatasetError, match="'annotations'"):
        split_by_time(tmp_path, 0.3)


@pytest.fixture(scope="module")
def trained(dataset, default_model, tmp_path_factory, shared):
    """Real training on this CPU: three steps of two images (one dataset frame, one replay frame)."""
    train, heldout = split_by_time(dataset, 0.3)
    detector = create_detector("onnxruntime", default_model, score_threshold=0.3)
    try:
        replay = replay_samples(str(shared / "media" / "traffic-720p.mp4"), 2, detector, 0.5, (0.0, 0.5))
    finally:
        detector.close()
    result = fine_tune(default_model, coco_samples(train, (416, 416)), replay,
                       TrainConfig(iterations=3, batch=2, replay_share=0.5, warmup=1))
    path = tmp_path_factory.mktemp("candidate") / "candidate.onnx"
    path.write_bytes(result.model)
    return result, path, coco_samples(heldout, (416, 416))


@pytest.fixture(scope="module")
def shared(demo_clip):
    return demo_clip.parent.parent


def test_training_changes_the_weights_and_keeps_the_appliances_contract(trained, default_model, tmp_path):
    result, path, heldout = trained
    assert len(result.losses) == 3 and all(np.isfinite(result.losses)) and result.trained_convs > 0
    base_model, candidate_model = onnx.load(str(default_model)), onnx.load(str(path))
    base_w = {i.name: numpy_helper.to_array(i) for i in base_model.graph.initializer}
    changed = [i.name for i in candidate_model.graph.initializer if not np.array_equal(numpy_helper.to_array(i), base_w[i.name])]
    assert changed
    _, base_spec = load_model(default_model)
    _, spec = parse_model(path.read_bytes(), path)
    assert (spec.input_name, spec.input_shape, spec.output_name, spec.output_shape) == \
        (base_spec.input_name, base_spec.input_shape, base_spec.output_name, base_spec.output_shape)
    info = import_model(tmp_path / "store", path, name="candidate")
    assert info.input_shape == [1, 3, 416, 416] and info.output_shape == [1, 3549, 85]
    out = ort.InferenceSession(str(path)).run(None, {"images": heldout[0].image.transpose(2, 0, 1)[None].astype(np.float32)})[0]
    assert out.shape == (1, 3549, 85) and 0 <= out[..., 4:].min() and out[..., 4:].max() <= 1


def test_the_gate_rejects_a_candidate_whose_class_scores_are_zeroed(trained, default_model, tmp_path):
    _, path, heldout = trained
    model = onnx.load(str(default_model))
    net = OnnxNet(model)
    with torch.no_grad():
        for index, conv in net.convs.items():
            if any("cls_preds" in name for name in net.nodes[int(index)].input):
                conv.bias.fill_(-30.0)  # every class score ~0
    bad = tmp_path / "bad.onnx"
    bad.write_bytes(with_weights(model, net).SerializeToString())
    names = load_model(default_model)[1].class_names
    base = {"heldout": measure(default_model, heldout, names), "regression": measure(default_model, heldout, names)}
    worse = {"heldout": measure(bad, heldout, names), "regression": measure(bad, heldout, names)}
    assert base["heldout"].objects > 0 and base["heldout"].map50 > 0.3
    assert worse["heldout"].map50 == 0 and worse["regression"].recall == 0
    verdict = gate(base, worse, GateSettings(min_map_gain=0.0, regression_margin=0.02))
    assert not verdict.passed
    assert sum("REJECT" in r for r in verdict.reasons) == 3 and f"{base['heldout'].map50:.4f}" in verdict.reasons[0]


def test_the_gate_passes_a_gain_within_the_regression_margin():
    def metrics(map50, recall):
        return Metrics(map50, recall, {"person": recall}, 4, 10)

    base = {"heldout": metrics(0.50, 0.5), "regression": metrics(0.40, 0.60)}
    better = {"heldout": metrics(0.56, 0.6), "regression": metrics(0.39, 0.59)}
    forgets = {"heldout": metrics(0.70, 0.8), "regression": metrics(0.40, 0.50)}
    assert gate(base, better).passed
    verdict = gate(base, forgets)
    assert not verdict.passed and "regression recall 0.6000 -> 0.5000" in verdict.reasons[1]


@pytest.mark.timeout(900)  # about 20 s of CPU; the wall clock is what a loaded machine gives
def test_vigia_central_train_takes_a_dataset_version_and_registers_the_candidate_with_its_lineage_and_gate(
        dataset, default_model, shared, tmp_path, monkeypatch):
    """The command on a dataset version in PostgreSQL and an S3 bucket: exported, trained, gated (a gain of 1 asked:
    rejected), lineage written, and the candidate in the registry flagged rejected: approving it needs --override."""
    env = {"AWS_ACCESS_KEY_ID": "test", "AWS_SECRET_ACCESS_KEY": "test", "AWS_DEFAULT_REGION": "us-east-1"}
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    coco = json.loads((dataset / "annotations.json").read_text())
    with temporary_database() as dsn, moto_s3() as endpoint:
        s3 = boto3.client("s3", endpoint_url=endpoint, region_name="us-east-1")
        s3.create_bucket(Bucket="media")

        async def seed():
            async with await psycopg.AsyncConnection.connect(dsn, autocommit=True) as conn:
                await migrate(conn)
                job = str(uuid.uuid4())
                await conn.execute("INSERT INTO reanalysis_jobs (job_id, device_id, event_id, camera, reason, priority)"
                                   " VALUES (%s, 'dev', 'e1', 'demo', 'requested', 'normal')", [job])
                await conn.execute("INSERT INTO reanalysis_results (job_id, device_id, camera, frames, duration_s, model,"
                                   " detector_share, cpu_s, worker) VALUES (%s, 'dev', 'demo', 1, 1, 'm', 1, 1, 'w')", [job])
                for image in coco["images"]:
                    key = f"hard-examples/dev/demo/{job}/{image['id']}.jpg"
                    s3.put_object(Bucket="media", Key=key, Body=(dataset / image["file_name"]).read_bytes())
                    labels = [{"label": "person", "box": [a["bbox"][0] / image["width"], a["bbox"][1] / image["height"],
                                                          (a["bbox"][0] + a["bbox"][2]) / image["width"],
                                                          (a["bbox"][1] + a["bbox"][3]) / image["height"]]}
                              for a in coco["annotations"] if a["image_id"] == image["id"] and a["category_id"] == 1]
                    await conn.execute("INSERT INTO hard_examples (job_id, device_id, camera, taken_at, reason, key, width,"
                                       " height, labels) VALUES (%s, 'dev', 'demo', %s, 'missed', %s, %s, %s, %s)",
                                       [job, image["vigia"]["taken_at"], key, image["width"], image["height"],
                                        Jsonb(labels)])
                return await datasets.create(conn, "hard", "test")

        assert asyncio.run(seed()) == (1, 6)
        traffic = str(shared / "media" / "traffic-720p.mp4")
        command = [sys.executable, "-m", "vigia.app.cli.main", "central", "train", "--database", dsn, "--bucket", "media",
                   "--s3-endpoint", endpoint, "--base", str(default_model), "--out", str(tmp_path / "candidate.onnx"),
                   "--replay", traffic, "--regression", traffic, "--replay-frames", "2", "--regression-frames", "2",
                   "--iterations", "2", "--batch", "2", "--min-map-gain", "1", "--name", "retrained"]
        wrong = subprocess.run([*command, "--dataset", "hard"], capture_output=True, text=True,
                               env={**os.environ, **env}, timeout=120)
        assert wrong.returncode != 0 and "--dataset 'hard'" in wrong.stderr
        done = subprocess.run([*command, "--dataset", "hard@1"], capture_output=True, text=True,
                              env={**os.environ, **env}, timeout=800)
        assert done.returncode == 3, done.stderr[-2000:]   # rejected by the gate
        report = json.loads(done.stdout)
        with psycopg.connect(dsn) as conn:
            row = conn.execute("SELECT id, state, sha256, s3_key, lineage, metrics FROM models").fetchone()
        model_id, state, sha256, key, lineage_row, metrics = row
        assert (model_id, state, sha256) == (report["model_id"], "candidate", report["sha256"])
        assert model_id.startswith("retrained-") and lineage_row["dataset"] == "hard@1" and lineage_row["seed"] == 0
        assert metrics["gate"]["passed"] is False and "REJECT" in metrics["gate"]["reasons"][0]
        assert set(metrics["candidate"]) == {"heldout", "regression"} and metrics["base"]["heldout"]["images"] == 2
        stored = s3.get_object(Bucket="media", Key=key)["Body"].read()
        assert hashlib.sha256(stored).hexdigest() == sha256
        approve = [sys.executable, "-m", "vigia.app.cli.main", "central", "models", "approve", model_id, "--database", dsn,
                   "--ca-dir", str(tmp_path / "ca"), "--by", "ops-alice"]
        (tmp_path / "ca").mkdir()   # central's CA folder: the model-signing key is made there at first use
        refused = subprocess.run(approve, capture_output=True, text=True, timeout=120)
        assert refused.returncode == 2 and "rejected by the evaluation gate" in refused.stderr
        forced = subprocess.run([*approve, "--override"], capture_output=True, text=True, timeout=120)
        assert forced.returncode == 0 and "approved" in forced.stdout, forced.stderr
        with psycopg.connect(dsn) as conn:
            audit = conn.execute("SELECT action, actor, detail FROM model_audit ORDER BY id").fetchall()
        assert [(a, b) for a, b, _ in audit] == [("registered", "central:train"), ("approved", "ops-alice")]
        assert audit[1][2]["override"] is True
    assert not report["gate_passed"] and len(report["gate"]) == 3
    lineage = json.loads((tmp_path / "candidate.lineage.json").read_text())
    assert lineage["dataset"] == "hard@1" and lineage["train_images"] + lineage["heldout_images"] == 6
    assert lineage["base_sha256"] == hashlib.sha256(default_model.read_bytes()).hexdigest()
    assert lineage["sha256"] == report["sha256"] and lineage["seed"] == 0 and lineage["hyper_parameters"]["iterations"] == 2
    assert set(lineage["metrics"]["candidate"]) == {"heldout", "regression"} and lineage["train_seconds"] > 0
    parse_model((tmp_path / "candidate.onnx").read_bytes(), "candidate")
