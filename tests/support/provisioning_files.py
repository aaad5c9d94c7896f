"""Provisioning files for tests: a fleet key, and signed `vigia-provision.yml` files made with it."""
from __future__ import annotations

from pathlib import Path

import yaml
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from vigia.provisioning.signed import sign


def provisioning_doc(serial: int, site: str = "Warehouse 4", **extra) -> dict:
    return {
        "vigia_provisioning": 1,
        "serial": serial,
        "site": {"name": site, "timezone": "Europe/Lisbon"},
        "central": {"url": "https://central.example.com", "enrolment_token": "enrol-0123456789abcdef"},
        "config": {"cameras": [{
            "name": "gate", "url": "rtsp://viewer:secret@10.0.0.5/s1", "record": {"mode": "continuous"},
            "zones": [{"name": "door", "polygon": [[0.4, 0.4], [0.6, 0.4], [0.6, 0.9]]}],
            "rules": [{"name": "entry", "type": "enter", "zone": "door"}],
        }]},
        **extra,
    }


def write_signed(folder: Path, doc: dict, key: Ed25519PrivateKey | None, name: str = "vigia-provision.yml") -> Path:
    """`folder/name` with `doc` as YAML and, when `key` is given, its detached signature beside it."""
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / name
    data = yaml.safe_dump(doc, sort_keys=False).encode()
    path.write_bytes(data)
    if key is not None:
        path.with_name(name + ".sig").write_text(sign(data, key).text())
    return path
