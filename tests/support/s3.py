"""An S3 protocol server for the tests: moto in server mode, on a free port of 127.0.0.1."""
from __future__ import annotations

import contextlib
from collections.abc import Iterator

from moto.server import ThreadedMotoServer

from vigia.app.devstack import free_port


@contextlib.contextmanager
def moto_s3() -> Iterator[str]:
    """Yields the endpoint URL; every bucket and object is gone when it stops."""
    port = free_port()
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
    server.start()
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.stop()
