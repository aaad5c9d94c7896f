"""VAPID keys (RFC 8292) as PEM text, shared by the appliance's push and central's alert push."""
from __future__ import annotations

import base64

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec
from py_vapid import Vapid


def new_vapid_pem() -> bytes:
    """A new P-256 private key, PKCS#8 PEM."""
    key = ec.generate_private_key(ec.SECP256R1())
    return key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())


def vapid_from_pem(pem: bytes, where: str) -> Vapid:
    """The signer of a P-256 private key (`where`: the key's place, for the error)."""
    key = serialization.load_pem_private_key(pem, password=None)
    if not isinstance(key, ec.EllipticCurvePrivateKey) or not isinstance(key.curve, ec.SECP256R1):
        raise ValueError(f"{where}: not a P-256 private key")
    return Vapid(key)


def application_server_key(vapid: Vapid) -> str:
    """The public key as browsers' PushManager.subscribe() takes it: the uncompressed point, base64url, unpadded."""
    raw = vapid.public_key.public_bytes(serialization.Encoding.X962, serialization.PublicFormat.UncompressedPoint)
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()
