"""`GET /metrics` for aiohttp: what must be read at scrape time is refreshed first, then the registry is exposed.

`metrics_handler` goes on an application of its own or on a process's existing one (the ingest's, which NGINX
does not pass `/metrics` to); `metrics_app` is that application alone, for `--metrics-port`. `request_metrics`
counts and times an application's requests; `device_contact` notes when each device was last answered.
"""
from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Sequence

from aiohttp import web
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, generate_latest

from vigia.central.ingest.peer import verified_peer
from vigia.central.observability.metrics import DashboardMetrics, IngestMetrics
from vigia.kit.http import route_of

Refresh = Callable[[], Awaitable[None]]


def metrics_handler(registry: CollectorRegistry, refresh: Sequence[Refresh] = ()):
    async def metrics(_request: web.Request) -> web.Response:
        for step in refresh:
            await step()
        return web.Response(body=generate_latest(registry), headers={"Content-Type": CONTENT_TYPE_LATEST})
    return metrics


def metrics_app(registry: CollectorRegistry, refresh: Sequence[Refresh] = ()) -> web.Application:
    app = web.Application()
    app.router.add_get("/metrics", metrics_handler(registry, refresh), allow_head=False)
    return app


def request_metrics(metrics: DashboardMetrics):
    """Middleware: every request counted by method, route (its pattern, not the path) and status, and timed."""
    @web.middleware
    async def middleware(request: web.Request, handler):
        began = asyncio.get_running_loop().time()
        status = 500
        try:
            response = await handler(request)
            status = response.status
            return response
        except web.HTTPException as exc:
            status = exc.status
            raise
        finally:
            _, route = route_of(request)
            route = route or "unmatched"
            metrics.requests.labels(request.method, route, str(status)).inc()
            metrics.request_seconds.labels(route).observe(asyncio.get_running_loop().time() - began)
    return middleware


def device_contact(metrics: IngestMetrics, trusted_proxies: frozenset[str]):
    """Middleware: a device's request answered without an error (a batch, a command poll) is a sign of life."""
    @web.middleware
    async def middleware(request: web.Request, handler):
        response = await handler(request)
        peer = verified_peer(request, trusted_proxies)
        if peer is not None and response.status < 400:
            metrics.last_contact.labels(peer.device_id).set_to_current_time()
        return response
    return middleware
