"""The dashboard's front end (central/web/dist, built by `make dashboard`): its files, under a strict policy.

    GET  /dashboard/...                             the front end; any other path gets index.html
"""
from __future__ import annotations

import os
from pathlib import Path
from urllib.parse import urlsplit

from aiohttp import web

from vigia.central.dashboard.common import DASHBOARD, PREFIX

DIST_ENV = "VIGIA_DASHBOARD_DIST"
ROUTE = f"{PREFIX}/{{path}}"
PUBLIC = frozenset({("GET", ROUTE), ("GET", PREFIX)})  # the front end's files are the login page
# The front end loads only from this origin (no inline script or style, no eval); clips play from the bucket.
POLICY = ("default-src 'self'; img-src 'self'; connect-src 'self'; style-src 'self'; script-src 'self'; "
          "base-uri 'none'; form-action 'self'; frame-ancestors 'none'")


def policy(media_endpoint: str | None) -> str:
    """POLICY, with media (the clips' presigned links) also allowed from the bucket's endpoint when there is one."""
    if media_endpoint is None:
        return POLICY
    parts = urlsplit(media_endpoint)
    return f"{POLICY}; media-src 'self' {parts.scheme}://{parts.netloc}"


def add_routes(app: web.Application) -> None:
    app.router.add_get(f"{PREFIX}/{{path:(?!api/).*}}", serve_file, allow_head=False)
    app.router.add_get(PREFIX, to_front_end, allow_head=False)


def dist_dir() -> Path:
    return Path(os.environ.get(DIST_ENV) or Path(__file__).parents[1] / "web" / "dist")


async def to_front_end(_request: web.Request) -> web.Response:
    raise web.HTTPFound(f"{PREFIX}/")


async def serve_file(request: web.Request) -> web.StreamResponse:
    """The front end's files; any other path gets index.html (the app routes on the client)."""
    root = dist_dir().resolve()
    index = root / "index.html"
    if not index.is_file():
        return web.Response(status=503, text="The dashboard is not built: run `make dashboard`.\n",
                            headers={"Content-Security-Policy": POLICY})
    wanted = (root / request.match_info["path"]).resolve()
    if not wanted.is_relative_to(root) or not wanted.is_file():
        wanted = index
    cache = "public, max-age=31536000, immutable" if wanted.parent.name == "assets" else "no-cache"
    s3 = request.app[DASHBOARD].s3
    return web.FileResponse(wanted, headers={"Cache-Control": cache,
                                             "Content-Security-Policy": policy(s3.meta.endpoint_url if s3 else None)})
