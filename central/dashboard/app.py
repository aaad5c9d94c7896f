"""The fleet dashboard (`vigia central dashboard`): an aiohttp application over central's PostgreSQL.

Routes by area: `account_routes` (login, logout, me, users), `device_routes`, `event_routes` (events,
thumbnails, clips, counts), `reanalysis_routes` (central's verdicts, disagreements, rates, the job queue),
`alert_routes` (central alerts, acknowledging them, push subscriptions), `sso_routes` (OpenID Connect single
sign-on, `sso`), `model_routes` (the model registry and rollouts), `authorize_routes` (the app's OAuth2 sign-in
page), `live`
(the WebSocket of live updates), `openapi` (this API's OpenAPI document), `frontend` (central/web/dist); their SQL
is in `queries` and `reanalysis_queries`.

Security as in the guards' UI (`vigia.kit.http`): every route but login and the front end's files needs a
session cookie (HttpOnly, Secure, SameSite=Strict) or is 401; state-changing requests carry X-CSRF-Token
(403); roles viewer < operator < admin (403); bad input is a 400 naming it. Logins: a username locks after
`max_failures` wrong passwords, a client address (the peer: no trusted proxies here) after `remote_max_failures`
failures in `remote_window` (429 with Retry-After; counted in PostgreSQL, every instance).
"""
from __future__ import annotations

import asyncio
import contextlib
import logging
import ssl

import aiohttp
from aiohttp import web
from prometheus_client import CollectorRegistry
from psycopg_pool import AsyncConnectionPool

from vigia.central.dashboard import (
    account_routes,
    accounts,
    alert_routes,
    authorize_routes,
    device_routes,
    event_routes,
    frontend,
    hard_example_routes,
    live,
    model_routes,
    openapi,
    reanalysis_routes,
    sso_routes,
    totp_routes,
)
from vigia.central.dashboard.common import COOKIE, DASHBOARD, MAX_BODY, PREFIX, SESSION, Dashboard, DashboardSettings
from vigia.central.dashboard.sso import RelyingParty
from vigia.central.migrations import migrate
from vigia.central.observability.endpoint import metrics_app, request_metrics
from vigia.central.observability.metrics import DashboardMetrics, new_registry
from vigia.kit.http import ApiError, error_middleware, route_of, security_headers, session_middleware
from vigia.kit.serve import running, until_signalled

log = logging.getLogger(__name__)

PUBLIC = (account_routes.PUBLIC | alert_routes.PUBLIC | authorize_routes.PUBLIC | frontend.PUBLIC | sso_routes.PUBLIC
          | totp_routes.PUBLIC)


def create_app(settings: DashboardSettings, registry: CollectorRegistry | None = None) -> web.Application:
    """`registry`: the process's metrics registry (the composition's), where requests are counted; a new one if None."""
    metrics = DashboardMetrics.create(new_registry() if registry is None else registry)
    middlewares = [request_metrics(metrics), error_middleware(log, "the central log"),
                   session_middleware(SESSION, _is_public, _session)]
    app = web.Application(middlewares=middlewares, client_max_size=MAX_BODY)
    app.on_response_prepare.append(security_headers(f"{PREFIX}/api/"))
    app.cleanup_ctx.append(_lifecycle(settings))
    account_routes.add_routes(app)
    sso_routes.add_routes(app)
    totp_routes.add_routes(app)
    device_routes.add_routes(app)
    event_routes.add_routes(app)
    reanalysis_routes.add_routes(app)
    hard_example_routes.add_routes(app)
    alert_routes.add_routes(app)
    model_routes.add_routes(app)
    live.add_routes(app)
    openapi.add_routes(app)
    authorize_routes.add_routes(app)
    frontend.add_routes(app)
    return app


def _lifecycle(settings: DashboardSettings):
    async def lifecycle(app: web.Application):
        pool = _pool(settings.dsn, settings.pool_size)
        await pool.open(wait=True, timeout=30)
        async with pool.connection() as conn:
            await migrate(conn)
        reads = _pool(settings.read_dsn, settings.pool_size) if settings.read_dsn else None
        if reads is not None:
            await reads.open(wait=True, timeout=30)
        dashboard = app[DASHBOARD] = Dashboard(settings, pool, read_pool=reads)
        if settings.media is not None:
            from vigia.central.ingest.media import s3_client

            dashboard.s3 = s3_client(settings.media)
        http = aiohttp.ClientSession() if settings.sso is not None else None
        if http is not None:
            dashboard.sso = RelyingParty(settings.sso, http)
        listener = asyncio.create_task(live.listen(dashboard))
        yield
        listener.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await listener
        if http is not None:
            await http.close()
        await pool.close()
        if reads is not None:
            await reads.close()
    return lifecycle


def _pool(dsn: str, size: int) -> AsyncConnectionPool:
    """Connections checked before each use: after a failover the broken ones are dropped and new ones made
    through the multi-host connection string (target_session_attrs), without a restart."""
    return AsyncConnectionPool(dsn, min_size=1, max_size=size, open=False, kwargs={"autocommit": True},
                               check=AsyncConnectionPool.check_connection)


def _is_public(request: web.Request) -> bool:
    method, route = route_of(request)
    return route is None or (method, route) in PUBLIC  # None: no route (404, 405)


async def _session(request: web.Request) -> accounts.Session | None:
    """The request's live session; 403 for an admin who must enrol a second factor first, but on its routes."""
    dashboard = request.app[DASHBOARD]
    async with dashboard.pool.connection() as conn:
        session = await accounts.session_for(conn, request.cookies.get(COOKIE), dashboard.settings.sessions,
                                             dashboard.settings.admin_totp)
    if session is not None and session.must_enrol_totp and route_of(request) not in totp_routes.ENROLMENT:
        raise ApiError(403, "enrol a second factor (TOTP) first: admins must have one")
    return session


async def serve(settings: DashboardSettings, host: str, port: int, tls: ssl.SSLContext | None = None,
                metrics_at: tuple[str, int] | None = None, registry: CollectorRegistry | None = None) -> None:
    """Serve until SIGTERM or SIGINT (HTTPS when `tls` is given, else plain HTTP behind a TLS proxy); `/metrics`
    on a listener of its own at `metrics_at` (host, port), when given: the dashboard's port may face the internet."""
    registry = new_registry() if registry is None else registry
    async with contextlib.AsyncExitStack() as stack:
        await stack.enter_async_context(running(create_app(settings, registry), host, port, tls, access_log=None))
        log.info("dashboard listening on %s://%s:%d%s/", "https" if tls else "http", host, port, PREFIX)
        if metrics_at is not None:
            await stack.enter_async_context(running(metrics_app(registry), *metrics_at, access_log=None))
            log.info("dashboard metrics on http://%s:%d/metrics", *metrics_at)
        await until_signalled()
