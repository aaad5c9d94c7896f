"""The appliance on the LAN: announced over mDNS while it runs, its TXT `state` following the setup state.

The setup state can change in another process (`vigia provision`, the USB watcher, the web wizard), so
the file is watched rather than signalled.
"""
from __future__ import annotations

import logging
import os
import threading
from collections.abc import Sequence
from pathlib import Path

from vigia.provisioning.identity import load_or_create_identity
from vigia.provisioning.mdns import Advertiser, announcement_for
from vigia.provisioning.state import SetupError, load_setup, setup_file

log = logging.getLogger(__name__)


class LanPresence:
    def __init__(self, data_dir: str | os.PathLike, port: int, addresses: Sequence[str], interval: float = 2.0):
        self._data_dir = Path(data_dir)
        self._identity = load_or_create_identity(data_dir)
        self._interval = interval
        self._stop = threading.Event()
        setup = load_setup(data_dir, self._identity)
        self._seen = self._stamp()
        self.advertiser = Advertiser(announcement_for(self._identity, setup, port), addresses)
        log.info("announced on %s as %s.local (%s)", ", ".join(addresses), self._identity.hostname, setup.state)
        self._thread = threading.Thread(target=self._follow, name="mdns-state", daemon=True)
        self._thread.start()

    def close(self) -> None:
        self._stop.set()
        self._thread.join(timeout=5)
        self.advertiser.close()

    def _stamp(self) -> tuple[int, int] | None:
        try:
            st = setup_file(self._data_dir).stat()
        except FileNotFoundError:
            return None
        return st.st_mtime_ns, st.st_ino

    def _follow(self) -> None:
        while not self._stop.wait(self._interval):
            stamp = self._stamp()
            if stamp == self._seen:
                continue
            self._seen = stamp
            try:
                setup = load_setup(self._data_dir, self._identity)
            except SetupError as exc:
                log.error("mDNS state not updated: %s", exc)
                continue
            current = self.advertiser.announcement
            if setup.state != current.state:
                self.advertiser.update(announcement_for(self._identity, setup, current.port))
                log.info("mDNS state is now %s", setup.state)
