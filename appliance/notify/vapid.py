"""The device's VAPID key (RFC 8292): push services know the appliance by it.

A P-256 key made on first use, `<data_dir>/keys/vapid.pem` (PKCS#8 PEM, 0600 in a 0700 folder). Browsers subscribe
with its public half (`application_server_key`); every push is signed with it.
"""
from __future__ import annotations

import base64
import contextlib
from pathlib import Path

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec
from py_vapid import Vapid

from vigia.kit.files import PRIVATE, private_dir, write_new


def vapid_key_file(data_dir: Path) -> Path:
    return data_dir / "keys" / "vapid.pem"


def load_vapid(data_dir: Path) -> Vapid:
    """The device's VAPID signer, its key made the first time (another process making it at once: that one's wins)."""
    path = vapid_key_file(data_dir)
    if not path.exists():
        private_dir(path.parent)
        key = ec.generate_private_key(ec.SECP256R1())
        pem = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
        with contextlib.suppress(FileExistsError):
            write_new(path, pem, PRIVATE)
    key = serialization.load_pem_private_key(path.read_bytes(), password=None)
    if not isinstance(key, ec.EllipticCurvePrivateKey) or not isinstance(key.curve, ec.SECP256R1):
        raise ValueError(f"{path}: not a P-256 private key")
    return Vapid(key)


def application_server_key(vapid: Vapid) -> str:
    """The public key as browsers' PushManager.subscribe() takes it: the uncompressed point, base64url, unpadded."""
    raw = vapid.public_key.public_bytes(serialization.Encoding.X962, serialization.PublicFormat.UncompressedPoint)
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()
