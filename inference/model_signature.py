"""What central's model-signing key signs, and its check on the device: Ed25519 over the model's sha256 and size.

The message binds the exact bytes (sha256) and their length; the device checks it with the public key it got at
enrolment before it loads anything.
"""
from __future__ import annotations

import base64
import binascii

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey


class SignatureRefused(Exception):
    """The signature is missing, malformed, or not by the key the device trusts; the message says which."""


def signed_message(sha256: str, size: int) -> bytes:
    return f"vigia-model-v1\n{sha256}\n{size}\n".encode()


def sign_model(key: Ed25519PrivateKey, sha256: str, size: int) -> str:
    """The signature, base64."""
    return base64.b64encode(key.sign(signed_message(sha256, size))).decode()


def verify_model_signature(public_key_b64: str, signature_b64: str | None, sha256: str, size: int) -> None:
    """SignatureRefused unless `signature_b64` is the trusted key's signature over (sha256, size)."""
    if not signature_b64:
        raise SignatureRefused("unsigned: the model carries no signature")
    try:
        public = Ed25519PublicKey.from_public_bytes(base64.b64decode(public_key_b64, validate=True))
        signature = base64.b64decode(signature_b64, validate=True)
    except (binascii.Error, ValueError):
        raise SignatureRefused("malformed signature or public key (base64 Ed25519 expected)") from None
    try:
        public.verify(signature, signed_message(sha256, size))
    except InvalidSignature:
        raise SignatureRefused("bad signature: not signed by central's model-signing key, or the model was altered") from None
