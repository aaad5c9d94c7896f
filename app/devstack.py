"""A whole central on this machine, for `vigia bench sync` and the tests: a PostgreSQL database of its
own, central instances (`vigia central serve` processes) and NGINX in front of them (TLS, device
certificates), with certificates from central's CA (vigia.central.ingest.ca)."""
from __future__ import annotations

import asyncio
import contextlib
import os
import secrets
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import psycopg

from vigia.central.ingest.ca import init_ca, issue_server_certificate
from vigia.central.ingest.enrolment import create_token
from vigia.central.ingest.nginx import NginxSite, write_nginx_config

PG_HOST, PG_PORT, PG_USER = "127.0.0.1", 5432, "postgres"
NGINX = "/usr/sbin/nginx"


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _server_dsn(dbname: str) -> str:
    return f"host={PG_HOST} port={PG_PORT} user={PG_USER} dbname={dbname}"


def _postgres_ready() -> bool:
    return subprocess.run(["pg_isready", "-q", "-h", PG_HOST, "-p", str(PG_PORT)], check=False).returncode == 0


def ensure_postgres() -> None:
    """Start the local PostgreSQL cluster when it does not answer."""
    if _postgres_ready():
        return
    version = max(os.listdir("/etc/postgresql"), key=float)
    subprocess.run(["pg_ctlcluster", "--skip-systemctl-redirect", version, "main", "start"], check=True)
    for _ in range(50):
        if _postgres_ready():
            return
        time.sleep(0.2)
    raise RuntimeError("PostgreSQL did not start")


