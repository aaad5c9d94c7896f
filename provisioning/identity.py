"""The device's identity: an Ed25519 key made at first start, and the ids derived from its public key.

The key is `<data_dir>/identity/device.key` (PKCS#8 PEM, 0600, in a 0700 folder); it never leaves the
device. `device_id` is the SHA-256 of the raw public key in hex; `short_id`, its first 8 characters,
names the device to people and on the network (`vigia-<short_id>.local`).
"""
from __future__ import annotations

import hashlib
import os
from dataclasses import dataclass
from pathlib import Path

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from vigia.kit.files import private_dir, write_new

SHORT_ID_LENGTH = 8


class IdentityError(Exception):
    """The device key cannot be read or made; the message names the file."""


@dataclass(frozen=True)
class DeviceIdentity:
    """The device's Ed25519 key (private: it never leaves the device) and the ids derived from it."""

    key: Ed25519PrivateKey
    key_file: Path

    @property
    def public_bytes(self) -> bytes:
        return self.key.public_key().public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)

    @property
    def device_id(self) -> str:
        return hashlib.sha256(self.public_bytes).hexdigest()

    @property
    def short_id(self) -> str:
        return self.device_id[:SHORT_ID_LENGTH]

    @property
    def hostname(self) -> str:
        return f"vigia-{self.short_id}"

    def secret(self, label: bytes) -> bytes:
        """32 bytes derived from the private key for one purpose (`label`), so no other secret need be stored."""
        raw = self.key.private_bytes(serialization.Encoding.Raw, serialization.PrivateFormat.Raw,
                                     serialization.NoEncryption())
        return hashlib.blake2b(label, key=raw, digest_size=32, person=b"vigia-identity").digest()


def identity_dir(data_dir: str | os.PathLike) -> Path:
    return Path(data_dir) / "identity"


def load_or_create_identity(data_dir: str | os.PathLike) -> DeviceIdentity:
    """The device's identity, made on the first call (an existing key is never replaced)."""
    key_file = identity_dir(data_dir) / "device.key"
    if not key_file.exists():
        private_dir(key_file.parent)
        pem = Ed25519PrivateKey.generate().private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
        try:
            write_new(key_file, pem, 0o600)
        except FileExistsError:
            pass  # another process made it first: use theirs
    return DeviceIdentity(_read_key(key_file), key_file)


def _read_key(path: Path) -> Ed25519PrivateKey:
    try:
        mode = path.stat().st_mode
        if mode & 0o077:
            raise IdentityError(f"device key {path} is readable by others (mode {mode & 0o777:o}); it must be 0600")
        key = serialization.load_pem_private_key(path.read_bytes(), password=None)
    except OSError as exc:
        raise IdentityError(f"cannot read device key {path}: {exc.strerror or exc}") from None
    except ValueError:
        raise IdentityError(f"device key {path} is not a PEM private key (damaged?)") from None
    if not isinstance(key, Ed25519PrivateKey):
        raise IdentityError(f"device key {path} is not an Ed25519 key")
    return key
