"""Media encryption at rest: AES-256-GCM in independently authenticated chunks.

Recorded segments and snapshots are stored in the VGM1 format below, so that HTTP range
requests and seeking (PyAV reading through `EncryptedReader`) decrypt only the chunks they touch,
and a power cut while recording leaves every chunk written before it readable.

File format, version 2 (all integers big-endian)::

    header, HEADER_LEN = 28 bytes:
        0   magic         4 bytes  b"VGM1"
        4   version       u16      2
        6   header_len    u16      28
        8   chunk_size    u32      plaintext bytes per chunk (default 65536)
        12  salt          16 bytes random, fresh for every file written
    chunks, from offset 28:
        chunk i = AES-256-GCM(file_key, nonce(i), plaintext[i * chunk_size : (i + 1) * chunk_size],
                              aad(i)) + 16-byte tag
        every chunk holds exactly chunk_size plaintext bytes except the last, which holds
        1..chunk_size (0 only in an empty file); chunk i starts at 28 + i * (chunk_size + 16).

    file_key = HKDF-SHA256(device key, salt=salt, info=b"vigia media v2", length=32)
    nonce(i) = u96(i)                                          (12 bytes: 8 zero bytes || u32(i))
    aad(i)   = header (28 bytes) || u32(i) || u8(final)       final = 1 on the last chunk only

Every file is encrypted under its own key, derived from the device key and the file's random
salt, so a (key, nonce) pair never repeats: the index is unique within a file (2**32 chunks =
256 TiB at 64 KiB), and two files share a key only if their 128-bit salts collide (about
n**2 / 2**129: 3e-23 for 150 million files, where version 1's 64-bit nonce prefixes under the one
device key gave 6e-4). `recover` re-encrypts under a new salt, never reusing a nonce of the old
file with a different final flag. The AAD binds each chunk to its file's header (no moving
chunks between files; a changed salt also changes the key), to its index (no reordering) and
to whether it ends the file (truncation is visible). A file whose last chunk is not flagged
final is *incomplete*: the writer stopped without `close()` (crash, power cut).
Only its last chunk may be torn; `EncryptedReader` then drops that chunk (keeping the chunks
before it) and `recover` rewrites the file so its last whole chunk is the final one.
A modified final chunk is indistinguishable from a torn one, so it too reads as incomplete:
callers that know a file is finished (snapshots, closed segments) must treat
`complete == False` as corruption. Any other bad chunk raises `TamperedError`.
Version 1 files (8-byte nonce prefix under the device key itself) are refused as `FormatError`.

The device key is 32 random bytes in a file of its own (`load_or_create_key`), never in the
database.
"""
from __future__ import annotations

import contextlib
import io
import os
import secrets
import stat
import struct
from pathlib import Path
from typing import BinaryIO

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.hashes import SHA256
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from vigia.kit.files import PRIVATE, replacing, sync_dir, write_all, write_new

MAGIC = b"VGM1"
VERSION = 2
KEY_LEN = 32
TAG_LEN = 16
DEFAULT_CHUNK_SIZE = 64 * 1024
MAX_CHUNK_SIZE = 16 * 1024 * 1024
MAX_CHUNKS = 2**32
SALT_LEN = 16
_KDF_INFO = b"vigia media v2"
_NONCE_LEN = 12
_HEADER = struct.Struct(f">4sHHI{SALT_LEN}s")
HEADER_LEN = _HEADER.size
_CHUNK_INFO = struct.Struct(">IB")


class MediaCryptoError(Exception):
    """Encrypted media could not be read or written."""


class KeyFileError(MediaCryptoError):
    """The media key file is unusable (permissions, length, type)."""


class FormatError(MediaCryptoError):
    """The file is not a readable VGM1 file (bad header, unsupported version)."""


class TamperedError(MediaCryptoError):
    """A chunk failed authentication: the file was modified or corrupted."""

    def __init__(self, path: str, chunk_index: int):
        super().__init__(f"{path}: chunk {chunk_index} failed authentication (tampered or corrupt)")
        self.path = path
        self.chunk_index = chunk_index


def load_or_create_key(path: str | os.PathLike) -> bytes:
    """Return the 32-byte media key at `path`, creating it (dir 0700, file 0600) if missing."""
    path = Path(path)
    if not path.exists():
        _create_key_file(path)
    return _read_key_file(path)


