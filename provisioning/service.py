"""What runs beside the appliance's HTTP server: its identity and setup state (made at first start), its
mDNS announcement (when it serves beyond loopback) and systemd's notifications (READY, then watchdog
pings from the event loop, so a hung loop gets the service restarted)."""
from __future__ import annotations

import asyncio
import ipaddress
import logging
import os
import threading
from collections.abc import Awaitable, Mapping

from vigia.appliance.config import Config
from vigia.provisioning.identity import IdentityError, load_or_create_identity
from vigia.provisioning.mdns import MdnsError, advertised_addresses
from vigia.provisioning.presence import LanPresence
from vigia.provisioning.sdnotify import Notifier, notifier_from_env, watchdog_period
from vigia.provisioning.state import SetupError, claim_code, load_setup

log = logging.getLogger(__name__)


async def around_serving(server: Awaitable[None], config: Config, until: threading.Event,
                         environ: Mapping[str, str] = os.environ) -> None:
    """Run `server` (the appliance's HTTP serving coroutine) with identity, mDNS and systemd around it."""
    data_dir, http = config.storage.data_dir, config.http
    presence = None
    try:
        identity = load_or_create_identity(data_dir)
        setup = load_setup(data_dir, identity)
    except (IdentityError, SetupError) as exc:
        log.error("no device identity, so no mDNS announcement: %s", exc)  # the cameras go on all the same
    else:
        log.info("device %s (%s)%s", identity.short_id, setup.state,
                 ", claim code shown by `vigia status`" if claim_code(identity, setup) else "")
        if not _loopback_only(http.host):
            presence = await asyncio.to_thread(_announce, config)
    notifier = notifier_from_env(environ)
    serving = asyncio.ensure_future(server)
    helper = asyncio.ensure_future(_notify(notifier, http.host, http.port, serving, environ)) if notifier else None
    try:
        await serving
    finally:
        if helper is not None:
            helper.cancel()
        if notifier is not None:
            notifier.send("STOPPING=1")
        if presence is not None:
            await asyncio.to_thread(presence.close)


async def _notify(notifier: Notifier, host: str, port: int, serving: asyncio.Future, environ: Mapping[str, str]) -> None:
    await _until_listening("127.0.0.1" if host in ("", "0.0.0.0") else "::1" if host == "::" else host, port, serving)
    if serving.done():
        return  # it stopped before it was ever ready
    notifier.send("READY=1", f"STATUS=serving on {host}:{port}")
    period = watchdog_period(environ)
    while period is not None and not serving.done():
        notifier.send("WATCHDOG=1")
        await asyncio.sleep(period)


async def _until_listening(host: str, port: int, serving: asyncio.Future) -> None:
    """Return once `host:port` accepts a TCP connection (the HTTP server is up)."""
    while not serving.done():
        try:
            _, writer = await asyncio.open_connection(host, port)
        except OSError:
            await asyncio.sleep(0.1)
            continue
        writer.close()
        await writer.wait_closed()
        return


def _loopback_only(host: str) -> bool:
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return host == "localhost"


def _announce(config: Config) -> LanPresence | None:
    try:
        return LanPresence(config.storage.data_dir, config.http.port, advertised_addresses(config.http.host))
    except MdnsError as exc:
        log.warning("not announced on the LAN: %s", exc)
        return None
