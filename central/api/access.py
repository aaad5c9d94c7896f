"""The middleware between the audit and the routes: the bearer token (401), the client's rate limit (429) and
the response cache, in that order. Public routes (token, revocation, the OpenAPI document, health) skip it."""
from __future__ import annotations

from aiohttp import web

from vigia.central.api import oauth
from vigia.central.api.audit import CLIENT_ID
from vigia.central.api.common import API, API_PREFIX, GRAPHQL_PATH, PRINCIPAL
from vigia.kit.http import ApiError, route_of


def access_middleware(public: set[tuple[str, str]], uncached: set[str]):
    """`public`: (method, route) open to anyone; `uncached`: routes never served from the cache (clip links)."""
    @web.middleware
    async def access(request: web.Request, handler) -> web.StreamResponse:
        method, route = route_of(request)
        if route is None or (method, route) in public:
            return await handler(request)
        api = request.app[API]
        principal = await oauth.authenticate(request, api.pool)
        request[PRINCIPAL] = principal
        request[CLIENT_ID] = principal.client_id
        verdict = await api.limits.hit(principal)
        limit_headers = {"X-RateLimit-Limit": str(principal.rate_per_minute), "X-RateLimit-Remaining": str(verdict.remaining)}
        if not verdict.allowed:
            raise ApiError(429, f"rate limit of {principal.rate_per_minute} calls a minute reached",
                           {**limit_headers, "Retry-After": str(verdict.retry_after_s)})
        cacheable = route not in uncached and (
            (method == "GET" and route.startswith(API_PREFIX)) or (method == "POST" and route == GRAPHQL_PATH))
        key = None
        if cacheable:
            key = api.limits.cache_key(principal, method, request.path_qs, await request.read())
            body = await api.limits.cached(key)
            if body is not None:
                return web.Response(body=body, content_type="application/json",
                                    headers={**limit_headers, "X-Cache": "hit"})
        response = await handler(request)
        response.headers.update(limit_headers)
        if key is not None and response.status == 200 and isinstance(response, web.Response) and response.body:
            response.headers["X-Cache"] = "miss"
            await api.limits.store(key, bytes(response.body))
        return response
    return access
