"""Static INT8 quantization of a detector with ONNX Runtime (QDQ), calibrated on letterboxed frames of a site's footage.

The result keeps float32 input and output, so every back end and the model store take it as they take the
original: ONNX Runtime runs the quantized operators on the CPU, TensorRT reads the QDQ nodes as explicit INT8.
The tail of the YOLOX head (sigmoids, reshapes, the concatenation of boxes with scores) stays in float: one
8-bit scale for box offsets in pixels and scores in 0..1 would cost the scores most of their precision.
"""
from __future__ import annotations

import contextlib
import io
import logging
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import onnx
from onnx import version_converter
from onnxruntime.quantization import (
    CalibrationDataReader,
    CalibrationMethod,
    QuantFormat,
    QuantType,
    quantize_static,
)
from onnxruntime.quantization.calibrate import create_calibrator
from onnxruntime.quantization.shape_inference import quant_pre_process

from vigia.inference.onnx_backend import to_blob
from vigia.inference.onnx_model import load_model
from vigia.inference.types import DetectorInput

log = logging.getLogger(__name__)

CALIBRATION_METHODS = {
    "minmax": CalibrationMethod.MinMax,
    "entropy": CalibrationMethod.Entropy,
    "percentile": CalibrationMethod.Percentile,
    "distribution": CalibrationMethod.Distribution,
}
FORMATS = {"qdq": QuantFormat.QDQ, "qoperator": QuantFormat.QOperator}
MIN_OPSET = 13  # per-channel DequantizeLinear (its `axis`) needs opset 13
# SiLU (x * sigmoid(x)) inputs are quantized from this value up: below it SiLU is within 0.015 of 0, while
# calibrated minima reach -90 (batch norm folded into the convolutions), which would leave the positive
# side, the part that matters, a handful of levels.
SILU_FLOOR = -6.0
CALIBRATION_CHUNK = 4  # frames per calibration step


@dataclass(frozen=True, slots=True)
class QuantizeOptions:
    calibration: str = "entropy"  # a key of CALIBRATION_METHODS (chosen by measurement, see README)
    per_channel: bool = True  # one weight scale per output channel (depthwise convolutions need it)
    reduce_range: bool = False  # 7-bit weights, for CPUs without VNNI whose u8 x s8 products may saturate
    float_head: bool = True  # the head's tail after its last convolutions stays float32
    float_stem_convs: int = 2  # the first convolutions (full and half resolution, their SiLU) stay float32
    silu_floor: float | None = SILU_FLOOR  # None: SiLU inputs keep their calibrated minimum
    format: str = "qdq"  # a key of FORMATS

    def __post_init__(self) -> None:
        if self.calibration not in CALIBRATION_METHODS:
            raise ValueError(f"unknown calibration {self.calibration!r} ({', '.join(CALIBRATION_METHODS)})")
        if self.format not in FORMATS:
            raise ValueError(f"unknown format {self.format!r} ({', '.join(FORMATS)})")

    def describe(self) -> str:
        """One line for the model's lineage."""
        parts = [f"onnxruntime static int8 {self.format.upper()}", "u8 activations, s8 weights",
                 "per-channel" if self.per_channel else "per-tensor", f"calibration {self.calibration}"]
        if self.silu_floor is not None:
            parts.append(f"SiLU inputs from {self.silu_floor:g}")
        if self.float_stem_convs:
            parts.append(f"first {self.float_stem_convs} convolutions float")
        if self.float_head:
            parts.append("head tail float")
        if self.reduce_range:
            parts.append("reduce_range")
        return ", ".join(parts)


class _Feeds(CalibrationDataReader):
    """Model inputs, one at a time, for the quantizer's calibration."""

    def __init__(self, feeds: Sequence[dict]) -> None:
        self._feeds = iter(feeds)

    def get_next(self) -> dict | None:
        return next(self._feeds, None)


def head_tail(model: onnx.ModelProto) -> list[str]:
    """Names of the nodes between the last convolutions and the output (YOLOX: sigmoids of objectness
    and classes, the per-stride concatenations, reshapes, the transpose)."""
    producers = {out: node for node in model.graph.node for out in node.output}
    tail, frontier, seen = [], [o.name for o in model.graph.output], set()
    while frontier:
        node = producers.get(frontier.pop())
        if node is None or node.op_type == "Conv" or node.name in seen:
            continue
        seen.add(node.name)
        tail.append(node.name)
        frontier.extend(node.input)
    return tail


