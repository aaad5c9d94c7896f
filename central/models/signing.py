"""Central's model-signing key (Ed25519): made once in central's CA folder, its private half never leaves central.

Devices get the public half (raw, base64) in the enrolment answer and check every model with it.
"""
from __future__ import annotations

import base64
import contextlib
from pathlib import Path

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from vigia.kit.files import PRIVATE, write_new

KEY_FILE = "model-signing.key"


def load_or_create_signing_key(ca_dir: Path) -> Ed25519PrivateKey:
    """The key in `ca_dir`, made at first use (created exclusively: central instances starting together share one)."""
    path = Path(ca_dir) / KEY_FILE
    if not path.exists():
        key = Ed25519PrivateKey.generate()
        with contextlib.suppress(FileExistsError):
            write_new(path, key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                              serialization.NoEncryption()), PRIVATE)
    key = serialization.load_pem_private_key(path.read_bytes(), password=None)
    if not isinstance(key, Ed25519PrivateKey):
        raise ValueError(f"{path} is not an Ed25519 private key")
    return key


def public_key_b64(key: Ed25519PrivateKey) -> str:
    raw = key.public_key().public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    return base64.b64encode(raw).decode()
