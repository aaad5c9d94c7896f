"""Writing key material: atomically, with the mode set before any byte is written."""
from __future__ import annotations

import os
import secrets
from pathlib import Path


def write_file(path: Path, data: bytes, mode: int = 0o644) -> None:
    """Replace `path` with `data` (file mode `mode`, its folder made 0700 when missing)."""
    path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{secrets.token_hex(8)}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, mode)
    try:
        with os.fdopen(fd, "wb") as file:
            os.fchmod(file.fileno(), mode)
            file.write(data)
            file.flush()
            os.fsync(file.fileno())
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