def _create_key_file(path: Path) -> None:
    if not path.parent.is_dir():
        path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
        os.chmod(path.parent, 0o700)
    with contextlib.suppress(FileExistsError):  # another process made it first: that key is the one
        write_new(path, secrets.token_bytes(KEY_LEN), PRIVATE)


def _read_key_file(path: Path) -> bytes:
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW)
    except OSError as exc:
        raise KeyFileError(f"key file {path}: cannot open ({exc.strerror})") from None
    try:
        info = os.fstat(fd)
        if not stat.S_ISREG(info.st_mode):
            raise KeyFileError(f"key file {path}: not a regular file")
        mode = stat.S_IMODE(info.st_mode)
        if mode & 0o077:
            raise KeyFileError(
                f"key file {path}: permissions {mode:04o} give group/other access; "
                f"it must be readable by its owner only (chmod 600)"
            )
        if info.st_size != KEY_LEN:
            raise KeyFileError(f"key file {path}: {info.st_size} bytes, expected {KEY_LEN}")
        key = os.read(fd, KEY_LEN + 1)
    finally:
        os.close(fd)
    if len(key) != KEY_LEN:
        raise KeyFileError(f"key file {path}: {len(key)} bytes, expected {KEY_LEN}")
    return key


class EncryptedWriter(io.RawIOBase):
    """Write-only, sequential VGM1 writer (creates or truncates `path`); each chunk reaches the
    file as soon as it is whole.

    The last chunk is held back until `close()`, which writes it flagged final and fsyncs the
    file and its directory. After a failed write (disk full) `close()` writes no final chunk:
    the file stays incomplete, for `recover`. Not seekable: PyAV then muxes as to a pipe.
    """

    def __init__(self, path: str | os.PathLike, key: bytes, chunk_size: int = DEFAULT_CHUNK_SIZE):
        super().__init__()
        self.name = os.fspath(path)
        self._file = None
        try:
            if not 1 <= chunk_size <= MAX_CHUNK_SIZE:
                raise ValueError(f"chunk_size must be in 1..{MAX_CHUNK_SIZE}, got {chunk_size}")
            self.chunk_size = chunk_size
            _check_key(key)
            salt = secrets.token_bytes(SALT_LEN)
            self._header = _HEADER.pack(MAGIC, VERSION, HEADER_LEN, chunk_size, salt)
            self._aead = _file_aead(key, salt)  # derived once: every chunk uses this file key
            self._pending = bytearray()
            self._index = 0
            self._written = 0
            self._failed = False
            self._file = open(path, "wb", buffering=0)
            write_all(self._file.fileno(), self._header)
        except BaseException:
            if self._file is not None:
                self._file.close()
                self._file = None
            super().close()  # nothing to finish: close() and __del__ must not write
            raise

    def writable(self) -> bool:
        return True

    def write(self, data) -> int:
        if self.closed or self._failed:
            raise ValueError("write to closed or failed EncryptedWriter")
        view = memoryview(data)
        size = view.nbytes
        self._pending += view
        self._written += size
        # Keep at least one byte back: only close() knows which chunk is the final one.
        whole = (len(self._pending) - 1) // self.chunk_size * self.chunk_size
        if whole > 0:
            try:
                with memoryview(self._pending) as pending:
                    for start in range(0, whole, self.chunk_size):
                        self._write_chunk(pending[start:start + self.chunk_size], final=False)
            except BaseException:
                self._failed = True  # the file may end in a torn chunk: never append after it
                raise
            del self._pending[:whole]
        return size

    def tell(self) -> int:
        return self._written

    def flush(self) -> None:
        """Whole chunks are already in the file; the pending partial chunk stays in memory."""
        if self.closed:
            raise ValueError("flush of closed EncryptedWriter")

    def close(self) -> None:
        if self.closed:
            return
        try:
            if not self._failed:
                self._write_chunk(self._pending, final=True)
            os.fsync(self._file.fileno())
            sync_dir(Path(self.name).parent)
        finally:
            self._pending = bytearray()
            self._file.close()
            super().close()

    def _write_chunk(self, plaintext, final: bool) -> None:
        if self._index >= MAX_CHUNKS:
            raise OverflowError(f"{self.name}: more than {MAX_CHUNKS} chunks")
        sealed = self._aead.encrypt(
            _nonce(self._index), plaintext, _aad(self._header, self._index, final)
        )
        write_all(self._file.fileno(), sealed)
        self._index += 1


