"""Loading and checking YOLOX-layout ONNX files, shared by the back ends and the model store."""
from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import onnx
from google.protobuf.message import DecodeError
from onnx import numpy_helper

from vigia.inference.coco import COCO_CLASSES
from vigia.inference.errors import ModelError
from vigia.inference.yolox import STRIDES, cell_count

Dim = int | str  # a fixed size, or the name of a symbolic one


@dataclass(frozen=True, slots=True)
class ModelSpec:
    """What a back end needs to know about a checked model."""

    input_name: str
    output_name: str
    input_shape: tuple[Dim, ...]
    output_shape: tuple[Dim, ...]
    input_size: tuple[int, int]  # (width, height)
    num_classes: int
    class_names: tuple[str, ...]
    class_names_source: str  # "metadata" (model's class_names property), "coco", or "generic"


def parse_model(data: bytes, path: str | Path) -> tuple[onnx.ModelProto, ModelSpec]:
    """Parse and check ONNX bytes read from `path` (named in errors)."""
    try:
        model = onnx.load_model_from_string(data)
        onnx.checker.check_model(model)
    except (DecodeError, onnx.checker.ValidationError, ValueError, RuntimeError) as exc:
        raise ModelError(f"{path} is not an ONNX model: {exc}") from exc
    return model, _spec(model, path)


def load_model(path: str | Path) -> tuple[onnx.ModelProto, ModelSpec]:
    try:
        data = Path(path).read_bytes()
    except OSError as exc:
        raise ModelError(f"cannot read model {path}: {exc}") from exc
    return parse_model(data, path)


def _dims(value_info: onnx.ValueInfoProto) -> tuple[Dim, ...]:
    return tuple(
        d.dim_value if d.HasField("dim_value") else (d.dim_param or "?")
        for d in value_info.type.tensor_type.shape.dim
    )


def _spec(model: onnx.ModelProto, path: str | Path) -> ModelSpec:
    graph = model.graph
    constants = {init.name for init in graph.initializer}
    inputs = [i for i in graph.input if i.name not in constants]
    if len(inputs) != 1 or len(graph.output) != 1:
        raise ModelError(
            f"{path}: expected one input and one output, found inputs {[i.name for i in inputs]} "
            f"and outputs {[o.name for o in graph.output]}"
        )
    inp, out = inputs[0], graph.output[0]
    in_shape, out_shape = _dims(inp), _dims(out)
    float_type = onnx.TensorProto.FLOAT
    if (
        inp.type.tensor_type.elem_type != float_type
        or len(in_shape) != 4
        or not _is_batch(in_shape[0])
        or in_shape[1] != 3
        or not all(isinstance(d, int) and d > 0 and d % max(STRIDES) == 0 for d in in_shape[2:])
    ):
        raise ModelError(
            f"{path}: input '{inp.name}' is {_type_name(inp)} {list(in_shape)}, expected float32 "
            f"[batch, 3, H, W] with H and W multiples of {max(STRIDES)}"
        )
    input_size = (int(in_shape[3]), int(in_shape[2]))
    cells = cell_count(input_size)
    if (
        out.type.tensor_type.elem_type != float_type
        or len(out_shape) != 3
        or not _is_batch(out_shape[0])
        or out_shape[1] != cells
        or not isinstance(out_shape[2], int)
        or out_shape[2] < 6
    ):
        raise ModelError(
            f"{path}: output '{out.name}' is {_type_name(out)} {list(out_shape)}, expected float32 "
            f"[batch, {cells}, 5 + classes] for a {input_size[0]}x{input_size[1]} input "
            f"(strides {'/'.join(map(str, STRIDES))})"
        )
    num_classes = int(out_shape[2]) - 5
    names, source = _class_names(model, num_classes)
    return ModelSpec(inp.name, out.name, in_shape, out_shape, input_size, num_classes, names, source)


def _is_batch(dim: Dim) -> bool:
    """A batch dimension is either 1 or symbolic."""
    return dim == 1 or isinstance(dim, str)


def _type_name(value_info: onnx.ValueInfoProto) -> str:
    return onnx.helper.tensor_dtype_to_np_dtype(value_info.type.tensor_type.elem_type).name


def _class_names(model: onnx.ModelProto, num_classes: int) -> tuple[tuple[str, ...], str]:
    """Names from a `class_names` JSON list in the model's metadata, else COCO for 80 classes."""
    props = {p.key: p.value for p in model.metadata_props}
    try:
        names = json.loads(props.get("class_names", "null"))
    except json.JSONDecodeError:
        names = None
    if isinstance(names, list) and len(names) == num_classes and all(isinstance(n, str) for n in names):
        return tuple(names), "metadata"
    if num_classes == len(COCO_CLASSES):
        return COCO_CLASSES, "coco"
    return tuple(f"class_{i}" for i in range(num_classes)), "generic"


def with_dynamic_batch(model: onnx.ModelProto) -> onnx.ModelProto | None:
    """A copy of `model` whose batch dimension is free, or None when the graph bakes it in.

    The exporter writes a batch of 1 into the input/output shapes and into the target shapes
    of Reshape nodes (e.g. [1, 85, -1]); those become 0, ONNX's "copy this dimension from the
    input" (opset < 14 semantics, or allowzero=0). Any Reshape whose target shape is not a
    constant starting with 1 makes the rewrite unsafe.
    """
    dynamic = onnx.ModelProto()
    dynamic.CopyFrom(model)
    graph = dynamic.graph
    initializers = {init.name: init for init in graph.initializer}
    for index, node in enumerate(n for n in graph.node if n.op_type == "Reshape"):
        allowzero = any(a.name == "allowzero" and a.i for a in node.attribute)
        shape_init = initializers.get(node.input[1])
        if allowzero or shape_init is None:
            return None
        shape = numpy_helper.to_array(shape_init).copy()
        if shape.ndim != 1 or len(shape) == 0 or shape[0] != 1:
            return None
        shape[0] = 0
        name = f"{node.input[1]}__dynamic_batch_{index}"
        graph.initializer.append(numpy_helper.from_array(shape, name))
        node.input[1] = name
    used = {name for node in graph.node for name in node.input}
    unused = [init for init in graph.initializer if init.name not in used]
    for init in unused:
        graph.initializer.remove(init)
    constants = {init.name for init in graph.initializer}
    for value in [i for i in graph.input if i.name not in constants] + list(graph.output):
        value.type.tensor_type.shape.dim[0].dim_param = "batch"
    del graph.value_info[:]  # intermediate shapes recorded with batch 1; ORT re-infers them
    onnx.checker.check_model(dynamic)
    return dynamic
