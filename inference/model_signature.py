"""What central's model-signing key signs, and its check on the device: Ed25519 over the model's sha256 and size.

The message binds the exact bytes (sha256) and their length; the device checks it with the public key it got at
enrolment before it loads anything. The same key signs the appliance's own software releases: the message names
what it signs (`purpose`), so a model's signature never passes for a release's, nor the other way round.
"""
from __future__ import annotations

import base64
import binascii

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey


class SignatureRefused(Exception):
    """The signature is missing, malformed, or not by the key the device trusts; the message says which."""


def signed_message(sha256: str, size: int, purpose: str = "model") -> bytes:
    return f"vigia-{purpose}-v1\n{sha256}\n{size}\n".encode()


def sign_model(key: Ed25519PrivateKey, sha256: str, size: int, purpose: str = "model") -> str:
    """The signature, base64 (`purpose`: "model", or "software" for a release of Vigia itself)."""
    return base64.b64encode(key.sign(signed_message(sha256, size, purpose))).decode()


def verify_model_signature(public_key_b64: str, signature_b64: str | None, sha256: str, size: int,
                           purpose: str = "model") -> None:
    """SignatureRefused unless `signature_b64` is the trusted key's signature over (purpose, sha256, size)."""
    if not signature_b64:
        raise SignatureRefused(f"unsigned: the {purpose} carries no signature")
    try:
        public = Ed25519PublicKey.from_public_bytes(base64.b64decode(public_key_b64, validate=True))
        signature = base64.b64decode(signature_b64, validate=True)
    except (binascii.Error, ValueError):
        raise SignatureRefused("malformed signature or public key (base64 Ed25519 expected)") from None
    try:
        public.verify(signature, signed_message(sha256, size, purpose))
    except InvalidSignature:
        raise SignatureRefused(f"bad signature: not signed by central's model-signing key, or the {purpose} was"
                               " altered") from None
