"""The edge model's ONNX graph run as a PyTorch module, so it can be fine-tuned, and written back as ONNX.

The module executes the graph's own nodes (the few operators the YOLOX export uses) with the convolution weights
and biases as parameters. Training only changes those numbers, so the exported model is the base graph with new
initialisers: the same input, output, operators and decode as the model the appliance runs. The export fused
batch normalisation into the convolutions, so fine-tuning trains the fused convolutions (no batch statistics).
With `logits=True` the head's objectness and class sigmoids are skipped: the loss takes logits (numerically
stable BCE), the exported graph keeps them.

onnx2torch would do the conversion, but imports torchvision, whose only wheel here is a CUDA build that does not
load beside the CPU PyTorch; these nine operators are short to run directly.
"""
from __future__ import annotations

import onnx
import torch
import torch.nn.functional as F
from onnx import numpy_helper
from torch import nn

from vigia.inference.errors import ModelError

SUPPORTED = {"Conv", "Sigmoid", "Mul", "Add", "Concat", "Slice", "MaxPool", "Resize", "Reshape", "Transpose"}


def _attrs(node: onnx.NodeProto) -> dict:
    return {a.name: onnx.helper.get_attribute_value(a) for a in node.attribute}


def head_sigmoids(model: onnx.ModelProto) -> set[str]:
    """Names of the Sigmoid nodes that turn the head's objectness and class logits into scores: the 2nd and
    3rd inputs of each per-stride Concat that the output's Reshape/Concat/Transpose chain gathers."""
    producer = {out: node for node in model.graph.node for out in node.output}
    node = producer.get(model.graph.output[0].name)
    while node is not None and node.op_type == "Transpose":
        node = producer.get(node.input[0])
    if node is None or node.op_type != "Concat":
        raise ModelError("not a YOLOX head: the output is not a concatenation of per-stride outputs")
    found = set()
    for reshaped in node.input:
        per_stride = producer[producer[reshaped].input[0]] if producer[reshaped].op_type == "Reshape" else None
        if per_stride is None or per_stride.op_type != "Concat" or len(per_stride.input) != 3:
            raise ModelError("not a YOLOX head: expected (box, objectness, classes) per stride")
        for name in per_stride.input[1:]:
            sigmoid = producer.get(name)
            if sigmoid is None or sigmoid.op_type != "Sigmoid":
                raise ModelError("not a YOLOX head: objectness and class scores are not sigmoids")
            found.add(sigmoid.output[0])
    return found


class OnnxNet(nn.Module):
    """The graph of `model` as a module: input (N, 3, H, W) float BGR 0..255, output (N, cells, 5 + classes)."""

    def __init__(self, model: onnx.ModelProto, logits: bool = False):
        super().__init__()
        unsupported = {n.op_type for n in model.graph.node} - SUPPORTED
        if unsupported:
            raise ModelError(f"cannot train this model: operators {sorted(unsupported)} are not supported")
        self.nodes = list(model.graph.node)
        self.input_name = model.graph.input[0].name
        self.output_name = model.graph.output[0].name
        self.skipped = head_sigmoids(model) if logits else set()
        self.constants = {i.name: numpy_helper.to_array(i) for i in model.graph.initializer}
        self.convs = nn.ModuleDict()
        for index, node in enumerate(self.nodes):
            if node.op_type == "Conv":
                weight = torch.from_numpy(self.constants[node.input[1]].copy())
                attrs = _attrs(node)
                conv = nn.Conv2d(weight.shape[1] * attrs.get("group", 1), weight.shape[0], tuple(weight.shape[2:]),
                                 stride=tuple(attrs.get("strides", (1, 1))), groups=attrs.get("group", 1),
                                 dilation=tuple(attrs.get("dilations", (1, 1))), bias=len(node.input) > 2)
                pads = attrs.get("pads", (0, 0, 0, 0))
                if pads[0] != pads[2] or pads[1] != pads[3]:
                    raise ModelError(f"Conv {node.name}: asymmetric padding {pads} is not supported")
                conv.padding = (pads[0], pads[1])
                with torch.no_grad():
                    conv.weight.copy_(weight)
                    if conv.bias is not None:
                        conv.bias.copy_(torch.from_numpy(self.constants[node.input[2]].copy()))
                self.convs[str(index)] = conv

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        values: dict[str, torch.Tensor] = {self.input_name: images}
        for index, node in enumerate(self.nodes):
            x = [values[name] if name in values else None for name in node.input]
            values[node.output[0]] = self._run(index, node, x)
        return values[self.output_name]

    def _constant(self, name: str) -> list:
        return self.constants[name].tolist()

    def _run(self, index: int, node: onnx.NodeProto, x: list) -> torch.Tensor:
        op, attrs = node.op_type, _attrs(node)
        if op == "Conv":
            return self.convs[str(index)](x[0])
        if op == "Sigmoid":
            return x[0] if node.output[0] in self.skipped else torch.sigmoid(x[0])
        if op in ("Mul", "Add"):
            a, b = (t if t is not None else torch.from_numpy(self.constants[n]) for t, n in zip(x, node.input))
            return a * b if op == "Mul" else a + b
        if op == "Concat":
            return torch.cat(x, dim=attrs["axis"])
        if op == "Slice":
            starts, ends, axes = (self._constant(n) for n in node.input[1:4])
            steps = self._constant(node.input[4]) if len(node.input) > 4 else [1] * len(axes)
            index_ = [slice(None)] * x[0].dim()
            for s, e, a, st in zip(starts, ends, axes, steps):
                index_[a] = slice(s, min(e, x[0].shape[a]), st)
            return x[0][tuple(index_)]
        if op == "MaxPool":
            pads = attrs.get("pads", (0, 0, 0, 0))
            return F.max_pool2d(x[0], tuple(attrs["kernel_shape"]), tuple(attrs.get("strides", (1, 1))),
                                (pads[0], pads[1]), ceil_mode=bool(attrs.get("ceil_mode", 0)))
        if op == "Resize":
            scales = self._constant(node.input[2])
            if attrs.get("mode", b"nearest") != b"nearest" or scales[:2] != [1.0, 1.0]:
                raise ModelError(f"Resize {node.name}: only nearest spatial scaling is supported")
            return F.interpolate(x[0], scale_factor=tuple(scales[2:]), mode="nearest")
        if op == "Reshape":
            shape = self._constant(node.input[1])
            return x[0].reshape(x[0].shape[0], *shape[1:])  # the export bakes in a batch of 1
        if op == "Transpose":
            return x[0].permute(*attrs["perm"])
        raise ModelError(f"operator {op} is not supported")


def with_weights(base: onnx.ModelProto, net: OnnxNet) -> onnx.ModelProto:
    """A copy of `base` whose convolution weights and biases are the module's."""
    model = onnx.ModelProto()
    model.CopyFrom(base)
    initializers = {i.name: i for i in model.graph.initializer}
    for index, conv in net.convs.items():
        node = net.nodes[int(index)]
        tensors = [conv.weight] + ([conv.bias] if conv.bias is not None else [])
        for name, tensor in zip(node.input[1:], tensors):
            array = tensor.detach().cpu().numpy().astype(initializers[name].data_type == onnx.TensorProto.FLOAT and "float32")
            initializers[name].CopyFrom(numpy_helper.from_array(array, name))
    return model
