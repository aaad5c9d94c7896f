"""The uploader inside the running appliance: its own thread and event loop, started when enrolled."""
from __future__ import annotations

import asyncio
import logging
import threading
from pathlib import Path

from prometheus_client import CollectorRegistry
from vigia.sync.commands import CommandHandlers, Commands
from vigia.sync.identity import Identity, client_context
from vigia.sync.media import MediaSource
from vigia.sync.metrics import SyncMetrics
from vigia.sync.uploader import Uploader, UploadSettings

log = logging.getLogger(__name__)


class SyncAgent:
    def __init__(self, identity: Identity, database: Path, registry: CollectorRegistry,
                 media: MediaSource, settings: UploadSettings | None = None, handlers: CommandHandlers | None = None):
        self._uploader = Uploader(database, identity.device_id, identity.central_url, client_context(identity),
                                  settings or UploadSettings(), SyncMetrics.create(registry), media=media,
                                  commands=Commands(identity, handlers) if handlers else None)
        self._loop = asyncio.new_event_loop()
        self._stop = asyncio.Event()
        self._thread = threading.Thread(target=self._run, name="sync-uploader", daemon=True)
        self._thread.start()
        log.info("sending to central at %s as device %s", identity.central_url, identity.device_id)

    def _run(self) -> None:
        try:
            self._loop.run_until_complete(self._uploader.run(self._stop))
        except Exception:
            log.exception("the uploader stopped on an unexpected error; the outbox keeps everything")
        finally:
            self._uploader.close()
            self._loop.close()

    def stop(self) -> None:
        if self._thread.is_alive():
            self._loop.call_soon_threadsafe(self._stop.set)
        self._thread.join(timeout=30)
