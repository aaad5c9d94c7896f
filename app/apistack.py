"""The external API on this machine, for its tests and `vigia bench api`: API instances (`vigia central api`
processes) sharing one Redis, behind the NGINX gateway (TLS), over a central database (vigia.app.devstack)."""
from __future__ import annotations

import contextlib
import os
import secrets
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import redis

from vigia.app.devstack import free_port, start_nginx, stop_process, wait_http
from vigia.central.api.nginx import GatewaySite, write_gateway_config
from vigia.central.ingest.ca import init_ca, issue_server_certificate

LOCAL_REDIS = "redis://127.0.0.1:6379/0"


@contextlib.contextmanager
def redis_server() -> Iterator[str]:
    """A Redis URL: the local one when it answers, else a redis-server of its own on a free port (stopped after)."""
    with contextlib.suppress(redis.exceptions.ConnectionError):
        redis.Redis.from_url(LOCAL_REDIS, socket_connect_timeout=1).ping()
        yield LOCAL_REDIS
        return
    port = free_port()
    folder = Path(tempfile.mkdtemp(prefix="vigia-redis-"))
    process = subprocess.Popen(["redis-server", "--port", str(port), "--bind", "127.0.0.1", "--save", "",
                                "--appendonly", "no", "--dir", str(folder)], stdout=subprocess.DEVNULL)
    try:
        url = f"redis://127.0.0.1:{port}/0"
        deadline = time.monotonic() + 10
        while True:
            with contextlib.suppress(redis.exceptions.ConnectionError):
                redis.Redis.from_url(url).ping()
                break
            if process.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError("redis-server did not start")
            time.sleep(0.05)
        yield url
    finally:
        process.terminate()
        process.wait(10)
        shutil.rmtree(folder, ignore_errors=True)


@dataclass
class ApiInstance:
    port: int
    dsn: str
    log: Path
    args: list[str]
    process: subprocess.Popen | None = None

    def start(self) -> None:
        self.process = subprocess.Popen(
            [sys.executable, "-m", "vigia.app.cli.main", "central", "api", "--port", str(self.port), *self.args],
            env={**os.environ, "VIGIA_CENTRAL_DATABASE": self.dsn}, stdout=subprocess.DEVNULL, stderr=self.log.open("ab"))
        wait_http(f"http://127.0.0.1:{self.port}/healthz", 30, self.process)

    def stop(self) -> None:
        stop_process(self.process)


@dataclass
class Gateway:
    site: GatewaySite
    process: subprocess.Popen | None = None

    @property
    def url(self) -> str:
        return f"https://{self.site.listen}"

    def start(self) -> None:
        self.process = start_nginx(self.site.prefix, write_gateway_config(self.site), self.site.listen)

    def stop(self) -> None:
        stop_process(self.process, signal.SIGQUIT)


@dataclass
class ApiStack:
    """API instances sharing a Redis key prefix of their own, behind the gateway; `ca_pem` verifies its TLS."""

    root: Path
    dsn: str
    redis_url: str
    api_args: list[str] = field(default_factory=list)      # more `vigia central api` options (--bucket ...)
    prefix: str = field(default_factory=lambda: f"vigia-test-{secrets.token_hex(4)}:")
    instances: list[ApiInstance] = field(default_factory=list)
    gateway: Gateway | None = None

    @property
    def url(self) -> str:
        return self.gateway.url

    @property
    def ca_pem(self) -> Path:
        return self.root / "ca" / "ca.crt"

    def start(self, instances: int) -> ApiStack:
        ca = init_ca(self.root / "ca")
        tls = self.root / "gateway-tls"
        issue_server_certificate(ca, ["127.0.0.1", "localhost"], tls / "cert.pem", tls / "key.pem")
        args = ["--redis", self.redis_url, "--redis-prefix", self.prefix, *self.api_args]
        for _ in range(instances):
            instance = ApiInstance(free_port(), self.dsn, self.root / "api.log", args)
            instance.start()
            self.instances.append(instance)
        self.gateway = Gateway(GatewaySite(f"127.0.0.1:{free_port()}", [f"127.0.0.1:{i.port}" for i in self.instances],
                                           tls / "cert.pem", tls / "key.pem", self.root / "gateway"))
        self.gateway.start()
        return self

    def clear_redis(self) -> None:
        """Delete every key of this stack's prefix."""
        client = redis.Redis.from_url(self.redis_url)
        keys = list(client.scan_iter(match=f"{self.prefix}*", count=1000))
        if keys:
            client.delete(*keys)

    def stop(self) -> None:
        if self.gateway:
            self.gateway.stop()
        for instance in self.instances:
            instance.stop()
        self.clear_redis()


@contextlib.contextmanager
def api_stack(root: Path, dsn: str, redis_url: str, instances: int = 2, api_args: list[str] | None = None
              ) -> Iterator[ApiStack]:
    stack = ApiStack(root, dsn, redis_url, api_args or [])
    try:
        yield stack.start(instances)
    finally:
        stack.stop()
