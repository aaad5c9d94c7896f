"""The serve loop both servers share: an aiohttp application on a TCP site until it is told to stop."""
from __future__ import annotations

import asyncio
import signal
import ssl
import threading
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from aiohttp import web


@asynccontextmanager
async def running(app: web.Application, host: str, port: int, ssl_context: ssl.SSLContext | None = None,
                  **runner_options) -> AsyncIterator[None]:
    """`app` answering on host:port (HTTPS with `ssl_context`) while the block runs; cleaned up after it."""
    runner = web.AppRunner(app, **runner_options)
    await runner.setup()
    try:
        await web.TCPSite(runner, host, port, ssl_context=ssl_context).start()
        yield
    finally:
        await runner.cleanup()


async def until_signalled(signals: tuple[signal.Signals, ...] = (signal.SIGTERM, signal.SIGINT)) -> None:
    """Return when the process gets one of `signals` (a second one, while shutting down, is ignored)."""
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in signals:
        loop.add_signal_handler(sig, stop.set)
    await stop.wait()


async def until_set(event: threading.Event | None, poll: float = 0.5) -> None:
    """Return when another thread sets `event` (never when it is None)."""
    while event is None or not event.is_set():
        await asyncio.sleep(poll)
