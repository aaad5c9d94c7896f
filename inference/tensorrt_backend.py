"""YOLOX detector on TensorRT (Jetson / NVIDIA GPUs), built from the same ONNX file.

`tensorrt` and `pycuda` come with JetPack and are imported only when this back end is
used. Engines are built once per model, GPU and TensorRT version (FP16 where the GPU has
fast FP16) and cached as files, since a build takes minutes on a Jetson.
Written against the name-based tensor API of TensorRT 8.6 and 10.x.
"""
from __future__ import annotations

import hashlib
import os
import re
import tempfile
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType

import numpy as np

from vigia.inference.errors import BackendUnavailable, ModelError
from vigia.inference.onnx_backend import to_blob
from vigia.inference.onnx_model import ModelSpec, load_model, with_dynamic_batch
from vigia.inference.types import Detections, DetectorInput
from vigia.inference.yolox import YoloxDecoder

DEFAULT_CACHE_DIR = Path.home() / ".cache" / "vigia" / "tensorrt"
WORKSPACE_BYTES = 256 << 20  # ample for YOLOX-Nano/Tiny; Jetson memory is shared with the CPU


def _import_runtime() -> tuple[ModuleType, ModuleType]:
    try:
        import pycuda.driver as cuda
        import tensorrt as trt
    except ImportError as exc:
        raise BackendUnavailable(
            f"the TensorRT back end needs the tensorrt and pycuda packages (JetPack): {exc}"
        ) from exc
    return trt, cuda


def tensorrt_available() -> bool:
    """True when TensorRT and pycuda import and a CUDA GPU is present."""
    try:
        _, cuda = _import_runtime()
        cuda.init()
        return cuda.Device.count() > 0
    except Exception:  # missing libraries, no driver, no device: all mean "not here"
        return False


def engine_cache_path(
    cache_dir: Path, model_sha256: str, gpu_name: str, trt_version: str, fp16: bool, max_batch: int
) -> Path:
    """One engine file per model, GPU, TensorRT version and build settings."""
    gpu = re.sub(r"[^A-Za-z0-9]+", "-", gpu_name).strip("-").lower()
    precision = "fp16" if fp16 else "fp32"
    return cache_dir / f"{model_sha256}-{gpu}-trt{trt_version}-{precision}-b{max_batch}.engine"


Shape = tuple[int, ...]


@dataclass(frozen=True)
class EngineLayout:
    """The engine's two tensors (named as in the ONNX model) at their largest batch, float32."""

    input_name: str
    output_name: str
    input_shape: Shape    # max_batch, 3, height, width
    output_shape: Shape   # max_batch, anchors, 5 + classes

    @classmethod
    def of(cls, spec: ModelSpec, max_batch: int) -> EngineLayout:
        width, height = spec.input_size
        anchors, channels = int(spec.output_shape[1]), int(spec.output_shape[2])
        return cls(spec.input_name, spec.output_name, (max_batch, 3, height, width), (max_batch, anchors, channels))

    @property
    def max_batch(self) -> int:
        return self.input_shape[0]

    def profile(self) -> tuple[Shape, Shape, Shape]:
        """The input's optimisation profile: min (one image), opt and max (a full batch)."""
        return (1, *self.input_shape[1:]), self.input_shape, self.input_shape

    def input_bytes(self) -> int:
        return 4 * int(np.prod(self.input_shape))


def network_flags(trt_version: str, explicit_batch_flag: int) -> int:
    """Network creation flags: TensorRT 10 is always explicit-batch (the flag is deprecated), 8.x must ask for it."""
    return 0 if int(trt_version.split(".")[0]) >= 10 else 1 << explicit_batch_flag


def _build_engine(trt: ModuleType, builder, logger, onnx_bytes: bytes, layout: EngineLayout, fp16: bool) -> bytes:
    network = builder.create_network(network_flags(trt.__version__, int(trt.NetworkDefinitionCreationFlag.EXPLICIT_BATCH)))
    parser = trt.OnnxParser(network, logger)
    if not parser.parse(onnx_bytes):
        errors = "; ".join(str(parser.get_error(i)) for i in range(parser.num_errors))
        raise ModelError(f"TensorRT cannot parse the model: {errors}")
    config = builder.create_builder_config()
    config.set_memory_pool_limit(trt.MemoryPoolType.WORKSPACE, WORKSPACE_BYTES)
    if fp16:
        config.set_flag(trt.BuilderFlag.FP16)
    if layout.max_batch > 1:
        profile = builder.create_optimization_profile()
        profile.set_shape(layout.input_name, *layout.profile())
        config.add_optimization_profile(profile)
    serialized = builder.build_serialized_network(network, config)
    if serialized is None:
        raise ModelError("TensorRT engine build failed (see the TensorRT log above)")
    return bytes(serialized)


