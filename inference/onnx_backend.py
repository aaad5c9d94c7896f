"""YOLOX detector on ONNX Runtime (CPU, or CUDA / TensorRT execution providers where installed)."""
from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np
import onnxruntime as ort

from vigia.inference.onnx_model import load_model, with_dynamic_batch
from vigia.inference.types import Detections, DetectorInput
from vigia.inference.yolox import YoloxDecoder

GPU_PROVIDERS = ("TensorrtExecutionProvider", "CUDAExecutionProvider")
CPU_PROVIDER = "CPUExecutionProvider"


def choose_providers(available: Sequence[str]) -> list[str]:
    """GPU providers present, best first, then CPU as the fallback for unsupported nodes."""
    return [p for p in GPU_PROVIDERS if p in available] + [CPU_PROVIDER]


def to_blob(inputs: Sequence[DetectorInput], size: tuple[int, int]) -> np.ndarray:
    """(N, 3, H, W) float32 from letterboxed BGR images, checking each has the model's size."""
    width, height = size
    blob = np.empty((len(inputs), 3, height, width), np.float32)
    for i, item in enumerate(inputs):
        if item.image.shape != (height, width, 3) or item.image.dtype != np.uint8:
            raise ValueError(
                f"input {i} is {item.image.dtype} {item.image.shape}, expected uint8 {(height, width, 3)}"
            )
        blob[i] = item.image.transpose(2, 0, 1)
    return blob


class OnnxDetector:
    """A YOLOX model in one ONNX Runtime session; `detect` may be called from several threads.

    On CPU the images of a call run one at a time: with one intra-op thread, batches cost
    more CPU per image, not less (2-core x86 box, ORT 1.32: about 10.4 ms per image at
    batch 1, 10.9 at batch 2, 11.4 at batch 4). `batching=None` turns a dynamic batch on
    only with a GPU execution provider; `max_batch` is then the largest batch run.
    """

    name = "onnxruntime"

    def __init__(
        self,
        model_path: str | Path,
        *,
        score_threshold: float = 0.3,
        iou_threshold: float = 0.45,
        classes: set[int] | None = None,
        threads: int = 1,
        batching: bool | None = None,
        max_batch: int = 4,
    ) -> None:
        model, spec = load_model(model_path)
        self.providers = choose_providers(ort.get_available_providers())
        if batching is None:
            batching = self.providers[0] != CPU_PROVIDER
        dynamic = with_dynamic_batch(model) if batching else None
        options = ort.SessionOptions()
        options.intra_op_num_threads = threads
        options.inter_op_num_threads = 1
        options.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
        options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
        self._session: ort.InferenceSession | None = ort.InferenceSession(
            (dynamic or model).SerializeToString(), options, providers=self.providers
        )
        self.providers = self._session.get_providers()  # what ORT could actually load
        self._input_name, self._output_name = spec.input_name, spec.output_name
        self.max_batch = max_batch if dynamic is not None else 1
        self.input_size = spec.input_size
        self.class_names = list(spec.class_names)
        self._decoder = YoloxDecoder(
            spec.input_size,
            spec.num_classes,
            score_threshold,
            iou_threshold,
            None if classes is None else frozenset(classes),
        )

    def detect(self, inputs: Sequence[DetectorInput]) -> list[Detections]:
        session = self._session
        if session is None:
            raise RuntimeError("detector is closed")
        results: list[Detections] = []
        for start in range(0, len(inputs), self.max_batch):
            chunk = inputs[start : start + self.max_batch]
            blob = to_blob(chunk, self.input_size)
            (raw,) = session.run([self._output_name], {self._input_name: blob})
            results.extend(self._decoder.detections(r, item) for r, item in zip(raw, chunk))
        return results

    def close(self) -> None:
        self._session = None