class EncryptedReader(io.RawIOBase):
    """Random-access reader of a VGM1 file; decrypts only the chunks a read touches.

    `size` is the plaintext size and `complete` whether the file ends with its final chunk.
    For an incomplete file `size` covers the whole chunks before any torn last chunk.
    A chunk that fails authentication raises `TamperedError` when read.
    """

    def __init__(self, path: str | os.PathLike, key: bytes):
        super().__init__()
        self.name = os.fspath(path)
        self._file = None
        try:
            _check_key(key)
            self._file = open(path, "rb", buffering=0)
            self._header, self.chunk_size, salt = _read_header(self._file.fileno(), self.name)
            self._aead = _file_aead(key, salt)  # derived once: every chunk uses this file key
            self._pos = 0
            self._cached: tuple[int, bytes] = (-1, b"")
            self.size, self.complete = self._inspect_end(os.fstat(self._file.fileno()).st_size)
        except BaseException:
            self.close()
            raise

    def _inspect_end(self, file_size: int) -> tuple[int, bool]:
        """Authenticate the last stored chunk (two at most) and return (size, complete)."""
        stored_block = self.chunk_size + TAG_LEN
        stored = file_size - HEADER_LEN
        if stored == 0:
            return 0, False
        last = (stored - 1) // stored_block
        last_len = stored - last * stored_block
        blob = os.pread(self._file.fileno(), last_len, HEADER_LEN + last * stored_block)
        plaintext = self._open_chunk(blob, last, final=True)
        if plaintext is not None:
            self._cached = (last, plaintext)
            return last * self.chunk_size + len(plaintext), True
        if last_len == stored_block:
            plaintext = self._open_chunk(blob, last, final=False)
            if plaintext is not None:
                self._cached = (last, plaintext)
                return (last + 1) * self.chunk_size, False
        # A torn last chunk (crash mid-write); a crash cannot also damage the chunk before it.
        if last > 0:
            blob = os.pread(self._file.fileno(), stored_block, HEADER_LEN + (last - 1) * stored_block)
            plaintext = self._open_chunk(blob, last - 1, final=False)
            if plaintext is None:
                raise TamperedError(self.name, last - 1)
            self._cached = (last - 1, plaintext)
        return last * self.chunk_size, False

    def readable(self) -> bool:
        return True

    def seekable(self) -> bool:
        return True

    def tell(self) -> int:
        return self._pos

    def seek(self, offset: int, whence: int = io.SEEK_SET) -> int:
        if self.closed:
            raise ValueError("seek on closed EncryptedReader")
        if whence == io.SEEK_SET:
            position = offset
        elif whence == io.SEEK_CUR:
            position = self._pos + offset
        elif whence == io.SEEK_END:
            position = self.size + offset
        else:
            raise ValueError(f"invalid whence {whence}")
        if position < 0:
            raise ValueError(f"negative seek position {position}")
        self._pos = position
        return position

    def readinto(self, buffer) -> int:
        if self.closed:
            raise ValueError("read from closed EncryptedReader")
        with memoryview(buffer) as raw, raw.cast("B") as out:
            want = min(out.nbytes, max(0, self.size - self._pos))
            done = 0
            while done < want:
                index, offset = divmod(self._pos, self.chunk_size)
                plaintext = self._chunk(index)
                count = min(want - done, len(plaintext) - offset)
                out[done:done + count] = memoryview(plaintext)[offset:offset + count]
                done += count
                self._pos += count
        return done

    def readall(self) -> bytes:
        return self.read(max(0, self.size - self._pos))

    def close(self) -> None:
        if self._file is not None:
            self._file.close()
            self._file = None
            self._cached = (-1, b"")
        super().close()

    def _chunk(self, index: int) -> bytes:
        if self._cached[0] == index:
            return self._cached[1]
        start = index * self.chunk_size
        plain_len = min(self.chunk_size, self.size - start)
        final = self.complete and start + plain_len == self.size
        stored_block = self.chunk_size + TAG_LEN
        blob = os.pread(self._file.fileno(), plain_len + TAG_LEN, HEADER_LEN + index * stored_block)
        plaintext = self._open_chunk(blob, index, final)
        if plaintext is None or len(plaintext) != plain_len:
            raise TamperedError(self.name, index)
        self._cached = (index, plaintext)
        return plaintext

    def _open_chunk(self, blob: bytes, index: int, final: bool) -> bytes | None:
        if len(blob) < TAG_LEN:
            return None
        try:
            return self._aead.decrypt(_nonce(index), blob, _aad(self._header, index, final))
        except InvalidTag:
            return None


