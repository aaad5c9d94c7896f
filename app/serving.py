"""The appliance's HTTP at the edge: /healthz, /metrics and the guards' API (vigia.local_ui.server), over TLS
unless `http.tls` is false."""
from __future__ import annotations

import asyncio
import logging
import threading
from collections.abc import Iterator
from contextlib import contextmanager

from vigia.app.appliance import Appliance
from vigia.kit.serve import running, until_set
from vigia.local_ui.server import create_app
from vigia.local_ui.tls import fingerprint, server_context, tls_files

log = logging.getLogger(__name__)


@contextmanager
def serving(appliance: Appliance, host: str = "127.0.0.1", port: int | None = None) -> Iterator[None]:
    """`serve` in a thread of its own until the block ends (benchmarks and tests); raises if it cannot start."""
    port = appliance.config.http.port if port is None else port
    stop, started, failed = threading.Event(), threading.Event(), []

    def run() -> None:
        try:
            asyncio.run(serve(appliance, host, port, until=stop, started=started))
        except BaseException as exc:  # noqa: BLE001 - re-raised in the caller's thread
            failed.append(exc)
            started.set()

    thread = threading.Thread(target=run, name="http", daemon=True)
    thread.start()
    started.wait(60)
    if failed or not started.is_set():
        stop.set()
        raise RuntimeError(f"the HTTP server did not start: {failed[0] if failed else 'timeout'}")
    try:
        yield
    finally:
        stop.set()
        thread.join(15)


async def serve(appliance: Appliance, host: str, port: int, until: threading.Event | None = None,
                started: threading.Event | None = None) -> None:
    """Serve the appliance's HTTP endpoints until `until` is set (or forever): HTTPS unless `http.tls` is false."""
    http = appliance.config.http
    ssl_context = None
    if http.tls:
        files = tls_files(http, appliance.config.storage.data_dir)
        ssl_context = server_context(files)
        if files.self_signed:
            log.info("TLS certificate %s (self-signed, SHA-256 %s)", files.certificate, fingerprint(files.certificate))
    elif host not in ("127.0.0.1", "::1", "localhost"):
        log.warning("serving plain HTTP on %s: only behind a reverse proxy that terminates TLS", host)
    async with running(create_app(appliance, appliance.config), host, port, ssl_context, access_log=None):
        log.info("serving %s://%s:%d (the API under /api/v1/, /metrics and /healthz)",
                 "https" if ssl_context else "http", host, port)
        if started is not None:
            started.set()
        await until_set(until)