@contextlib.contextmanager
def temporary_database() -> Iterator[str]:
    """A new, empty database (unique name); dropped afterwards. Yields its DSN."""
    ensure_postgres()
    name = f"vigia_test_{secrets.token_hex(6)}"
    with psycopg.connect(_server_dsn("postgres"), autocommit=True) as admin:
        admin.execute(f"CREATE DATABASE {name}")
    try:
        yield _server_dsn(name)
    finally:
        with psycopg.connect(_server_dsn("postgres"), autocommit=True) as admin:
            admin.execute(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")


def wait_http(url: str, timeout: float, process: subprocess.Popen | None = None) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process is not None and process.poll() is not None:
            raise RuntimeError(f"{process.args[:4]} exited with {process.returncode} before answering {url}")
        try:
            with urllib.request.urlopen(url, timeout=1):
                return
        except OSError:
            time.sleep(0.1)
    raise TimeoutError(f"{url} did not answer within {timeout} s")


def stop_process(process: subprocess.Popen | None, sig: int = signal.SIGTERM, timeout: float = 10) -> None:
    """`sig` (SIGTERM, or SIGQUIT for NGINX's graceful stop), then SIGKILL if it is still there after `timeout`."""
    if process and process.poll() is None:
        process.send_signal(sig)
        try:
            process.wait(timeout)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def start_nginx(prefix: Path, config: Path, listen: str, timeout: float = 10) -> subprocess.Popen:
    """NGINX on `config` (its files under `prefix`), returned once it accepts connections on `listen` (host:port);
    RuntimeError with what it said when it exits first."""
    said = prefix / "nginx.stderr"
    with said.open("ab") as stderr:
        process = subprocess.Popen([NGINX, "-p", str(prefix), "-c", str(config)], stdout=subprocess.DEVNULL, stderr=stderr)
    host, port = listen.rsplit(":", 1)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            log = prefix / "error.log"
            raise RuntimeError(f"nginx exited: {said.read_text()[-2000:]}{log.read_text()[-2000:] if log.exists() else ''}")
        with contextlib.suppress(OSError), socket.create_connection((host, int(port)), 0.5):
            return process
        time.sleep(0.05)
    stop_process(process)
    raise TimeoutError("nginx did not listen")


@dataclass
class CentralInstance:
    port: int
    dsn: str
    ca_dir: Path
    log: Path
    extra_args: list[str] = field(default_factory=list)
    process: subprocess.Popen | None = None

    def start(self) -> None:
        self.process = subprocess.Popen(
            [sys.executable, "-m", "vigia.app.cli.main", "central", "serve", "--ca-dir", str(self.ca_dir),
             "--port", str(self.port), *self.extra_args],
            env={**os.environ, "VIGIA_CENTRAL_DATABASE": self.dsn},
            stdout=subprocess.DEVNULL, stderr=self.log.open("ab"))
        wait_http(f"http://127.0.0.1:{self.port}/healthz", 30, self.process)

    def kill(self) -> None:
        """SIGKILL: whatever it was doing is cut off."""
        if self.process and self.process.poll() is None:
            self.process.kill()
            self.process.wait()

    def stop(self) -> None:
        stop_process(self.process)


@dataclass
class Nginx:
    site: NginxSite
    process: subprocess.Popen | None = None

    @property
    def url(self) -> str:
        return f"https://{self.site.listen}"

    def start(self) -> None:
        self.process = start_nginx(self.site.prefix, write_nginx_config(self.site), self.site.listen)

    def stop(self) -> None:
        stop_process(self.process, signal.SIGQUIT)  # graceful: finishes requests in flight


@dataclass
class CentralStack:
    """PostgreSQL database, CA, two central instances and NGINX (TLS, client certificates) in front."""

    root: Path
    dsn: str
    central_args: list[str] = field(default_factory=list)  # more `vigia central serve` options (--bucket ...)
    instances: list[CentralInstance] = field(default_factory=list)
    nginx: Nginx | None = None

    @property
    def ca_dir(self) -> Path:
        return self.root / "ca"

    @property
    def ca_pem(self) -> bytes:
        return (self.ca_dir / "ca.crt").read_bytes()

    @property
    def url(self) -> str:
        return self.nginx.url

    def start(self, instances: int = 2) -> CentralStack:
        ca = init_ca(self.ca_dir)
        tls = self.root / "nginx-tls"
        issue_server_certificate(ca, ["127.0.0.1", "localhost"], tls / "cert.pem", tls / "key.pem")
        for _ in range(instances):
            instance = CentralInstance(free_port(), self.dsn, self.ca_dir, self.root / "central.log", self.central_args)
            instance.start()
            self.instances.append(instance)
        prefix = self.root / "nginx"
        self.nginx = Nginx(NginxSite(f"127.0.0.1:{free_port()}", [f"127.0.0.1:{i.port}" for i in self.instances],
                                     tls / "cert.pem", tls / "key.pem", self.ca_dir / "ca.crt", prefix))
        self.nginx.start()
        return self

    def stop(self) -> None:
        if self.nginx:
            self.nginx.stop()
        for instance in self.instances:
            instance.stop()

    def token(self, device_id: str, ttl: float = 600) -> str:
        async def work():
            async with await psycopg.AsyncConnection.connect(self.dsn, autocommit=True) as conn:
                return await create_token(conn, device_id, ttl)

        return asyncio.run(work())

    def query(self, sql: str, params: list | None = None) -> list[tuple]:
        with psycopg.connect(self.dsn) as conn:
            return conn.execute(sql, params or []).fetchall()


@contextlib.contextmanager
def central_stack(root: Path, instances: int = 2, central_args: list[str] | None = None) -> Iterator[CentralStack]:
    with temporary_database() as dsn:
        stack = CentralStack(root, dsn, central_args or [])
        try:
            yield stack.start(instances)
        finally:
            stack.stop()


RABBITMQ_SERVER = "/usr/lib/rabbitmq/bin/rabbitmq-server"


@dataclass
class RabbitNode:
    """A RabbitMQ node of its own (own port, own data folder), so it can be stopped and started again."""

    folder: Path
    port: int = field(default_factory=free_port)
    process: subprocess.Popen | None = None

    @property
    def url(self) -> str:
        return f"amqp://guest:guest@127.0.0.1:{self.port}/"

    def _env(self) -> dict[str, str]:
        plugins = self.folder / "enabled_plugins"
        plugins.write_text("[].\n")
        config = self.folder / "rabbitmq.conf"
        config.write_text(f"listeners.tcp.default = 127.0.0.1:{self.port}\nloopback_users = none\n")
        return {**os.environ, "RABBITMQ_NODENAME": f"vigia{self.port}@localhost", "RABBITMQ_NODE_PORT": str(self.port),
                "RABBITMQ_DIST_PORT": str(free_port()), "RABBITMQ_MNESIA_BASE": str(self.folder / "mnesia"),
                "RABBITMQ_LOG_BASE": str(self.folder / "log"), "RABBITMQ_ENABLED_PLUGINS_FILE": str(plugins),
                "RABBITMQ_CONFIG_FILE": str(config.with_suffix("")), "RABBITMQ_PID_FILE": str(self.folder / "pid"),
                "HOME": str(Path.home())}

    def start(self, timeout: float = 90.0) -> None:
        """Start the node (its data kept from a previous run) and wait until it takes AMQP connections."""
        self.folder.mkdir(parents=True, exist_ok=True)
        with (self.folder / "server.log").open("ab") as log:
            self.process = subprocess.Popen([RABBITMQ_SERVER], env=self._env(), stdout=log, stderr=log,
                                            start_new_session=True)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                tail = (self.folder / "server.log").read_text(errors="replace")[-2000:]
                raise RuntimeError(f"RabbitMQ exited with {self.process.returncode}: {tail}")
            if _amqp_answers(self.port):
                return
            time.sleep(0.3)
        raise TimeoutError(f"RabbitMQ did not take connections on {self.port} within {timeout} s")

    def stop(self) -> None:
        """Stop the whole node (SIGTERM to its process group; its durable queues are kept on disk)."""
        if self.process is not None and self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGTERM)
            try:
                self.process.wait(60)
            except subprocess.TimeoutExpired:
                os.killpg(self.process.pid, signal.SIGKILL)
                self.process.wait()
        with contextlib.suppress(ProcessLookupError, PermissionError):
            if self.process is not None:
                os.killpg(self.process.pid, signal.SIGKILL)  # epmd and helpers of this node only


def _amqp_answers(port: int) -> bool:
    """Whether an AMQP server answers the protocol header on `port` (a listening socket alone is not enough)."""
    try:
        with socket.create_connection(("127.0.0.1", port), 1) as sock:
            sock.settimeout(2)
            sock.sendall(b"AMQP\x00\x00\x09\x01")
            return sock.recv(8)[:1] == b"\x01"   # a Connection.Start method frame
    except OSError:
        return False


@contextlib.contextmanager
def rabbitmq_node(folder: Path) -> Iterator[RabbitNode]:
    node = RabbitNode(folder)
    node.start()
    try:
        yield node
    finally:
        node.stop()
