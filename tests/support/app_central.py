"""Central as the mobile app sees it: the external API (user sign-in, alerts, push tokens) and the dashboard (its
authorization page), both on plain HTTP from one thread's event loop, over a new PostgreSQL database and the
local Redis. `AppCentral.sign_in` runs the app's side of the authorization code flow with PKCE."""
from __future__ import annotations

import asyncio
import base64
import contextlib
import hashlib
import re
import secrets
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import aiohttp
import psycopg
import requests
from aiohttp import web

from vigia.app.apistack import redis_server
from vigia.app.devstack import free_port, temporary_database
from vigia.central.api.app import create_app as create_api
from vigia.central.api.common import ApiSettings
from vigia.central.dashboard import accounts
from vigia.central.dashboard.app import create_app as create_dashboard
from vigia.central.dashboard.common import DashboardSettings

USERS = {"vera": ("viewer-pass-1", "viewer"), "otto": ("operator-pass-1", "operator")}
CLIENT = "vigia-mobile"
REDIRECT = "vigia.app://auth"


def pkce() -> tuple[str, str]:
    """(verifier, S256 challenge)."""
    verifier = secrets.token_urlsafe(48)
    challenge = base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest()).rstrip(b"=").decode()
    return verifier, challenge


@dataclass
class Tokens:
    access: str
    refresh: str
    scope: str


class AppCentral:
    def __init__(self, dsn: str, redis_url: str, settings: dict | None = None, web_build: Path | None = None):
        self.dsn, self.redis_url, self.settings, self.web_build = dsn, redis_url, settings or {}, web_build
        self.api_port, self.dashboard_port, self.gateway_port = free_port(), free_port(), free_port()
        self.gateway = f"http://127.0.0.1:{self.gateway_port}"
        self.api = f"http://127.0.0.1:{self.api_port}"
        self.authorize_url = f"http://127.0.0.1:{self.dashboard_port}/dashboard/oauth/authorize"
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, daemon=True)

    def call(self, coroutine, timeout: float = 60):
        return asyncio.run_coroutine_threadsafe(coroutine, self.loop).result(timeout)

    def start(self) -> AppCentral:
        self.thread.start()
        self.call(self._start())
        return self

    async def _start(self) -> None:
        self.runners = []
        for app, port in ((create_dashboard(DashboardSettings(self.dsn)), self.dashboard_port),
                          (create_api(ApiSettings(self.dsn, self.redis_url, cache_ttl_s=0,
                                                  redis_prefix=f"vigia:test-{secrets.token_hex(4)}:", **self.settings)),
                           self.api_port)):
            runner = web.AppRunner(app, access_log=None)
            await runner.setup()
            await web.TCPSite(runner, "127.0.0.1", port).start()
            self.runners.append(runner)
        if self.web_build is not None:
            api, dashboard = f"http://127.0.0.1:{self.api_port}", f"http://127.0.0.1:{self.dashboard_port}"
            runner = web.AppRunner(gateway_app(self.web_build, {"/api/": api, "/oauth/": api, "/dashboard/": dashboard}),
                                   access_log=None)
            await runner.setup()
            await web.TCPSite(runner, "127.0.0.1", self.gateway_port).start()
            self.runners.append(runner)
        async with await psycopg.AsyncConnection.connect(self.dsn, autocommit=True) as conn:
            for name, (password, role) in USERS.items():
                await accounts.add_user(conn, name, password, role)

    def stop(self) -> None:
        async def stop():
            for runner in self.runners:
                await runner.cleanup()
        self.call(stop())
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(10)

    def query(self, sql: str, params: list | None = None) -> list[tuple]:
        with psycopg.connect(self.dsn, autocommit=True) as conn:
            cursor = conn.execute(sql, params or [])
            return cursor.fetchall() if cursor.description else []

    def authorize(self, user: str, challenge: str, state: str = "s1", redirect: str = REDIRECT,
                  **extra: str) -> requests.Response:
        """The sign-in page's login form posted (as the browser does), not following the redirect."""
        args = {"response_type": "code", "client_id": CLIENT, "redirect_uri": redirect, "state": state,
                "code_challenge": challenge, "code_challenge_method": "S256", **extra}
        page = requests.get(self.authorize_url, params=args, timeout=10)
        assert page.status_code == 200 and 'name="password"' in page.text.replace("'", '"'), page.text
        hidden = dict(re.findall(r"<input type='hidden' name='([^']+)' value='([^']*)'>", page.text))
        assert hidden == args
        return requests.post(self.authorize_url, data={**hidden, "username": user, "password": USERS[user][0]},
                             allow_redirects=False, timeout=30)

    def exchange(self, code: str, verifier: str, redirect: str = REDIRECT) -> requests.Response:
        return requests.post(f"{self.api}/oauth/token", timeout=10, data={
            "grant_type": "authorization_code", "client_id": CLIENT, "code": code, "code_verifier": verifier,
            "redirect_uri": redirect})

    def sign_in(self, user: str) -> Tokens:
        verifier, challenge = pkce()
        answer = self.authorize(user, challenge)
        assert answer.status_code == 302, answer.text
        code = parse_qs(urlsplit(answer.headers["Location"]).query)["code"][0]
        tokens = self.exchange(code, verifier)
        assert tokens.status_code == 200, tokens.text
        body = tokens.json()
        return Tokens(body["access_token"], body["refresh_token"], body["scope"])

    def get(self, token: str, path: str, **params) -> requests.Response:
        return requests.get(f"{self.api}/api/v1{path}", params=params, headers={"Authorization": f"Bearer {token}"},
                            timeout=10)

    def send(self, method: str, token: str, path: str, body: dict | None = None) -> requests.Response:
        return requests.request(method, f"{self.api}/api/v1{path}", json=body, timeout=10,
                                headers={"Authorization": f"Bearer {token}"})


@contextlib.contextmanager
def app_central(web_build: Path | None = None, **settings) -> Iterator[AppCentral]:
    """`web_build`: the app's web build, served with the API and the dashboard on one origin (`gateway`)."""
    with redis_server() as redis_url, temporary_database() as dsn:
        central = AppCentral(dsn, redis_url, settings, web_build).start()
        try:
            yield central
        finally:
            central.stop()


def gateway_app(dist: Path, routes: dict[str, str]) -> web.Application:
    """One origin for the app's web build, as NGINX gives it in production: the build's files (any other path: its
    index.html, e.g. the /auth redirect), and the path prefixes of `routes` passed to their servers."""
    async def handle(request: web.Request) -> web.StreamResponse:
        for prefix, target in routes.items():
            if request.path.startswith(prefix):
                return await _forward(request, target)
        path = (dist / request.path.lstrip("/")).resolve()
        if dist.resolve() in path.parents and path.is_file():
            return web.FileResponse(path)
        return web.FileResponse(dist / "index.html")

    async def _forward(request: web.Request, target: str) -> web.Response:
        headers = {k: v for k, v in request.headers.items() if k.lower() not in ("host", "content-length")}
        async with aiohttp.ClientSession(auto_decompress=False) as session, session.request(
                request.method, target + request.path_qs, headers=headers, data=await request.read(),
                allow_redirects=False) as answer:
            body = await answer.read()
            kept = {k: v for k, v in answer.headers.items()
                    if k.lower() not in ("transfer-encoding", "content-length", "connection")}
            response = web.Response(status=answer.status, body=body, headers=kept)
            for cookie in answer.headers.getall("Set-Cookie", []):
                response.headers.add("Set-Cookie", cookie)
            return response

    app = web.Application(client_max_size=1 << 20)
    app.router.add_route("*", "/{tail:.*}", handle)
    return app
