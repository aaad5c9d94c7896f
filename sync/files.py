"""Writing key material: whole or not at all, with the mode set before any byte is written."""
from __future__ import annotations

from pathlib import Path

from vigia.provisioning.files import write_atomic


def write_file(path: Path, data: bytes, mode: int = 0o644) -> None:
    """Replace `path` with `data` (file mode `mode`, its folder made 0700 when missing)."""
    path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    write_atomic(path, data, mode)