def _write_atomically(path: Path, data: bytes) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".tmp-", suffix=".engine")
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
        os.replace(tmp, path)
    except BaseException:
        os.unlink(tmp)
        raise


def cached_engine(path: Path, deserialize: Callable[[bytes], object | None], build: Callable[[], bytes]) -> object:
    """The engine cached in `path`, or, when there is none or it no longer loads (`deserialize` gives None
    for an engine of another TensorRT), a new build, cached for the next start."""
    engine = deserialize(path.read_bytes()) if path.is_file() else None
    if engine is None:
        serialized = build()
        _write_atomically(path, serialized)
        engine = deserialize(serialized)
    return engine


class TensorRTDetector:
    """A YOLOX model as a TensorRT engine on GPU 0; batches of up to `max_batch` images.

    One execution context serves all threads, one call at a time (the GPU is the limit,
    not the CPU), so a DetectorPool in front of it should merge requests into batches.
    """

    name = "tensorrt"

    def __init__(
        self,
        model_path: str | Path,
        *,
        score_threshold: float = 0.3,
        iou_threshold: float = 0.45,
        classes: set[int] | None = None,
        max_batch: int = 4,
        fp16: bool = True,
        cache_dir: str | Path = DEFAULT_CACHE_DIR,
    ) -> None:
        trt, cuda = _import_runtime()
        model, spec = load_model(model_path)
        dynamic = with_dynamic_batch(model) if max_batch > 1 else None
        self.max_batch = max_batch if dynamic is not None else 1
        layout = EngineLayout.of(spec, self.max_batch)

        cuda.init()
        if cuda.Device.count() == 0:
            raise BackendUnavailable("the TensorRT back end needs a CUDA GPU and none was found")
        device = cuda.Device(0)
        self._cuda = cuda
        self._context_gpu = device.retain_primary_context()
        self._context_gpu.push()
        try:
            logger = trt.Logger(trt.Logger.WARNING)
            builder = trt.Builder(logger)
            fp16 = fp16 and getattr(builder, "platform_has_fast_fp16", True)
            sha256 = hashlib.sha256(Path(model_path).read_bytes()).hexdigest()
            cache = engine_cache_path(
                Path(cache_dir), sha256, device.name(), trt.__version__, fp16, self.max_batch
            )
            runtime = trt.Runtime(logger)
            onnx = dynamic or model
            engine = cached_engine(cache, runtime.deserialize_cuda_engine,
                                   lambda: _build_engine(trt, builder, logger, onnx.SerializeToString(), layout, fp16))
            self._engine, self._runtime = engine, runtime
            self._context = engine.create_execution_context()
            self._stream = cuda.Stream()
            self._host_out = cuda.pagelocked_empty(layout.output_shape, np.float32)
            self._device_in = cuda.mem_alloc(layout.input_bytes())
            self._device_out = cuda.mem_alloc(self._host_out.nbytes)
            self._context.set_tensor_address(layout.input_name, int(self._device_in))
            self._context.set_tensor_address(layout.output_name, int(self._device_out))
        finally:
            self._context_gpu.pop()

        self._layout = layout
        self._lock = threading.Lock()
        self.engine_path = cache
        self.input_size = spec.input_size
        self.class_names = list(spec.class_names)
        self._decoder = YoloxDecoder(
            spec.input_size,
            spec.num_classes,
            score_threshold,
            iou_threshold,
            None if classes is None else frozenset(classes),
        )

    def _run(self, blob: np.ndarray) -> np.ndarray:
        n = len(blob)
        cuda, layout = self._cuda, self._layout
        with self._lock:
            self._context_gpu.push()
            try:
                if not self._context.set_input_shape(layout.input_name, blob.shape):
                    raise RuntimeError(f"engine rejects input shape {blob.shape}")
                cuda.memcpy_htod_async(self._device_in, blob, self._stream)
                if not self._context.execute_async_v3(stream_handle=self._stream.handle):
                    raise RuntimeError("TensorRT execution failed")
                cuda.memcpy_dtoh_async(self._host_out[:n], self._device_out, self._stream)
                self._stream.synchronize()
                return self._host_out[:n].copy()
            finally:
                self._context_gpu.pop()

    def detect(self, inputs: Sequence[DetectorInput]) -> list[Detections]:
        if self._engine is None:
            raise RuntimeError("detector is closed")
        results: list[Detections] = []
        for start in range(0, len(inputs), self.max_batch):
            chunk = inputs[start : start + self.max_batch]
            raw = self._run(to_blob(chunk, self.input_size))
            results.extend(self._decoder.detections(r, item) for r, item in zip(raw, chunk))
        return results

    def close(self) -> None:
        with self._lock:
            if self._engine is None:
                return
            self._context_gpu.push()
            try:
                self._device_in.free()
                self._device_out.free()
                self._context = self._engine = self._runtime = None
            finally:
                self._context_gpu.pop()
                self._context_gpu.detach()
