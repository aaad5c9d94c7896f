"""Who is calling central's ingest, and how it answers errors: shared by the batch, media and command routes."""
from __future__ import annotations

import ipaddress
from dataclasses import dataclass

from aiohttp import web
from cryptography import x509
from cryptography.x509.oid import NameOID

from vigia.central.ingest.batches import Ingest
from vigia.sync.protocol import ProtocolError

INGEST = web.AppKey("ingest", Ingest)


@dataclass(frozen=True)
class Peer:
    device_id: str
    serial: int


def is_trusted_proxy(remote: str | None, trusted_proxies: frozenset[str]) -> bool:
    """Whether the caller is a trusted proxy: one of the addresses, or inside one of the networks (10.0.0.0/8:
    an ingress controller's pods, whose addresses change)."""
    if remote is None:
        return False
    if remote in trusted_proxies:
        return True
    try:
        address = ipaddress.ip_address(remote)
    except ValueError:
        return False
    address = getattr(address, "ipv4_mapped", None) or address
    return any(address in ipaddress.ip_network(proxy, strict=False) for proxy in trusted_proxies)


def verified_peer(request: web.Request, trusted_proxies: frozenset[str]) -> Peer | None:
    """The device NGINX verified, when the request comes from a trusted proxy and carries one."""
    if not is_trusted_proxy(request.remote, trusted_proxies) or request.headers.get("X-Client-Verify") != "SUCCESS":
        return None
    try:
        name = x509.Name.from_rfc4514_string(request.headers["X-Client-S-DN"])
        common_names = name.get_attributes_for_oid(NameOID.COMMON_NAME)
        return Peer(str(common_names[0].value), int(request.headers["X-Client-Serial"], 16))
    except (KeyError, IndexError, ValueError):
        return None


def error_response(exc: ProtocolError) -> web.Response:
    return web.json_response(exc.to_json(), status=exc.status)
