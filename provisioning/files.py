"""Small files the device keeps to itself: written whole (temp file, fsync, rename) with owner-only modes.

Run as root (the `vigia` CLI, the USB watcher), new files and folders take the owner of the folder they
are made in, so the appliance's own user (`vigia`, owner of /var/lib/vigia) can still read them.
"""
from __future__ import annotations

import os
import secrets
from pathlib import Path


def private_dir(path: Path) -> Path:
    """`path` as a folder only its owner can enter (made if missing, tightened if it was looser)."""
    if not path.is_dir():
        path.mkdir(mode=0o700, parents=True, exist_ok=True)
        _inherit_owner(path, lambda uid, gid: os.chown(path, uid, gid))
    if path.stat().st_mode & 0o077:
        os.chmod(path, 0o700)
    return path


def write_atomic(path: Path, data: bytes, mode: int = 0o600) -> None:
    """Replace `path` with `data` so that a crash leaves either the old file or the new one, never half."""
    os.replace(_write_temp(path, data, mode), path)
    sync_dir(path.parent)


def write_new(path: Path, data: bytes, mode: int = 0o600) -> None:
    """Create `path` whole; FileExistsError (and nothing written) when it already exists."""
    tmp = _write_temp(path, data, mode)
    try:
        os.link(tmp, path)
    finally:
        os.unlink(tmp)
    sync_dir(path.parent)


def open_private(path: Path) -> int:
    """A file descriptor on `path` (made 0600 if missing), for locks."""
    fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_NOFOLLOW, 0o600)
    _inherit_owner(path, lambda uid, gid: os.fchown(fd, uid, gid))
    return fd


def _write_temp(path: Path, data: bytes, mode: int) -> Path:
    tmp = path.with_name(f".{path.name}.{secrets.token_hex(6)}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, mode)
    try:
        os.fchmod(fd, mode)
        _inherit_owner(path, lambda uid, gid: os.fchown(fd, uid, gid))
        view = memoryview(data)
        while view:
            view = view[os.write(fd, view):]
        os.fsync(fd)
    finally:
        os.close(fd)
    return tmp


def sync_dir(path: Path) -> None:
    """Make the renames and new names in folder `path` durable."""
    fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _inherit_owner(path: Path, chown) -> None:
    if os.geteuid() == 0:
        parent = path.parent.stat()
        chown(parent.st_uid, parent.st_gid)