def is_encrypted(path: str | os.PathLike) -> bool:
    """Whether the file starts with the VGM1 magic."""
    with open(path, "rb") as file:
        return file.read(len(MAGIC)) == MAGIC


def open_media(path: str | os.PathLike, key: bytes | None) -> BinaryIO:
    """Open a media file for reading: plain files as they are, VGM1 files decrypted."""
    if not is_encrypted(path):
        return open(path, "rb")
    if key is None:
        raise MediaCryptoError(f"{os.fspath(path)} is encrypted and no media key was given")
    return EncryptedReader(path, key)


def write_encrypted(
    path: str | os.PathLike, data: bytes, key: bytes, chunk_size: int = DEFAULT_CHUNK_SIZE
) -> None:
    """Write a small file (a snapshot) encrypted, atomically: temp file, fsync, rename."""
    with replacing(Path(path)) as tmp, EncryptedWriter(tmp, key, chunk_size) as writer:
        writer.write(data)


def read_range(path: str | os.PathLike, key: bytes | None, start: int, end: int) -> bytes:
    """Plaintext bytes [start, end) of a media file (end exclusive, clamped to the size).

    HTTP `Range: bytes=a-b` is inclusive: serve it as read_range(path, key, a, b + 1).
    Works on plain files too (see `open_media`).
    """
    if start < 0 or end < start:
        raise ValueError(f"bad range [{start}, {end})")
    with open_media(path, key) as media:
        media.seek(start)
        return media.read(end - start)


def recover(path: str | os.PathLike, key: bytes) -> int:
    """Make an incomplete file (writer crashed) complete; return the plaintext size kept.

    The whole chunks are verified and re-encrypted under a fresh salt, hence a fresh file key
    (never reusing a nonce with a different final flag), into a temp file that replaces `path`. A torn last
    chunk is dropped. A complete file is left untouched. Raises TamperedError on a bad chunk.
    """
    path = Path(path)
    with EncryptedReader(path, key) as reader:
        if reader.complete:
            return reader.size
        with replacing(path) as tmp:
            with EncryptedWriter(tmp, key, reader.chunk_size) as writer:
                while chunk := reader.read(reader.chunk_size):
                    writer.write(chunk)
            os.chmod(tmp, stat.S_IMODE(os.stat(path).st_mode))
        return reader.size


def _read_header(fd: int, name: str) -> tuple[bytes, int, bytes]:
    """Return (header, chunk_size, salt) of a version-2 file."""
    header = os.pread(fd, HEADER_LEN, 0)
    if len(header) < len(MAGIC) or header[:len(MAGIC)] != MAGIC:
        raise FormatError(f"{name}: not an encrypted media file (no {MAGIC!r} header)")
    if len(header) < 8:
        raise FormatError(f"{name}: truncated header ({len(header)} bytes)")
    version, header_len = struct.unpack_from(">HH", header, len(MAGIC))
    if version != VERSION or header_len != HEADER_LEN:
        raise FormatError(f"{name}: unsupported format version {version} (header {header_len} bytes)")
    if len(header) < HEADER_LEN:
        raise FormatError(f"{name}: truncated header ({len(header)} of {HEADER_LEN} bytes)")
    _, _, _, chunk_size, salt = _HEADER.unpack(header)
    if not 1 <= chunk_size <= MAX_CHUNK_SIZE:
        raise FormatError(f"{name}: bad chunk size {chunk_size}")
    return header, chunk_size, salt


def _check_key(key: bytes) -> None:
    if not isinstance(key, (bytes, bytearray)) or len(key) != KEY_LEN:
        raise ValueError(f"media key must be {KEY_LEN} bytes (AES-256)")


def _file_aead(key: bytes, salt: bytes) -> AESGCM:
    """AES-256-GCM under this file's key: HKDF-SHA256(device key, salt, info=_KDF_INFO)."""
    _check_key(key)
    hkdf = HKDF(algorithm=SHA256(), length=KEY_LEN, salt=salt, info=_KDF_INFO)
    return AESGCM(hkdf.derive(bytes(key)))


def _nonce(index: int) -> bytes:
    """Chunk i's nonce: the index as 96 bits. Unique per file key, and every file has its own key."""
    return index.to_bytes(_NONCE_LEN, "big")


def _aad(header: bytes, index: int, final: bool) -> bytes:
    return header + _CHUNK_INFO.pack(index, final)

