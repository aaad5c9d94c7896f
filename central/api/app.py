"""The external API (`vigia central api`): an aiohttp application over central's PostgreSQL and a shared Redis.

Middlewares, outermost first: the audit (every call, whatever its answer), errors as JSON, then `access`
(token, rate limit, cache). Routes: `oauth` (token, revocation), `rest` (/api/v1), `alert_routes` (the app's:
alerts, comments, push tokens), `graphql_api` (/graphql), `openapi` (/api/v1/openapi.json), /healthz.
"""
from __future__ import annotations

import logging

import redis.asyncio as redis
from aiohttp import web
from psycopg_pool import AsyncConnectionPool

from vigia.central.api import alert_routes, graphql_api, oauth, openapi, rest
from vigia.central.api.access import access_middleware
from vigia.central.api.audit import audit_middleware
from vigia.central.api.common import API, API_PREFIX, GRAPHQL_PATH, MAX_BODY, Api, ApiSettings
from vigia.central.api.limits import Limits
from vigia.central.migrations import migrate
from vigia.kit.http import error_middleware, security_headers
from vigia.kit.serve import running, until_signalled

log = logging.getLogger(__name__)

PUBLIC = {("POST", oauth.TOKEN_PATH), ("POST", oauth.REVOKE_PATH), ("GET", openapi.PATH), ("GET", "/healthz")}
# presigned links; the app's routes (per user, or changing)
UNCACHED = {API_PREFIX + rest.CLIP_PATH, API_PREFIX + rest.THUMBNAIL_PATH} | {API_PREFIX + path for path in alert_routes.ROUTES}


def create_app(settings: ApiSettings) -> web.Application:
    middlewares = [audit_middleware(), error_middleware(log, "the API's log"), access_middleware(PUBLIC, UNCACHED)]
    app = web.Application(middlewares=middlewares, client_max_size=MAX_BODY)
    app.on_response_prepare.append(security_headers(""))
    app.cleanup_ctx.append(_lifecycle(settings))
    app.router.add_post(oauth.TOKEN_PATH, lambda request: oauth.token(request, request.app[API].pool))
    app.router.add_post(oauth.REVOKE_PATH, lambda request: oauth.revoke(request, request.app[API].pool))
    app.router.add_get("/healthz", _health, allow_head=False)
    rest.add_routes(app)
    alert_routes.add_routes(app)
    openapi.add_routes(app)
    graphql_api.add_routes(app, settings, GRAPHQL_PATH)
    return app


async def _health(request: web.Request) -> web.Response:
    return web.json_response({"ok": True})


def _lifecycle(settings: ApiSettings):
    async def lifecycle(app: web.Application):
        client = redis.Redis.from_url(settings.redis_url)
        try:  # first: a wrong --redis changes nothing in the database
            await client.ping()
        except redis.RedisError as exc:  # the URL may hold a password: not repeated here
            await client.aclose()
            raise RuntimeError(f"Redis (--redis) does not answer: {exc}") from None
        pool = AsyncConnectionPool(settings.dsn, min_size=1, max_size=settings.pool_size, open=False,
                                   kwargs={"autocommit": True})
        audit_pool = AsyncConnectionPool(settings.dsn, min_size=1, max_size=2, open=False,
                                         kwargs={"autocommit": True, "options": "-c synchronous_commit=off"})
        await pool.open(wait=True, timeout=30)
        await audit_pool.open(wait=True, timeout=30)
        async with pool.connection() as conn:
            await migrate(conn)
        api = app[API] = Api(settings, pool, audit_pool, Limits(client, settings.redis_prefix, settings.cache_ttl_s))
        if settings.media is not None:
            from vigia.central.ingest.media import s3_client

            api.s3 = s3_client(settings.media)
        yield
        await client.aclose()
        await audit_pool.close()
        await pool.close()
    return lifecycle


async def serve(settings: ApiSettings, host: str, port: int) -> None:
    """Serve plain HTTP behind the gateway (NGINX: TLS, routing, body limits) until SIGTERM or SIGINT."""
    async with running(create_app(settings), host, port, None, access_log=None):
        log.info("external API listening on http://%s:%d (behind the gateway)", host, port)
        await until_signalled()
