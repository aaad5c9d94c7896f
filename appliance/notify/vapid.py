"""The device's VAPID key (RFC 8292): push services know the appliance by it.

A P-256 key made on first use, `<data_dir>/keys/vapid.pem` (PKCS#8 PEM, 0600 in a 0700 folder). Browsers subscribe
with its public half (`vigia.kit.vapid.application_server_key`); every push is signed with it.
"""
from __future__ import annotations

import contextlib
from pathlib import Path

from py_vapid import Vapid

from vigia.kit.files import PRIVATE, private_dir, write_new
from vigia.kit.vapid import new_vapid_pem, vapid_from_pem


def vapid_key_file(data_dir: Path) -> Path:
    return data_dir / "keys" / "vapid.pem"


def load_vapid(data_dir: Path) -> Vapid:
    """The device's VAPID signer, its key made the first time (another process making it at once: that one's wins)."""
    path = vapid_key_file(data_dir)
    if not path.exists():
        private_dir(path.parent)
        with contextlib.suppress(FileExistsError):
            write_new(path, new_vapid_pem(), PRIVATE)
    return vapid_from_pem(path.read_bytes(), str(path))
