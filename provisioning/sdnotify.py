"""systemd's notification protocol (sd_notify), without libsystemd: one datagram per message to the
AF_UNIX socket named by NOTIFY_SOCKET (a path, or `@name` for the abstract namespace).

With `Type=notify` the service is "started" once it sends READY=1; with `WatchdogSec=` it must send
WATCHDOG=1 more often than WATCHDOG_USEC, or systemd kills and restarts it.
"""
from __future__ import annotations

import logging
import os
import socket
from collections.abc import Mapping
from dataclasses import dataclass

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Notifier:
    address: str  # NOTIFY_SOCKET as given

    def send(self, *assignments: str) -> bool:
        """Send `KEY=value` lines in one datagram; False (logged) when systemd's socket cannot be reached."""
        target = "\0" + self.address[1:] if self.address.startswith("@") else self.address
        with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM | socket.SOCK_CLOEXEC) as sock:
            try:
                sock.sendto("\n".join(assignments).encode(), target)
            except OSError as exc:
                log.warning("cannot notify systemd at %s: %s", self.address, exc.strerror or exc)
                return False
        return True


def notifier_from_env(environ: Mapping[str, str] = os.environ) -> Notifier | None:
    """The notifier when systemd asked for notifications (NOTIFY_SOCKET set), else None."""
    address = environ.get("NOTIFY_SOCKET", "")
    if not address or not address.startswith(("/", "@")):
        return None
    return Notifier(address)


def watchdog_period(environ: Mapping[str, str] = os.environ, pid: int | None = None) -> float | None:
    """Seconds between WATCHDOG=1 pings (half of WATCHDOG_USEC, as sd_watchdog_enabled advises); None if off
    or meant for another process (WATCHDOG_PID)."""
    usec = environ.get("WATCHDOG_USEC", "")
    owner = environ.get("WATCHDOG_PID", "")
    if not usec.isdigit() or int(usec) == 0:
        return None
    if owner and owner != str(pid if pid is not None else os.getpid()):
        return None
    return int(usec) / 2e6
