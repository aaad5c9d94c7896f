"""One candidate from a dataset version: split by time, replay and regression sets, fine-tuning, the base and
the candidate measured the same way, the gate, and the model written with its lineage (`<model>.lineage.json`).

The replay set takes frames from the first half of its footage's time and the regression set from the second
half of its own, so one clip from another site can serve as both without testing on what was trained on.
"""
from __future__ import annotations

import hashlib
from dataclasses import asdict, dataclass, field
from pathlib import Path

from vigia.central.training.data import coco_samples, replay_samples, split_by_time
from vigia.central.training.evaluate import GateResult, GateSettings, central_samples, frames_of, gate, measure
from vigia.central.training.train import Lineage, TrainConfig, TrainResult, fine_tune
from vigia.inference.factory import create_detector
from vigia.inference.onnx_model import load_model

REPLAY_WINDOW = (0.0, 0.5)
REGRESSION_WINDOW = (0.5, 1.0)


@dataclass(frozen=True)
class TrainingJob:
    dataset_dir: Path               # a COCO export (`vigia central dataset export`)
    dataset_ref: str                # NAME@VERSION it was exported from
    base: Path                      # the base ONNX model
    out: Path                       # where the candidate goes (its lineage beside it)
    replay: Path                    # footage of the base distribution
    regression: Path                # footage from another site: the fixed regression set
    replay_frames: int = 24
    regression_frames: int = 12
    heldout_share: float = 0.3
    replay_score: float = 0.3       # the base model's detections kept as replay labels: those the edge reports
    config: TrainConfig = field(default_factory=TrainConfig)
    gate: GateSettings = field(default_factory=GateSettings)


@dataclass
class Candidate:
    path: Path
    lineage_path: Path
    lineage: Lineage
    gate: GateResult
    train: TrainResult


def train_candidate(job: TrainingJob) -> Candidate:
    _, spec = load_model(job.base)
    train_split, heldout_split = split_by_time(job.dataset_dir, job.heldout_share)
    train_set = coco_samples(train_split, spec.input_size)
    heldout_set = coco_samples(heldout_split, spec.input_size)
    labeller = create_detector("onnxruntime", job.base, score_threshold=0.3, threads=job.config.threads)
    try:
        replay = replay_samples(str(job.replay), job.replay_frames, labeller, job.replay_score, REPLAY_WINDOW)
        regression = central_samples(frames_of(job.regression, job.regression_frames, REGRESSION_WINDOW), labeller,
                                     source=job.regression.name)
    finally:
        labeller.close()
    result = fine_tune(job.base, train_set, replay, job.config)
    job.out.parent.mkdir(parents=True, exist_ok=True)
    job.out.write_bytes(result.model)
    names = spec.class_names
    base_metrics = {"heldout": measure(job.base, heldout_set, names), "regression": measure(job.base, regression, names)}
    candidate_metrics = {"heldout": measure(job.out, heldout_set, names), "regression": measure(job.out, regression, names)}
    verdict = gate(base_metrics, candidate_metrics, job.gate)
    lineage = Lineage(
        base_model=job.base.name, base_sha256=hashlib.sha256(job.base.read_bytes()).hexdigest(),
        dataset=job.dataset_ref, train_images=len(train_set), heldout_images=len(heldout_set),
        replay=job.replay.name, replay_frames=len(replay), regression=job.regression.name,
        regression_frames=len(regression), hyper_parameters=asdict(job.config) | {"heldout_share": job.heldout_share,
                                                                                 "replay_score": job.replay_score},
        seed=job.config.seed, train_seconds=round(result.seconds, 2),
        metrics={"base": {k: asdict(v) for k, v in base_metrics.items()},
                 "candidate": {k: asdict(v) for k, v in candidate_metrics.items()},
                 "first_loss": round(result.first_loss, 4), "last_loss": round(result.last_loss, 4)},
        gate_passed=verdict.passed, gate_reasons=verdict.reasons, sha256=hashlib.sha256(result.model).hexdigest())
    lineage_path = job.out.with_suffix(".lineage.json")
    lineage.write(lineage_path)
    return Candidate(job.out, lineage_path, lineage, verdict, result)
