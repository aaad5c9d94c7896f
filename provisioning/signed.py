"""Fleet signatures on provisioning files: Ed25519, detached.

`vigia-provision.yml` is signed as it is, byte for byte; the signature goes beside it in
`vigia-provision.yml.sig`, a short text file:

    vigia-signature: 1
    key: 3f2a9c0d1e4b5a67           # first 16 hex of the SHA-256 of the fleet public key (raw)
    signature: <base64 Ed25519 signature>

What is signed is `b"vigia-provisioning-v1\\0"` followed by the file's bytes, so a fleet signature cannot
be passed off for anything else. A detached file keeps the YAML exactly as written (no canonical form to
agree on) and lets a device verify the bytes before it parses any of them.
"""
from __future__ import annotations

import base64
import binascii
import hashlib
from dataclasses import dataclass
from pathlib import Path

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import (
    Ed25519PrivateKey,
    Ed25519PublicKey,
)

from vigia.kit.files import write_new

CONTEXT = b"vigia-provisioning-v1\0"
FORMAT = "1"


class SignatureError(Exception):
    """A provisioning file that is not signed, or not by the fleet key; the message says which."""


@dataclass(frozen=True)
class Signature:
    key_id: str
    value: bytes

    def text(self) -> str:
        return f"vigia-signature: {FORMAT}\nkey: {self.key_id}\nsignature: {base64.b64encode(self.value).decode()}\n"


def key_id(public: Ed25519PublicKey) -> str:
    raw = public.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    return hashlib.sha256(raw).hexdigest()[:16]


def keygen(private_path: Path) -> Path:
    """A new fleet key: `private_path` (PKCS#8 PEM, 0600) and its public half beside it (`.pub`)."""
    key = Ed25519PrivateKey.generate()
    public_path = private_path.with_name(private_path.name + ".pub")
    for path in (private_path, public_path):
        if path.exists():
            raise FileExistsError(f"{path} exists; a fleet key is never overwritten")
    write_new(private_path, key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                              serialization.NoEncryption()), 0o600)
    write_new(public_path, key.public_key().public_bytes(serialization.Encoding.PEM,
                                                         serialization.PublicFormat.SubjectPublicKeyInfo), 0o644)
    return public_path


def load_private_key(path: Path) -> Ed25519PrivateKey:
    try:
        key = serialization.load_pem_private_key(path.read_bytes(), password=None)
    except OSError as exc:
        raise SignatureError(f"cannot read signing key {path}: {exc.strerror or exc}") from None
    except (ValueError, TypeError):
        raise SignatureError(f"{path} is not an unencrypted PEM private key") from None
    if not isinstance(key, Ed25519PrivateKey):
        raise SignatureError(f"{path} is not an Ed25519 key")
    return key


def load_public_key(path: Path) -> Ed25519PublicKey:
    try:
        key = serialization.load_pem_public_key(path.read_bytes())
    except OSError as exc:
        raise SignatureError(f"cannot read fleet public key {path}: {exc.strerror or exc}") from None
    except ValueError:
        raise SignatureError(f"{path} is not a PEM public key") from None
    if not isinstance(key, Ed25519PublicKey):
        raise SignatureError(f"fleet public key {path} is not an Ed25519 key")
    return key


def sign(data: bytes, key: Ed25519PrivateKey) -> Signature:
    return Signature(key_id(key.public_key()), key.sign(CONTEXT + data))


def parse_signature(text: str, source: str) -> Signature:
    fields = {}
    for line in text.splitlines():
        name, sep, value = line.partition(":")
        if sep:
            fields[name.strip()] = value.strip()
    if fields.get("vigia-signature") != FORMAT or "key" not in fields or "signature" not in fields:
        raise SignatureError(f"{source} is not a Vigia signature file (vigia-signature: {FORMAT}, key, signature)")
    try:
        value = base64.b64decode(fields["signature"], validate=True)
    except binascii.Error:
        raise SignatureError(f"{source}: the signature is not base64") from None
    return Signature(fields["key"], value)


def verify(data: bytes, signature: Signature, trusted: Ed25519PublicKey, source: str) -> None:
    """Raise SignatureError unless `signature` is the trusted key's over `data`."""
    expected = key_id(trusted)
    if signature.key_id != expected:
        raise SignatureError(f"{source} is signed with key {signature.key_id}, not this device's fleet key {expected}")
    try:
        trusted.verify(signature.value, CONTEXT + data)
    except InvalidSignature:
        raise SignatureError(f"{source} does not match its signature: it was changed after signing") from None


def read_verified(path: Path, trusted: Ed25519PublicKey, signature_path: Path | None = None) -> bytes:
    """The bytes of `path`, once its detached signature (default `<path>.sig`) checks out."""
    signature_path = signature_path or path.with_name(path.name + ".sig")
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise SignatureError(f"cannot read {path}: {exc.strerror or exc}") from None
    try:
        signature_text = signature_path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise SignatureError(f"{path} is not signed: {signature_path} is missing") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise SignatureError(f"cannot read {signature_path}: {getattr(exc, 'strerror', None) or exc}") from None
    verify(data, parse_signature(signature_text, str(signature_path)), trusted, str(path))
    return data
