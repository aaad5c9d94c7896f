"""A whole appliance for tests: cameras running, the HTTPS API served from a thread of its own."""
from __future__ import annotations

import ssl
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

import aiohttp

from vigia.app.appliance import Appliance
from vigia.app.serving import serving
from vigia.appliance.config import Config
from vigia.appliance.storage import connect
from vigia.local_ui import accounts


@dataclass
class Running:
    appliance: Appliance
    port: int
    tls: ssl.SSLContext      # trusts only the appliance's own certificate

    @property
    def base(self) -> str:
        return f"https://127.0.0.1:{self.port}"


@contextmanager
def running_appliance(config: Config, users: dict[str, tuple[str, str]] | None = None,
                      start_cameras: bool = True) -> Iterator[Running]:
    """`users`: name -> (password, role), created before the server starts."""
    if users:
        db = connect(config.storage.database)
        for name, (password, role) in users.items():
            accounts.add_user(db, name, password, role, actor=None, remote="test", via="test")
        db.conn.close()
    appliance = Appliance(config)
    if start_cameras:
        appliance.start()
    try:
        with serving(appliance):
            cert = config.storage.data_dir / "tls" / "cert.pem"
            yield Running(appliance, config.http.port, ssl.create_default_context(cafile=cert))
    finally:
        if start_cameras:
            appliance.stop()


async def login(session: aiohttp.ClientSession, running: Running, username: str, password: str) -> str:
    """Log `session` in (its cookie jar keeps the cookie); returns the CSRF token."""
    async with session.post(f"{running.base}/api/v1/login", json={"username": username, "password": password},
                            ssl=running.tls) as reply:
        assert reply.status == 200, await reply.text()
        return (await reply.json())["csrf_token"]


def cookie_jar() -> aiohttp.CookieJar:
    """A jar that keeps the Secure cookie of a server addressed by IP."""
    return aiohttp.CookieJar(unsafe=True)
