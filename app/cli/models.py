"""`vigia models import|list|quantize`: the model store (validated ONNX files, content-addressed by sha256)."""
from __future__ import annotations

import argparse
import json
from pathlib import Path

from vigia.app.cli.common import DATA_DIR_HELP, CliError, add_config_argument
from vigia.appliance.config import Detector, Storage, load_config


def add_commands(commands: argparse._SubParsersAction) -> None:
    models = commands.add_parser("models", help="the model store").add_subparsers(metavar="ACTION")
    imp = models.add_parser("import", help="validate a model file and add it to the store")
    imp.add_argument("path", type=Path)
    imp.add_argument("--store", type=Path, help=f"default: <data dir>/models, the data dir being {DATA_DIR_HELP}")
    imp.set_defaults(handler=_import)
    listing = models.add_parser("list", help="list the models in the store")
    listing.add_argument("--store", type=Path)
    listing.add_argument("--json", action="store_true")
    listing.set_defaults(handler=_list)
    _add_quantize(models)


def _add_quantize(models: argparse._SubParsersAction) -> None:
    q = models.add_parser(
        "quantize", help="an INT8 model calibrated on the cameras' footage, checked against FP32, then stored",
        description="Calibrate a static INT8 (QDQ) version of the detector on frames of the cameras' own footage, "
                    "compare it with the FP32 model on other frames of the same footage, and add it to the model "
                    "store only when it agrees; select it with `detector: {model: NAME}` in the config.")
    q.add_argument("sources", nargs="*", metavar="SOURCE",
                   help="video files (e.g. made with `vigia export`) or camera URLs; default: the config's enabled cameras")
    add_config_argument(q, "cameras, detector settings and model store")
    q.add_argument("--model", help="base model: a store name, sha256 prefix or .onnx file (default: the config's)")
    q.add_argument("--name", help="name in the store (default: the base's name + '-int8')")
    # Defaults (None here) are those of vigia.inference.int8's Footage and Thresholds, and QuantizeOptions.
    q.add_argument("--frames", type=int, dest="calibration_frames", metavar="N", help="calibration frames, over all sources (64)")
    q.add_argument("--check-frames", type=int, dest="checked_frames", metavar="N",
                   help="held-out frames the INT8 model is compared with FP32 on (32)")
    q.add_argument("--spacing", type=float, metavar="S",
                   help="seconds between frames taken from a live camera (2; files are sampled over their length)")
    q.add_argument("--calibration", choices=["minmax", "entropy", "percentile", "distribution"])
    q.add_argument("--min-recall", type=float, help="share of the FP32 model's boxes it must find (0.9)")
    q.add_argument("--min-precision", type=float, help="share of its boxes the FP32 model must have (0.9)")
    q.add_argument("--max-score-delta", type=float, help="largest mean score difference of matched boxes (0.05)")
    q.add_argument("--store", type=Path, help="default: the config's model store, else <data dir>/models")
    q.add_argument("--json", action="store_true")
    q.set_defaults(handler=_quantize)


def _store(path: Path | None) -> Path:
    return path or Storage().models


def _import(args) -> int:
    from vigia.inference.model_store import import_model

    info = import_model(_store(args.store), args.path)
    print(f"imported {info.name} sha256:{info.sha256[:12]} input {info.input_shape} classes {info.num_classes}")
    return 0


def _list(args) -> int:
    from dataclasses import asdict

    from vigia.inference.model_store import list_models

    models = list_models(_store(args.store))
    if args.json:
        print(json.dumps([asdict(m) for m in models], default=str))
        return 0
    for m in models:
        derived = f"  from {m.lineage.base_name} sha256:{m.lineage.base_sha256[:12]}" if m.lineage else ""
        print(f"{m.name:24} sha256:{m.sha256[:12]}  input {m.input_shape}  classes {m.num_classes}{derived}")
    return 0


def _given(args, *names: str) -> dict:
    """The options among `names` given on the command line (the others keep their dataclass defaults)."""
    return {name: getattr(args, name) for name in names if getattr(args, name) is not None}


def _quantize(args) -> int:
    from dataclasses import asdict

    from vigia.inference.coco import COCO_CLASSES
    from vigia.inference.int8 import Detection, Footage, Thresholds, install_int8
    from vigia.inference.model_store import resolve
    from vigia.inference.quantize import QuantizeOptions

    config = load_config(args.config) if args.config else None
    detector = config.detector if config else Detector()
    store = args.store or (config.storage.models if config else Storage().models)
    sources = args.sources or [c.detect_url for c in (config.cameras if config else []) if c.enabled]
    if not sources:
        raise CliError("no footage: give video files or camera URLs, or a config (-c) with enabled cameras", 2)
    footage = Footage(sources, **_given(args, "calibration_frames", "checked_frames", "spacing"))
    info, agreement = install_int8(
        store, resolve(store, args.model or detector.model), footage, name=args.name,
        options=QuantizeOptions(**_given(args, "calibration")),
        thresholds=Thresholds(**_given(args, "min_recall", "min_precision", "max_score_delta")),
        detection=Detection(detector.score_threshold, frozenset(COCO_CLASSES.index(c) for c in detector.classes)),
    )
    if args.json:
        print(json.dumps({"model": asdict(info), "agreement": asdict(agreement)}, default=str))
        return 0
    print(f"installed {info.name} sha256:{info.sha256[:12]} ({info.lineage.method})")
    print(f"against {info.lineage.base_name} on {agreement.images} held-out frames: recall {agreement.recall:.3f}, "
          f"precision {agreement.precision:.3f}, mean score delta {agreement.mean_score_delta:.3f}")
    print(f"select it with `detector: {{model: {info.name}}}` in the config")
    return 0
