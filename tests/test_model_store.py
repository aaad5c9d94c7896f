"""The model store: importing, listing and resolving models, and refusing unusable files."""
from __future__ import annotations

import hashlib
import json
from pathlib import Path

import onnx
import pytest
from onnx import TensorProto, helper

from vigia.inference.errors import ModelError
from vigia.inference.model_store import import_model, list_models, resolve
from vigia.inference.onnx_backend import OnnxDetector

MODEL_SHA256 = "695e750a5d5754bb5a8d5325643b59282191a7e7a564e435a415fd3c578eab14"  # MODELS.md


def wrong_shape_model(path: Path) -> Path:
    """A valid ONNX graph with the right input but a classifier-like output [1, 1000]."""
    x = helper.make_tensor_value_info("images", TensorProto.FLOAT, [1, 3, 416, 416])
    y = helper.make_tensor_value_info("output", TensorProto.FLOAT, [1, 1000])
    weights = helper.make_tensor("w", TensorProto.FLOAT, [3, 1000], [0.0] * 3000)
    graph = helper.make_graph(
        [
            helper.make_node("GlobalAveragePool", ["images"], ["pooled"]),
            helper.make_node("Flatten", ["pooled"], ["flat"]),
            helper.make_node("MatMul", ["flat", "w"], ["output"]),
        ],
        "classifier",
        [x],
        [y],
        [weights],
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 11)])
    onnx.checker.check_model(model)
    onnx.save(model, path)
    return path


def test_import_list_resolve(tmp_path, default_model) -> None:
    store = tmp_path / "models"
    info = import_model(store, default_model)
    assert info.sha256 == MODEL_SHA256 and info.size == 3_660_092
    assert info.name == "yolox_nano" and info.num_classes == 80 and info.class_names_source == "coco"
    assert info.input_shape == [1, 3, 416, 416] and info.output_shape == [1, 3549, 85]
    assert info.path == store / f"{MODEL_SHA256}.onnx"
    assert hashlib.sha256(info.path.read_bytes()).hexdigest() == MODEL_SHA256
    sidecar = json.loads((store / f"{MODEL_SHA256}.json").read_text())
    assert sidecar["sha256"] == MODEL_SHA256 and sidecar["name"] == "yolox_nano"
    assert sidecar["imported_at"].endswith("+00:00")

    again = import_model(store, default_model)  # same content: the same entry
    assert again == info and sorted(p.name for p in store.iterdir()) == [
        f"{MODEL_SHA256}.json",
        f"{MODEL_SHA256}.onnx",
    ]
    assert list_models(store) == [info]

    assert resolve(store, "yolox_nano") == info.path
    assert resolve(store, MODEL_SHA256[:8]) == info.path
    assert resolve(store, default_model) == Path(default_model)
    with pytest.raises(ModelError, match="no model 'nope'.*yolox_nano"):
        resolve(store, "nope")
    # The stored file is a working model.
    OnnxDetector(info.path).close()


def test_list_models_of_a_missing_store_is_empty(tmp_path) -> None:
    assert list_models(tmp_path / "absent") == []


def bad_files(tmp_path: Path, default_model: Path) -> dict[str, tuple[Path, str]]:
    text = tmp_path / "notes.onnx"
    text.write_text("this is a text file, not a model\n")
    truncated = tmp_path / "truncated.onnx"
    truncated.write_bytes(default_model.read_bytes()[:1_000_000])
    return {
        "text": (text, "is not an ONNX model"),
        "truncated": (truncated, "is not an ONNX model"),
        "wrong shape": (
            wrong_shape_model(tmp_path / "classifier.onnx"),
            r"output 'output' is float32 \[1, 1000\], expected float32 \[batch, 3549, 5 \+ classes\]",
        ),
        "missing": (tmp_path / "absent.onnx", "cannot read model"),
    }


@pytest.mark.parametrize("kind", ["text", "truncated", "wrong shape", "missing"])
def test_unusable_files_are_refused_and_nothing_is_stored(tmp_path, default_model, kind) -> None:
    path, message = bad_files(tmp_path, default_model)[kind]
    store = tmp_path / "models"
    store.mkdir()
    with pytest.raises(ModelError, match=message) as error:
        import_model(store, path)
    assert str(path) in str(error.value)  # the message names the file
    assert list(store.iterdir()) == []
    assert list_models(store) == []
    # The detector refuses the same files the same way.
    with pytest.raises(ModelError, match=message):
        OnnxDetector(path)


def test_wrong_input_shape_is_refused(tmp_path) -> None:
    x = helper.make_tensor_value_info("images", TensorProto.FLOAT, [1, 1, 416, 416])  # grey
    y = helper.make_tensor_value_info("output", TensorProto.FLOAT, [1, 1, 416, 416])
    graph = helper.make_graph([helper.make_node("Identity", ["images"], ["output"])], "g", [x], [y])
    path = tmp_path / "grey.onnx"
    onnx.save(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 11)]), path)
    with pytest.raises(ModelError, match=r"grey.onnx: input 'images' is float32 \[1, 1, 416, 416\]"):
        import_model(tmp_path / "models", path)
