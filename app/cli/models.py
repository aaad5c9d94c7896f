"""`vigia models import|list`: the model store (validated ONNX files, content-addressed by sha256)."""
from __future__ import annotations

import argparse
import json
from pathlib import Path

from vigia.app.cli.common import DATA_DIR_HELP
from vigia.appliance.config import Storage


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
        print(f"{m.name:24} sha256:{m.sha256[:12]}  input {m.input_shape}  classes {m.num_classes}")
    return 0
