"""mDNS/DNS-SD: the appliance announces itself on the LAN, and `vigia discover` finds appliances.

Each appliance registers `Vigia <short id>` under `_vigia._tcp` (found by `vigia discover` and the fleet
tools) and `_https._tcp` (found by any DNS-SD browser), host `vigia-<short id>.local`, port the
appliance's HTTPS port, TXT `id` (device id), `version` and `state` (`unclaimed` | `ready`).
"""
from __future__ import annotations

import asyncio
import ipaddress
import socket
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass
from importlib.metadata import version

import ifaddr
from zeroconf import (
    InterfaceChoice,
    IPVersion,
    ServiceBrowser,
    ServiceInfo,
    ServiceListener,
    Zeroconf,
)

from vigia.provisioning.identity import DeviceIdentity
from vigia.provisioning.state import SetupState

VIGIA_SERVICE = "_vigia._tcp.local."
HTTPS_SERVICE = "_https._tcp.local."


class MdnsError(Exception):
    """mDNS could not be started or used; the message says on which addresses."""


@dataclass(frozen=True)
class Announcement:
    """What one appliance says about itself."""

    device_id: str
    short_id: str
    version: str
    state: str
    port: int

    @property
    def instance(self) -> str:
        return f"Vigia {self.short_id}"

    @property
    def server(self) -> str:
        return f"vigia-{self.short_id}.local."

    def txt(self) -> dict[str, str]:
        return {"id": self.device_id, "version": self.version, "state": self.state}


def announcement_for(identity: DeviceIdentity, setup: SetupState, port: int) -> Announcement:
    return Announcement(identity.device_id, identity.short_id, version("vigia"), setup.state, port)


@dataclass(frozen=True)
class FoundAppliance:
    name: str
    device_id: str
    version: str
    state: str
    host: str
    addresses: list[str]
    port: int


class Advertiser:
    """The appliance's registrations on the LAN; `update` re-announces changed TXT records."""

    def __init__(self, announcement: Announcement, addresses: Sequence[str]):
        """Announce on the interfaces of `addresses` (IPv4), which the host name resolves to."""
        if not addresses:
            raise MdnsError("no address to announce (no IPv4 interface is up besides loopback)")
        self._lock = threading.Lock()
        self._announcement = announcement
        self._addresses = [ipaddress.IPv4Address(a).packed for a in addresses]
        try:
            self._zc = Zeroconf(interfaces=list(addresses), ip_version=IPVersion.V4Only)
        except OSError as exc:
            raise MdnsError(f"cannot open mDNS sockets on {', '.join(addresses)}: {exc.strerror or exc}") from None
        self._infos = self._build(announcement)
        try:
            # Both names probed and announced at once (each takes about 1.7 s).
            asyncio.run_coroutine_threadsafe(self._register(), self._zc.loop).result(timeout=30)
        except Exception:
            self._zc.close()
            raise

    @property
    def announcement(self) -> Announcement:
        return self._announcement

    def update(self, announcement: Announcement) -> None:
        """Announce new TXT values (a state change, a new version); the names stay."""
        with self._lock:
            if announcement == self._announcement:
                return
            self._announcement = announcement
            self._infos = self._build(announcement)
            for info in self._infos:
                self._zc.update_service(info)

    async def _register(self) -> None:
        done = [await self._zc.async_register_service(info, allow_name_change=True) for info in self._infos]
        await asyncio.gather(*done)

    def close(self) -> None:
        self._zc.unregister_all_services()
        self._zc.close()

    def _build(self, a: Announcement) -> list[ServiceInfo]:
        return [ServiceInfo(service, f"{a.instance}.{service}", port=a.port, properties=a.txt(), server=a.server,
                            addresses=self._addresses)
                for service in (VIGIA_SERVICE, HTTPS_SERVICE)]


def advertised_addresses(host: str) -> list[str]:
    """The IPv4 addresses to announce for an HTTP server bound to `host`: every non-loopback interface's
    when it is a wildcard, else the addresses `host` names."""
    if host in ("", "0.0.0.0", "::"):
        return sorted({ip.ip for adapter in ifaddr.get_adapters() for ip in adapter.ips
                       if ip.is_IPv4 and not ipaddress.IPv4Address(ip.ip).is_loopback})
    return sorted({info[4][0] for info in socket.getaddrinfo(host, None, socket.AF_INET)})


def discover(timeout: float = 3.0, interfaces: Sequence[str] = ()) -> list[FoundAppliance]:
    """The Vigia appliances that answer on the LAN within `timeout` seconds, by name.

    Answers are multicast (QM): a unicast answer would reach only one of the sockets sharing port 5353
    on a host, maybe not ours. A responder that has just announced itself waits a second before it
    multicasts the same records again (RFC 6762 6), so give `timeout` a few seconds.
    """
    try:
        zc = Zeroconf(interfaces=list(interfaces) or InterfaceChoice.All, ip_version=IPVersion.V4Only)
    except OSError as exc:
        raise MdnsError(f"cannot open mDNS sockets: {exc.strerror or exc}") from None
    names = _Names()
    found: dict[str, FoundAppliance] = {}
    deadline = time.monotonic() + timeout
    try:
        ServiceBrowser(zc, VIGIA_SERVICE, names)
        while (left := deadline - time.monotonic()) > 0:
            pending = [n for n in names.names() if n not in found]
            for name in pending:
                info = ServiceInfo(VIGIA_SERVICE, name)
                if info.request(zc, max(50.0, (deadline - time.monotonic()) * 1000)):
                    found[name] = _found(info)
            if not pending:
                time.sleep(min(0.05, left))
        return sorted(found.values(), key=lambda f: f.name)
    finally:
        zc.close()


class _Names(ServiceListener):
    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._names: set[str] = set()

    def names(self) -> list[str]:
        with self._lock:
            return sorted(self._names)

    def add_service(self, zc: Zeroconf, type_: str, name: str) -> None:
        with self._lock:
            self._names.add(name)

    def update_service(self, zc: Zeroconf, type_: str, name: str) -> None:
        self.add_service(zc, type_, name)

    def remove_service(self, zc: Zeroconf, type_: str, name: str) -> None:
        with self._lock:
            self._names.discard(name)


def _found(info: ServiceInfo) -> FoundAppliance:
    txt = {k.decode(): (v or b"").decode(errors="replace") for k, v in info.properties.items()}
    return FoundAppliance(name=info.name.removesuffix("." + VIGIA_SERVICE), device_id=txt.get("id", ""),
                          version=txt.get("version", ""), state=txt.get("state", ""),
                          host=(info.server or "").rstrip("."), addresses=info.parsed_addresses(), port=info.port)
