"""Applying a signed provisioning file: verify, check, write the settings, mark the device claimed.

What it writes, under the device's data dir:
- `config.yml` (0600: camera URLs carry passwords), the appliance config that `vigia run -c` reads;
- `provisioning/site.json` (0600): serial, site name and time zone, central URL and enrolment token.
The running appliance picks the new config up when it restarts.
"""
from __future__ import annotations

import json
import os
import time
from dataclasses import dataclass
from pathlib import Path

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from vigia.kit.files import private_dir, write_atomic
from vigia.provisioning.document import (
    Provisioning,
    ProvisioningError,
    parse_provisioning,
)
from vigia.provisioning.identity import load_or_create_identity
from vigia.provisioning.signed import read_verified
from vigia.provisioning.state import mark_provisioned


@dataclass(frozen=True)
class Applied:
    serial: int
    site: str
    cameras: int
    config_file: Path
    device_id: str


def config_file(data_dir: str | os.PathLike) -> Path:
    return Path(data_dir) / "config.yml"


def site_file(data_dir: str | os.PathLike) -> Path:
    return Path(data_dir) / "provisioning" / "site.json"


def apply_provisioning(path: Path, data_dir: str | os.PathLike, trusted: Ed25519PublicKey, via: str,
                       signature_path: Path | None = None) -> Applied:
    """Apply `path` to the device; raises SignatureError, ProvisioningError or StaleSerial, having changed nothing."""
    identity = load_or_create_identity(data_dir)
    provisioning = parse_provisioning(read_verified(path, trusted, signature_path), str(path))
    if not provisioning.applies_to(identity.device_id):
        raise ProvisioningError(f"{path} is for devices {', '.join(provisioning.devices or [])}, "
                                f"not this one ({identity.short_id})")
    mark_provisioned(data_dir, identity, provisioning.serial, via, apply=lambda: _write(provisioning, Path(data_dir)))
    return Applied(provisioning.serial, provisioning.site.name, len(provisioning.config.cameras),
                   config_file(data_dir), identity.device_id)


def _write(provisioning: Provisioning, data_dir: Path) -> None:
    site = {
        "serial": provisioning.serial,
        "applied_at": time.time(),
        "site": provisioning.site.model_dump(),
        "central": None if provisioning.central is None else {
            "url": str(provisioning.central.url), "enrolment_token": provisioning.central.enrolment_token},
    }
    private_dir(site_file(data_dir).parent)
    write_atomic(site_file(data_dir), json.dumps(site, indent=2).encode())
    header = f"# written by vigia provision (serial {provisioning.serial}); edits are replaced by the next one\n"
    write_atomic(config_file(data_dir), (header + provisioning.config_text).encode())
