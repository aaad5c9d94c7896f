"""The S3 copy of the database replica is encrypted for a key kept off the device.

age (X25519, ChaCha20-Poly1305; the pyrage binding of the rage implementation): the device holds only the
recipient (public key, `VIGIA_S3_RECIPIENT`), so neither a stolen device nor the bucket's owner can read the
history in the bucket; whoever restores brings the identity (private key) made by `vigia litestream keygen` on a
trusted machine. Each LTX file is one age file; decrypted, it is byte for byte what Litestream wrote, so a restore
decrypts into a file replica and lets Litestream read that (timestamps for a point in time included).
"""
from __future__ import annotations

from pathlib import Path

import pyrage


class ReplicaKeyError(ValueError):
    """A recipient or identity that cannot be used, with what to do about it."""


def new_identity() -> tuple[str, str]:
    """(identity, recipient): the private key to keep off the device, the public key the device encrypts for."""
    identity = pyrage.x25519.Identity.generate()
    return str(identity), str(identity.to_public())


def recipient(text: str) -> pyrage.x25519.Recipient:
    try:
        return pyrage.x25519.Recipient.from_str(text.strip())
    except pyrage.RecipientError as exc:
        raise ReplicaKeyError(f"VIGIA_S3_RECIPIENT is not an age public key (age1...): {exc}") from None


def identities(path: Path) -> list[pyrage.x25519.Identity]:
    """The identities in an identity file (`AGE-SECRET-KEY-1...` lines; comments and blank lines skipped)."""
    try:
        lines = path.read_text().splitlines()
    except OSError as exc:
        raise ReplicaKeyError(f"cannot read the identity file {path}: {exc.strerror}") from None
    found = []
    for number, line in enumerate(lines, start=1):
        line = line.strip()
        if line and not line.startswith("#"):
            try:
                found.append(pyrage.x25519.Identity.from_str(line))
            except pyrage.IdentityError:
                raise ReplicaKeyError(f"{path}: line {number}: not an age identity (AGE-SECRET-KEY-1...)") from None
    if not found:
        raise ReplicaKeyError(f"{path} holds no age identity")
    return found


def encrypt(data: bytes, to: pyrage.x25519.Recipient) -> bytes:
    return pyrage.encrypt(data, [to])


def decrypt(data: bytes, keys: list[pyrage.x25519.Identity], name: str) -> bytes:
    try:
        return pyrage.decrypt(data, keys)
    except pyrage.DecryptError as exc:
        raise ReplicaKeyError(f"{name} cannot be decrypted with the identity given ({exc}): is it the key this "
                        "device's replica was encrypted for?") from None
