"""An event's snapshot as a notification sends it: read (and decrypted) from the data directory, waited for a
moment when the camera thread is still writing it."""
from __future__ import annotations

import time
from pathlib import Path

from vigia.appliance.encryption import EncryptedReader, MediaCryptoError, open_media

SNAPSHOT_WAIT_S = 3.0  # a message whose snapshot is still being written waits this long (from queuing) for it


def read_snapshot(path: Path, media_key: bytes | None, wait_until: float | None = None) -> bytes | None:
    """The JPEG at `path`; None when it is not there (not written by `wait_until`, epoch seconds, or gone to
    retention). Raises OSError or MediaCryptoError when it cannot be read."""
    if wait_until is not None:
        while not path.exists() and time.time() < wait_until:
            time.sleep(0.1)
    try:
        with open_media(path, media_key) as media:
            if isinstance(media, EncryptedReader) and not media.complete:
                raise MediaCryptoError(f"{path}: incomplete")
            return media.read()
    except FileNotFoundError:
        return None
