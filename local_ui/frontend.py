"""The guards' front end: the files Vite builds from `local_ui/web/` into `local_ui/web/dist/`.

Served without a session (they are the login page; every datum comes from the API, which needs
one). Any path that is not a file gets `index.html` (the app routes on the client). Hashed assets
are cached for good; `index.html` and the service worker are revalidated on every load.
"""
from __future__ import annotations

import os
from pathlib import Path

from aiohttp import web

ROUTE = "/{path}"
DIST_ENV = "VIGIA_UI_DIST"
# What the front end may load: only this origin; images and clips also as blob: URLs (live frames).
POLICY = ("default-src 'self'; img-src 'self' blob: data:; media-src 'self' blob:; connect-src 'self'; "
          "style-src 'self'; script-src 'self'; worker-src 'self'; manifest-src 'self'; "
          "base-uri 'none'; form-action 'self'; frame-ancestors 'none'")


def dist_dir() -> Path:
    return Path(os.environ.get(DIST_ENV) or Path(__file__).parent / "web" / "dist")


def add_routes(app: web.Application) -> None:
    app.router.add_get("/{path:(?!api/).*}", serve_file, allow_head=False)  # not the API's namespace


async def serve_file(request: web.Request) -> web.StreamResponse:
    path = request.match_info["path"]
    root = dist_dir().resolve()
    index = root / "index.html"
    if not index.is_file():
        return web.Response(status=503, text="The web interface is not built: run `make demo` (or `make ui`).\n",
                            headers={"Content-Security-Policy": POLICY})
    wanted = (root / path).resolve()
    if not wanted.is_relative_to(root) or not wanted.is_file():
        wanted = index
    if wanted.parent.name == "assets":
        cache = "public, max-age=31536000, immutable"   # content-hashed names
    else:
        cache = "no-cache"
    headers = {"Cache-Control": cache, "Content-Security-Policy": POLICY}
    if wanted.name == "sw.js":
        headers["Service-Worker-Allowed"] = "/"
    return web.FileResponse(wanted, headers=headers)
