"""Every call of the API is a row of `api_audit`: when, which client (when known), method, route, status, address.

The row is committed before the answer leaves, on connections with synchronous_commit off: the call does not
wait for the disk (PostgreSQL flushes it within a fraction of a second; a crash of PostgreSQL itself may lose
that last fraction of a second). A call whose row cannot be written is answered 503 instead: no data leaves
unaudited.
"""
from __future__ import annotations

import logging
import time

import psycopg
import psycopg_pool
from aiohttp import web

from vigia.central.api.common import API
from vigia.kit.http import json_error, route_of

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
        try:
            response = await handler(request)
        except web.HTTPException as exc:  # errors are answered by the error middleware inside; this is a redirect
            response = exc
        try:
            await _record(request, response.status, (time.perf_counter() - started) * 1000)
        except (psycopg.Error, psycopg_pool.PoolTimeout):
            log.exception("could not audit %s %s: answered 503", request.method, request.rel_url.path)
            return json_error(503, "the call could not be audited; try again later")
        if isinstance(response, web.HTTPException):
            raise response
        return response
    return audit


async def _record(request: web.Request, status: int, duration_ms: float) -> None:
    api = request.app[API]
    _method, route = route_of(request)
    async with api.audit_pool.connection() as conn:
        await conn.execute(
            "INSERT INTO api_audit (client_id, method, route, status, ip, duration_ms) VALUES (%s, %s, %s, %s, %s, %s)",
            [request.get(CLIENT_ID), request.method, route or "(no route)", status,
             client_address(request, api.settings.trusted_proxies), duration_ms])
