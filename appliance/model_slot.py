"""The appliance's model, replaced in service: a checked model is smoke-tested on the device's own recent frames,
switched in between two frames (the old one kept), watched for its first minutes and rolled back on its own
when it fails.

The model in use is written to `<data_dir>/model-slot/active.json` (atomically, after the switch), so a restart,
or a power cut during the switch, starts one of the two models, both whole on disk.
"""
from __future__ import annotations

import json
import logging
import threading
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from vigia.inference.errors import ModelError
from vigia.inference.model_store import import_model
from vigia.inference.onnx_model import parse_model
from vigia.inference.swappable import SwappableDetector
from vigia.inference.types import Detector, DetectorInput
from vigia.kit.files import PUBLIC, write_atomic

log = logging.getLogger(__name__)

ACTIVE_FILE = "active.json"
MODEL_SLOT_DIR = "model-slot"   # under the data dir: the store of installed models and active.json


class ModelRefused(Exception):
    """The model is not installed (the old one keeps running); the message is the reason reported to central."""


@dataclass(frozen=True)
class ActiveModel:
    model_id: str
    path: Path


def active_model(models_dir: Path) -> ActiveModel | None:
    """The model installed last (None: the configured one)."""
    try:
        data = json.loads((models_dir / ACTIVE_FILE).read_text())
        return ActiveModel(data["model_id"], Path(data["path"]))
    except (FileNotFoundError, ValueError, KeyError):
        return None


class ModelSlot:
    """Installs and rolls back models on the appliance's SwappableDetector."""

    def __init__(self, detector: SwappableDetector, models_dir: Path, open_model: Callable[[Path], Detector],
                 current_path: Path):
        self.detector, self.models_dir, self.open_model = detector, Path(models_dir), open_model
        self._paths = {detector.model_id: Path(current_path)}
        self._watch: threading.Timer | None = None
        self.events: list[dict] = []  # what happened, newest last (reported in the roll-ups)

    def install(self, path: Path, model_id: str, watch_s: float) -> dict:
        """Check the contract, smoke-test, switch; ModelRefused (nothing changed) when any step fails."""
        try:
            _, spec = parse_model(path.read_bytes(), path)
        except (ModelError, OSError) as exc:
            raise ModelRefused(f"not a usable model: {exc}") from None
        if tuple(spec.input_size) != tuple(self.detector.input_size):
            raise ModelRefused(f"wrong input shape: the model takes {spec.input_size[0]}x{spec.input_size[1]}, this"
                               f" appliance feeds {self.detector.input_size[0]}x{self.detector.input_size[1]}")
        if spec.num_classes != len(self.detector.class_names):
            raise ModelRefused(f"wrong output: {spec.num_classes} classes, the running model has"
                               f" {len(self.detector.class_names)}")
        stored = import_model(self.models_dir / "store", path, name=model_id)
        try:
            candidate = self.open_model(stored.path)
        except Exception as exc:  # noqa: BLE001 - any failure to load refuses the model
            raise ModelRefused(f"the model does not load: {exc}") from None
        smoke = self._smoke(candidate)
        self.detector.swap(candidate, model_id)
        self._paths[model_id] = stored.path
        self._persist()
        self._note("installed", model_id, smoke)
        self._start_watch(model_id, watch_s)
        return {"model_id": model_id, "previous": self.detector.previous_model_id, **smoke}

    def _smoke(self, candidate: Detector) -> dict:
        frames = self.detector.recent_inputs()
        if not frames:  # no camera ran yet: a grey frame still proves the model runs end to end
            width, height = self.detector.input_size
            frames = [DetectorInput(np.full((height, width, 3), 114, np.uint8), 1.0, (0.0, 0.0))]
        try:
            results = candidate.detect(frames)
            if len(results) != len(frames):
                raise RuntimeError(f"{len(results)} results for {len(frames)} frames")
        except Exception as exc:  # noqa: BLE001 - the smoke test fails on any error
            candidate.close()
            raise ModelRefused(f"smoke test failed on {len(frames)} recent frames: {exc}") from None
        return {"smoke_frames": len(frames), "smoke_detections": sum(len(r) for r in results)}

    def _start_watch(self, model_id: str, watch_s: float) -> None:
        if self._watch is not None:
            self._watch.cancel()
        errors_before = self.detector.errors_since_swap

        def check() -> None:
            if self.detector.model_id == model_id and self.detector.errors_since_swap > errors_before:
                self.rollback(model_id, f"{self.detector.errors_since_swap} inference errors in its first {watch_s:g} s")
        self._watch = threading.Timer(watch_s, check)
        self._watch.daemon = True
        self._watch.start()

    def rollback(self, model_id: str, reason: str) -> dict:
        """Back to the model before `model_id` when `model_id` is the one running; ModelRefused otherwise."""
        if self.detector.model_id != model_id or self.detector.previous_model_id is None:
            raise ModelRefused(f"model {model_id} is not the one running ({self.detector.model_id}): nothing to roll back")
        self.detector.rollback()
        self._persist()
        self._note("rolled_back", model_id, {"reason": reason, "now": self.detector.model_id})
        log.warning("model %s rolled back to %s: %s", model_id, self.detector.model_id, reason)
        return {"rolled_back": model_id, "model_id": self.detector.model_id, "reason": reason}

    def _persist(self) -> None:
        model_id = self.detector.model_id
        write_atomic(self.models_dir / ACTIVE_FILE, json.dumps({"model_id": model_id,
                                                                "path": str(self._paths[model_id])}).encode(), PUBLIC)

    def _note(self, action: str, model_id: str, detail: dict) -> None:
        self.events = [*self.events[-9:], {"action": action, "model_id": model_id, **detail}]

    def close(self) -> None:
        if self._watch is not None:
            self._watch.cancel()