def stem(model: onnx.ModelProto, convolutions: int) -> list[str]:
    """Names of the nodes (in the graph's topological order) before its convolution number `convolutions` + 1."""
    names = []
    for node in model.graph.node:
        convolutions -= node.op_type == "Conv"
        if convolutions < 0:
            break
        names.append(node.name)
    return names


def silu_inputs(model: onnx.ModelProto) -> list[str]:
    """Tensors x that feed a SiLU written as Mul(x, Sigmoid(x))."""
    muls = {tuple(sorted(n.input)) for n in model.graph.node if n.op_type == "Mul"}
    return [n.input[0] for n in model.graph.node
            if n.op_type == "Sigmoid" and tuple(sorted((n.input[0], n.output[0]))) in muls]


def _prepared(model_path: Path, work: Path) -> onnx.ModelProto:
    """The model at opset >= 13 with inferred shapes and every node named, as the quantizer wants it
    (ONNX Runtime's pre-processing; exclusions are by node name)."""
    model, _ = load_model(model_path)
    opset = next((o.version for o in model.opset_import if o.domain in ("", "ai.onnx")), MIN_OPSET)
    if opset < MIN_OPSET:
        model = version_converter.convert_version(model, MIN_OPSET)
    path = work / "prepared.onnx"
    quant_pre_process(model, path)
    model = onnx.load(path)
    for index, node in enumerate(model.graph.node):
        node.name = node.name or f"{node.op_type}_{index}"
    return model


def _ranges(model_path: Path, work: Path, frames: Sequence[dict], method: str) -> dict[str, tuple[float, float]]:
    """(min, max) of every float tensor over the calibration frames, by `method`. Frames go through a few at a
    time: the histogram methods keep every intermediate tensor of the frames in hand (about 140 MB a frame for
    YOLOX-Nano at 416x416) and merge them into their histograms after each call."""
    calibrator = create_calibrator(model_path, None, augmented_model_path=work / "augmented.onnx",
                                   calibrate_method=CALIBRATION_METHODS[method])
    chatter = io.StringIO()  # the histogram calibrators print their progress; stdout is for commands' output
    with contextlib.redirect_stdout(chatter):
        for start in range(0, len(frames), CALIBRATION_CHUNK):
            calibrator.collect_data(_Feeds(frames[start : start + CALIBRATION_CHUNK]))
        ranges = calibrator.compute_data()
    log.debug("calibration: %s", chatter.getvalue())
    return {name: (float(np.ravel(data.range_value[0])[0]), float(np.ravel(data.range_value[1])[0]))
            for name, data in ranges.items()}


def quantize(model_path: str | Path, calibration: Sequence[DetectorInput], out_path: str | Path,
             options: QuantizeOptions = QuantizeOptions()) -> None:
    """Write the INT8 version of the YOLOX model at `model_path` to `out_path`, its activation ranges
    calibrated on `calibration` (letterboxed to the model's input size). ModelError if the model is unusable."""
    _, spec = load_model(model_path)
    if not calibration:
        raise ValueError("no calibration frames")
    with tempfile.TemporaryDirectory(prefix="vigia-quantize-") as tmp:
        work = Path(tmp)
        model = _prepared(Path(model_path), work)
        prepared = work / "prepared.onnx"
        onnx.save(model, prepared)
        feeds = [{spec.input_name: to_blob([item], spec.input_size)} for item in calibration]
        ranges = _ranges(prepared, work, feeds, options.calibration)
        if options.silu_floor is not None:
            for name in silu_inputs(model):
                low, high = ranges[name]
                ranges[name] = (max(low, options.silu_floor), max(high, options.silu_floor + 1e-3))
        excluded = (head_tail(model) if options.float_head else []) + stem(model, options.float_stem_convs)
        quantize_static(
            prepared,
            out_path,
            # Every range is given below: the quantizer's own calibration pass sees one frame, for form.
            _Feeds(feeds[:1]),
            quant_format=FORMATS[options.format],
            per_channel=options.per_channel,
            reduce_range=options.reduce_range,
            activation_type=QuantType.QUInt8,  # u8 x s8: the fast path of ONNX Runtime's CPU kernels
            weight_type=QuantType.QInt8,
            nodes_to_exclude=excluded,
            extra_options={"TensorQuantOverrides": {
                name: [{"rmin": np.float32(low), "rmax": np.float32(high)}] for name, (low, high) in ranges.items()
            }},
        )
