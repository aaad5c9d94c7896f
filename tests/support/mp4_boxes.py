"""Reading the boxes of a (fragmented) MP4 file, to check how the recorder cut it into fragments."""
from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

from vigia.appliance.encryption import open_media


def boxes(data: bytes) -> Iterator[tuple[bytes, bytes]]:
    """(type, payload) of each box in `data`, in order."""
    offset = 0
    while offset + 8 <= len(data):
        size, header = int.from_bytes(data[offset:offset + 4], "big"), 8
        if size == 1:
            size, header = int.from_bytes(data[offset + 8:offset + 16], "big"), 16
        yield data[offset + 4:offset + 8], data[offset + header:offset + size]
        offset += size


def child(data: bytes, *path: bytes) -> bytes:
    """The payload of the first box at `path` (types, outermost first) in `data`."""
    for kind, payload in boxes(data):
        if kind == path[0]:
            return payload if len(path) == 1 else child(payload, *path[1:])
    raise LookupError(f"no {b'/'.join(path).decode()} box")


def fragment_starts(path: Path, key: bytes | None = None) -> list[float]:
    """Stream time (s) at which each fragment of a (plain or encrypted) fragmented MP4 starts:
    its tfdt over the track's timescale."""
    with open_media(path, key) as media:
        data = media.read()
    mdhd = child(data, b"moov", b"trak", b"mdia", b"mdhd")
    timescale = int.from_bytes(mdhd[12:16] if mdhd[0] == 0 else mdhd[20:24], "big")
    starts = []
    for kind, payload in boxes(data):
        if kind == b"moof":
            tfdt = child(payload, b"traf", b"tfdt")
            starts.append(int.from_bytes(tfdt[4:8] if tfdt[0] == 0 else tfdt[4:12], "big") / timescale)
    return starts
