"""Durable file writes: a file is replaced whole (temp file, fsync, rename, folder fsync) or not at all.

Modes are set before any byte is written; files default to owner-only (0600). Run as root (the `vigia` CLI,
the USB watcher), new files and folders take the owner of the folder they are made in, so the appliance's own
user (`vigia`, owner of /var/lib/vigia) can still read them.
"""
from __future__ import annotations

import os
import secrets
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

PRIVATE = 0o600   # keys and other secrets
PUBLIC = 0o644    # certificates and settings anyone on the machine may read


def private_dir(path: Path) -> Path:
    """`path` as a folder only its owner can enter (made if missing, tightened if it was looser)."""
    if not path.is_dir():
        path.mkdir(mode=0o700, parents=True, exist_ok=True)
        _inherit_owner(path, lambda uid, gid: os.chown(path, uid, gid))
    if path.stat().st_mode & 0o077:
        os.chmod(path, 0o700)
    return path


def write_atomic(path: Path, data: bytes, mode: int = PRIVATE) -> None:
    """Replace `path` with `data` so that a crash leaves either the old file or the new one, never half."""
    os.replace(_write_temp(path, data, mode), path)
    sync_dir(path.parent)


def write_credential(path: Path, data: bytes, mode: int) -> None:
    """A key (`PRIVATE`) or a certificate (`PUBLIC`) replacing `path` whole; its folder made 0700 when missing."""
    path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    write_atomic(path, data, mode)


def write_new(path: Path, data: bytes, mode: int = PRIVATE) -> None:
    """Create `path` whole; FileExistsError (and nothing written) when it already exists."""
    tmp = _write_temp(path, data, mode)
    try:
        os.link(tmp, path)
    finally:
        os.unlink(tmp)
    sync_dir(path.parent)


@contextmanager
def replacing(path: Path) -> Iterator[Path]:
    """A temporary name beside `path` for the block to write the new file to (and close it); when the block
    ends, that file replaces `path` and the folder is synced; when it raises, the temporary file goes."""
    tmp = temp_path(path)
    try:
        yield tmp
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    sync_dir(path.parent)


def open_private(path: Path) -> int:
    """A file descriptor on `path` (made 0600 if missing), for locks."""
    fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_NOFOLLOW, PRIVATE)
    _inherit_owner(path, lambda uid, gid: os.fchown(fd, uid, gid))
    return fd


def temp_path(path: Path) -> Path:
    """A hidden name in `path`'s folder that no other writer picks."""
    return path.with_name(f".{path.name}.{secrets.token_hex(8)}.tmp")


def write_all(fd: int, data) -> None:
    """Every byte of `data` to `fd` (os.write may write fewer)."""
    view = memoryview(data)
    while view:
        view = view[os.write(fd, view):]


def sync_dir(path: Path) -> None:
    """Make the renames and new names in folder `path` durable."""
    fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def sync_file(path: Path) -> None:
    """Make a file written through another handle (a media container, say) durable."""
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _write_temp(path: Path, data: bytes, mode: int) -> Path:
    tmp = temp_path(path)
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, mode)
    try:
        os.fchmod(fd, mode)
        _inherit_owner(path, lambda uid, gid: os.fchown(fd, uid, gid))
        write_all(fd, data)
        os.fsync(fd)
    finally:
        os.close(fd)
    return tmp


def _inherit_owner(path: Path, chown) -> None:
    if os.geteuid() == 0:
        parent = path.parent.stat()
        chown(parent.st_uid, parent.st_gid)
