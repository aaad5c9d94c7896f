"""Every call of the API is a row of `api_audit`: when, which client (when known), method, route, status, address."""
from __future__ import annotations

import logging
import time

from aiohttp import web

from vigia.central.api.common import API
from vigia.kit.http import route_of

log = logging.getLogger(__name__)

CLIENT_ID = web.RequestKey("vigia_api_client_id", str)   # set once the caller is known


def client_address(request: web.Request, trusted_proxies: frozenset[str]) -> str:
    """The caller's address: the peer, or the X-Real-IP the gateway (a trusted proxy) set."""
    peer = request.remote or "?"
    forwarded = request.headers.get("X-Real-IP")
    return forwarded[:64] if peer in trusted_proxies and forwarded else peer


def audit_middleware():
    """Outermost: records the status every call was answered with (errors included)."""
    @web.middleware
    async def audit(request: web.Request, handler) -> web.StreamResponse:
        started = time.perf_counter()
        status = 500
        try:
            response = await handler(request)
            status = response.status
            return response
        except web.HTTPException as exc:
            status = exc.status
            raise
        finally:
            await _record(request, status, (time.perf_counter() - started) * 1000)
    return audit


async def _record(request: web.Request, status: int, duration_ms: float) -> None:
    api = request.app[API]
    _method, route = route_of(request)
    try:
        async with api.pool.connection() as conn:
            await conn.execute(
                "INSERT INTO api_audit (client_id, method, route, status, ip, duration_ms) VALUES (%s, %s, %s, %s, %s, %s)",
                [request.get(CLIENT_ID), request.method, route or "(no route)", status,
                 client_address(request, api.settings.trusted_proxies), duration_ms])
    except Exception:
        log.exception("could not audit %s %s", request.method, route)
