"""Start-up repair: what a crash left behind in the recordings table and under media/."""
from __future__ import annotations

import logging
import os
from pathlib import Path
from typing import BinaryIO

import av
import sqlite_utils

from vigia.appliance.encryption import EncryptedReader, EncryptedWriter, MediaCryptoError, open_media
from vigia.appliance.recording.mp4 import file_size
from vigia.appliance.transactions import write_transaction
from vigia.kit.files import replacing

log = logging.getLogger(__name__)


def reconcile(db: sqlite_utils.Database, data_dir: str | Path, key: bytes | None) -> dict[str, int]:
    """Repair what a crash left behind; run at start-up before any recorder.

    - rows left 'writing': the file is cut back to its last whole fragment (an encrypted one is
      rewritten complete) and the row becomes 'complete', with its end from the last packet, or
      'damaged' when no packet is left (or the file cannot be read);
    - rows whose file is missing are deleted (events pointing to them as clip lose the link);
    - files under media/ that no row names are deleted: the recorder inserts a row before it
      creates a file and retention deletes a file before its row, so such a file is an
      unfinished temporary (a clip being assembled) or a stray, never footage known to the
      appliance. Empty directories go too.

    Returns counts: completed, damaged, missing (rows deleted), orphans (files deleted).
    """
    data_dir = Path(data_dir)
    counts = {"completed": 0, "damaged": 0, "missing": _delete_rows_without_files(db, data_dir), "orphans": 0}
    for row in list(db.query("select id, path, start, encrypted from recordings where state = 'writing'")):
        path = data_dir / row["path"]
        try:
            end = _repair_segment(path, key if row["encrypted"] else None, row["start"])
        except (av.FFmpegError, MediaCryptoError, OSError, IndexError) as exc:
            log.error("reconcile: %s is unreadable: %s", path, exc)
            end = None
        state = "complete" if end is not None else "damaged"
        counts["completed" if end is not None else "damaged"] += 1
        db.execute("update recordings set state = ?, end = ?, bytes = ? where id = ?",
                   [state, end, file_size(path), row["id"]])
        log.info("reconcile: %s left by a crash is now %s", row["path"], state)
    counts["orphans"] = _delete_orphan_files(db, data_dir)
    return counts


def _delete_rows_without_files(db: sqlite_utils.Database, data_dir: Path) -> int:
    gone: list[str] = []
    directory, names = None, set()
    for row in db.query("select id, path from recordings order by path"):
        parent, _, name = row["path"].rpartition("/")
        if parent != directory:  # rows come sorted by path: each directory is listed once
            directory = parent
            try:
                names = set(os.listdir(data_dir / parent))
            except OSError:
                names = set()
        if name not in names:
            gone.append(row["id"])
    for first in range(0, len(gone), 500):
        batch = gone[first:first + 500]
        marks = ",".join("?" * len(batch))
        with write_transaction(db.conn):
            db.execute(f"update events set clip = null where clip in ({marks})", batch)
            db.execute(f"delete from recordings where id in ({marks})", batch)
    if gone:
        log.warning("reconcile: %d recordings had no file and were removed", len(gone))
    return len(gone)


def _delete_orphan_files(db: sqlite_utils.Database, data_dir: Path) -> int:
    """Files under media/ that no recording names, but for clips queued for central (vigia.sync.media)."""
    media = data_dir / "media"
    queued = {path for (path,) in db.execute("select json_extract(body, '$.path') from outbox where kind = 'clip'")}
    removed = 0
    for directory, _subdirectories, files in os.walk(media, topdown=False):
        if files:
            prefix = Path(directory).relative_to(data_dir).as_posix() + "/"
            known = {
                path[len(prefix):] for (path,) in db.execute(
                    "select path from recordings where path >= ? and path < ?", [prefix, prefix[:-1] + "0"])
            }
            for name in files:
                if name not in known and prefix + name not in queued:
                    os.unlink(os.path.join(directory, name))
                    log.warning("reconcile: removed %s: no recording names it", os.path.join(directory, name))
                    removed += 1
        if directory != str(media) and not os.listdir(directory):
            os.rmdir(directory)
    return removed


def _repair_segment(path: Path, key: bytes | None, start: float) -> float | None:
    """Cut an unfinished segment back to its last whole fragment; its end (wall clock), None if nothing is left."""
    with open_media(path, key) as media:
        size = media.seek(0, os.SEEK_END)
        keep = _whole_boxes_end(media, size)
        complete = not isinstance(media, EncryptedReader) or media.complete
    if keep == 0:  # not one whole box reached the disk (an encrypted writer holds the first 64 KiB back)
        return None
    if key is None:
        if keep < size:
            os.truncate(path, keep)
    elif keep < size or not complete:
        _rewrite_encrypted(path, key, keep)
    with open_media(path, key) as media, av.open(media) as container:
        stream = container.streams.video[0]
        first = last = None
        for packet in container.demux(stream):
            if packet.dts is not None:
                first = packet.dts if first is None else first
                last = packet.dts + (packet.duration or 0)
    return None if first is None else start + float((last - first) * stream.time_base)


def _whole_boxes_end(media: BinaryIO, size: int) -> int:
    """The offset just past the last whole top-level MP4 box (a moof counts only with the mdat after it)."""
    offset = keep = 0
    while offset + 8 <= size:
        media.seek(offset)
        header = media.read(16)
        box_size, box_type = int.from_bytes(header[:4], "big"), header[4:8]
        if box_size == 1 and len(header) == 16:
            box_size = int.from_bytes(header[8:16], "big")
        if box_size < 8 or offset + box_size > size:
            break
        offset += box_size
        if box_type != b"moof":
            keep = offset
    return keep


def _rewrite_encrypted(path: Path, key: bytes, length: int) -> None:
    """Replace an encrypted file with its first `length` plaintext bytes, complete (fresh nonces)."""
    with replacing(path) as tmp, EncryptedReader(path, key) as reader, \
            EncryptedWriter(tmp, key, reader.chunk_size) as writer:
        left = length
        while left > 0:
            chunk = reader.read(min(reader.chunk_size, left))
            writer.write(chunk)
            left -= len(chunk)
