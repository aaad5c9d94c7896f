"""Setup state: `unclaimed` until someone proves they hold the device (claim code or a signed provisioning
file), `ready` after.

The claim code (`XXXX-XXXX-XXXX`, 60 bits from an alphabet without 0/O/1/I) is never written down: it is
derived from the device key and a per-setup nonce, so `vigia status` on the device can show it, while
`<data_dir>/identity/setup.json` (0600) keeps only its scrypt hash. The same file keeps the serial of the
last provisioning file applied, so an older file cannot be replayed.
"""
from __future__ import annotations

import fcntl
import hashlib
import hmac
import json
import os
import secrets
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass, replace
from pathlib import Path
from typing import Literal

from vigia.kit.files import open_private, private_dir, write_atomic
from vigia.provisioning.identity import DeviceIdentity, identity_dir

CODE_ALPHABET = "23456789ABCDEFGHJKLMNPQRSTUVWXYZ"  # 32 symbols: 5 bits each, nothing to misread
CODE_GROUPS, CODE_GROUP_LENGTH = 3, 4
SCRYPT = {"n": 2**14, "r": 8, "p": 1}

State = Literal["unclaimed", "ready"]


class SetupError(Exception):
    """The setup state cannot be read or changed; the message says why (never a claim code)."""


class ClaimError(SetupError):
    """A claim that is refused: wrong code, or already claimed."""


class StaleSerial(SetupError):
    """A provisioning file whose serial is not above the last one applied (replayed or out of date)."""


@dataclass(frozen=True)
class SetupState:
    state: State
    nonce: str             # hex; with the device key, gives the claim code
    code_salt: str         # hex
    code_hash: str         # hex scrypt of the normalised code
    claimed_at: float | None = None
    claimed_via: str | None = None   # "claim-code", "provisioning-file", "usb", ...
    provision_serial: int = 0        # serial of the last provisioning file applied


def setup_file(data_dir: str | os.PathLike) -> Path:
    return identity_dir(data_dir) / "setup.json"


def load_setup(data_dir: str | os.PathLike, identity: DeviceIdentity) -> SetupState:
    """The device's setup state, made `unclaimed` with a fresh claim code on the first call."""
    with _locked(data_dir):
        return _read_or_create(data_dir, identity)


def claim_code(identity: DeviceIdentity, setup: SetupState) -> str | None:
    """The code to type in to claim the device; None once it is claimed."""
    if setup.state != "unclaimed":
        return None
    return _derive_code(identity, bytes.fromhex(setup.nonce))


def claim(data_dir: str | os.PathLike, identity: DeviceIdentity, code: str, via: str = "claim-code") -> SetupState:
    """Mark the device claimed if `code` is its claim code (compared in constant time)."""
    with _locked(data_dir):
        setup = _read_or_create(data_dir, identity)
        if setup.state != "unclaimed":
            raise ClaimError("the device is already claimed")
        given = _hash_code(normalise_code(code), bytes.fromhex(setup.code_salt))
        if not hmac.compare_digest(given, bytes.fromhex(setup.code_hash)):
            raise ClaimError("wrong claim code")
        return _write(data_dir, replace(setup, state="ready", claimed_at=time.time(), claimed_via=via))


def mark_provisioned(data_dir: str | os.PathLike, identity: DeviceIdentity, serial: int, via: str,
                     apply: Callable[[], None] | None = None) -> SetupState:
    """Record a provisioning file's serial and mark the device claimed; refuses a serial not above the last.

    `apply` (writing the file's settings) runs after the serial is checked and before it is recorded,
    under the same lock, so two files applied at once cannot leave the older one's settings behind.
    """
    with _locked(data_dir):
        setup = _read_or_create(data_dir, identity)
        if serial <= setup.provision_serial:
            raise StaleSerial(f"provisioning serial {serial} is not newer than the last one applied "
                              f"({setup.provision_serial}): a replayed or out-of-date file")
        if apply is not None:
            apply()
        claimed_at = setup.claimed_at if setup.state == "ready" else time.time()
        return _write(data_dir, replace(setup, state="ready", claimed_at=claimed_at, claimed_via=via,
                                        provision_serial=serial))


def normalise_code(code: str) -> str:
    """The code as typed (any case, with or without dashes and spaces) in its canonical 12 characters."""
    compact = "".join(code.split()).replace("-", "").upper()
    wanted = CODE_GROUPS * CODE_GROUP_LENGTH
    if len(compact) != wanted or any(c not in CODE_ALPHABET for c in compact):
        raise ClaimError(f"a claim code is {wanted} characters from {CODE_ALPHABET} (dashes optional)")
    return compact


def _derive_code(identity: DeviceIdentity, nonce: bytes) -> str:
    value = int.from_bytes(hmac.digest(identity.secret(b"claim-code"), nonce, "sha256")[:8], "big")
    chars = [CODE_ALPHABET[(value >> (5 * i)) & 31] for i in range(CODE_GROUPS * CODE_GROUP_LENGTH)]
    return "-".join("".join(chars[g * CODE_GROUP_LENGTH:(g + 1) * CODE_GROUP_LENGTH]) for g in range(CODE_GROUPS))


def _hash_code(normalised: str, salt: bytes) -> bytes:
    return hashlib.scrypt(normalised.encode(), salt=salt, dklen=32, **SCRYPT)


def _new_setup(identity: DeviceIdentity) -> SetupState:
    nonce, salt = secrets.token_bytes(16), secrets.token_bytes(16)
    code = normalise_code(_derive_code(identity, nonce))
    return SetupState("unclaimed", nonce.hex(), salt.hex(), _hash_code(code, salt).hex())


def _read_or_create(data_dir: str | os.PathLike, identity: DeviceIdentity) -> SetupState:
    path = setup_file(data_dir)
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        return _write(data_dir, _new_setup(identity))
    except (OSError, ValueError) as exc:
        raise SetupError(f"cannot read setup state {path}: {exc}") from None
    try:
        setup = SetupState(**data)
    except TypeError as exc:
        raise SetupError(f"setup state {path} is damaged: {exc}") from None
    if setup.state not in ("unclaimed", "ready"):
        raise SetupError(f"setup state {path} is damaged: unknown state {setup.state!r}")
    return setup


def _write(data_dir: str | os.PathLike, setup: SetupState) -> SetupState:
    write_atomic(setup_file(data_dir), json.dumps(asdict(setup), indent=2).encode())
    return setup


@contextmanager
def _locked(data_dir: str | os.PathLike) -> Iterator[None]:
    """One read-modify-write of the setup state at a time, across processes (CLI, USB watcher, web UI)."""
    folder = private_dir(identity_dir(data_dir))
    fd = open_private(folder / "setup.lock")
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        os.close(fd)
