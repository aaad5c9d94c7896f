"""Fine-tuning the edge detector on a dataset version, mixed with a replay set, and the candidate's lineage.

Each step takes a batch of which `replay_share` comes from the replay set (the base model's own labels on other
footage) and the rest from the dataset, each image mirrored at random; the loss is YOLOX's own (`yolox_loss`).
The backbone stays as it was by default (`freeze_backbone`): the neck and head adapt, which is what a few
hundred hard examples can teach without forgetting, and what a CPU can train in minutes. The optimiser is the
reference's: SGD, momentum 0.9 (Nesterov), weight decay 5e-4 on the weights, with a linear warm-up.
"""
from __future__ import annotations

import json
import random
import time
from dataclasses import asdict, dataclass, field
from datetime import datetime, timezone
from pathlib import Path

import numpy as np
import onnx
import torch

from vigia.central.training.data import Sample, flipped
from vigia.central.training.graph import OnnxNet, with_weights
from vigia.central.training.yolox_loss import YoloxLoss
from vigia.inference.onnx_model import parse_model


@dataclass(frozen=True)
class TrainConfig:
    iterations: int = 60
    batch: int = 4
    lr: float = 0.002
    warmup: int = 5                 # iterations of linear warm-up
    momentum: float = 0.9
    weight_decay: float = 5e-4
    replay_share: float = 0.5       # of each batch, from the replay set
    freeze_backbone: bool = True
    flip: bool = True
    seed: int = 0
    threads: int = 2

    def check(self) -> None:
        for name in ("iterations", "batch", "threads"):
            if getattr(self, name) < 1:
                raise ValueError(f"{name} must be at least 1")
        if not 0 <= self.replay_share < 1:
            raise ValueError("replay_share must be in [0, 1)")
        if self.lr <= 0:
            raise ValueError("lr must be positive")


@dataclass
class TrainResult:
    model: bytes                    # the candidate ONNX
    seconds: float
    first_loss: float               # mean of the first 5 steps
    last_loss: float                # mean of the last 5 steps
    trained_convs: int
    losses: list[float] = field(repr=False)


@dataclass(frozen=True)
class Lineage:
    """Everything a candidate comes from; written as JSON next to the model."""

    base_model: str
    base_sha256: str
    dataset: str                    # NAME@VERSION, or the COCO folder it was read from
    train_images: int
    heldout_images: int
    replay: str                     # footage of the replay set
    replay_frames: int
    regression: str
    regression_frames: int
    hyper_parameters: dict
    seed: int
    train_seconds: float
    metrics: dict                   # the gate's numbers, base and candidate
    gate_passed: bool
    gate_reasons: list[str]
    sha256: str
    created_at: str = field(default_factory=lambda: datetime.now(timezone.utc).isoformat(timespec="seconds"))
    loss: str = "YOLOX (Ge et al. 2021, arXiv:2107.08430): SimOTA, IoU, objectness and class BCE"
    torch_version: str = torch.__version__

    def write(self, path: Path) -> None:
        path.write_text(json.dumps(asdict(self), indent=2))


def _targets(s: Sample) -> torch.Tensor:
    """(n, 5) class id, centre x, centre y, width, height; boxes of under 2 pixels dropped."""
    wh = s.boxes[:, 2:] - s.boxes[:, :2]
    keep = (wh >= 2).all(1)
    centre = (s.boxes[keep, :2] + s.boxes[keep, 2:]) / 2
    return torch.from_numpy(np.concatenate([s.class_ids[keep, None].astype(np.float32), centre, wh[keep]], 1))


def _batch(samples: list[Sample]) -> tuple[torch.Tensor, list[torch.Tensor]]:
    images = np.stack([s.image for s in samples]).transpose(0, 3, 1, 2).astype(np.float32)
    return torch.from_numpy(images), [_targets(s) for s in samples]


def fine_tune(base: Path, dataset: list[Sample], replay: list[Sample], config: TrainConfig) -> TrainResult:
    """Train the base ONNX model's convolutions on `dataset` mixed with `replay`; the candidate as ONNX bytes,
    with the base graph's input and output unchanged (checked with the model store's validation)."""
    config.check()
    if not dataset:
        raise ValueError("the dataset's train split is empty")
    torch.manual_seed(config.seed)
    rng = random.Random(config.seed)
    torch.set_num_threads(config.threads)
    base_model = onnx.load(str(base))
    _, spec = parse_model(base_model.SerializeToString(), base)
    net = OnnxNet(base_model, logits=True)
    if config.freeze_backbone:
        first_resize = next((i for i, n in enumerate(net.nodes) if n.op_type == "Resize"), len(net.nodes))
        for index, conv in net.convs.items():
            conv.requires_grad_(int(index) >= first_resize)
    trained = [p for p in net.parameters() if p.requires_grad]
    decay = [p for p in trained if p.dim() > 1]
    no_decay = [p for p in trained if p.dim() <= 1]
    optimiser = torch.optim.SGD([{"params": decay, "weight_decay": config.weight_decay},
                                 {"params": no_decay, "weight_decay": 0.0}],
                                lr=config.lr, momentum=config.momentum, nesterov=True)
    loss_fn = YoloxLoss(spec.num_classes, spec.input_size)
    from_replay = round(config.batch * config.replay_share) if replay else 0
    losses = []
    started = time.monotonic()
    net.train()
    for step in range(config.iterations):
        for group in optimiser.param_groups:
            group["lr"] = config.lr * min(1.0, (step + 1) / max(config.warmup, 1))
        chosen = rng.choices(dataset, k=config.batch - from_replay) + rng.choices(replay, k=from_replay)
        if config.flip:
            chosen = [flipped(s) if rng.random() < 0.5 else s for s in chosen]
        images, targets = _batch(chosen)
        parts = loss_fn(net(images), targets)
        optimiser.zero_grad()
        parts.total.backward()
        optimiser.step()
        losses.append(parts.total.item())
    seconds = time.monotonic() - started
    model = with_weights(base_model, net).SerializeToString()
    parse_model(model, "candidate")  # the appliance's contract: raises ModelError if the export broke it
    return TrainResult(model, seconds, float(np.mean(losses[:5])), float(np.mean(losses[-5:])),
                       sum(1 for c in net.convs.values() if c.weight.requires_grad), losses)
