"""An S3 protocol server on this machine, for the tests and the benchmarks (`vigia bench failover`): moto's server
mode as a child process on a free port, and optionally NGINX speaking TLS in front of it, for clients that talk
HTTPS only (pgBackRest).

The TLS certificate is for "localhost" (pgBackRest 2.45 matches the endpoint against DNS names, not IP
addresses), signed by a CA of its own; NGINX rather than moto's --ssl because werkzeug ends TLS connections
without close_notify, which OpenSSL 3 clients take as an error. moto comes with the `dev` extra."""
from __future__ import annotations

import contextlib
import shutil
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from vigia.app.devstack import free_port, start_nginx, stop_process
from vigia.central.ingest.ca import init_ca, issue_server_certificate

ACCESS_KEY, SECRET_KEY, REGION = "test-access-key", "test-secret-key", "us-east-1"
HOST = "localhost"


@dataclass
class S3Server:
    endpoint: str

    def client(self):
        import boto3

        return boto3.client("s3", endpoint_url=self.endpoint, region_name=REGION,
                            aws_access_key_id=ACCESS_KEY, aws_secret_access_key=SECRET_KEY)

    def bucket(self, name: str) -> str:
        self.client().create_bucket(Bucket=name)
        return name


@contextlib.contextmanager
def s3_server(log: Path, timeout: float = 30.0) -> Iterator[S3Server]:
    """moto_server on 127.0.0.1:<free port>, stopped afterwards."""
    port = free_port()
    with log.open("ab") as out:
        process = subprocess.Popen([sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(port)],
                                   stdout=out, stderr=out)
    try:
        deadline = time.monotonic() + timeout
        while True:
            if process.poll() is not None:
                raise RuntimeError(f"moto server exited with {process.returncode}: {log.read_text()[-2000:]}")
            with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), 0.5):
                break
            if time.monotonic() > deadline:
                raise TimeoutError(f"moto server did not listen on {port} within {timeout} s")
            time.sleep(0.1)
        yield S3Server(f"http://127.0.0.1:{port}")
    finally:
        stop_process(process)


NGINX_CONFIG = """daemon off;
pid {prefix}/nginx.pid;
error_log {prefix}/error.log;
events {{}}
http {{
  access_log off;
  client_body_temp_path {prefix}/body;
  proxy_temp_path {prefix}/proxy;
  server {{
    listen 127.0.0.1:{port} ssl;
    ssl_certificate {prefix}/s3.crt;
    ssl_certificate_key {prefix}/s3.key;
    client_max_body_size 0;
    location / {{
      proxy_pass {upstream};
      proxy_http_version 1.1;
      proxy_set_header Host $http_host;
      proxy_request_buffering off;
      proxy_buffering off;
    }}
  }}
}}
"""


@dataclass
class TlsS3:
    """moto behind NGINX (TLS): `stop_proxy()`/`start_proxy()` make the S3 endpoint unreachable and back."""

    s3: S3Server
    prefix: Path
    port: int
    process: subprocess.Popen | None = None

    @property
    def ca_file(self) -> Path:
        """The CA's certificate, readable by anyone (the CA's folder, with its key, is not)."""
        return self.prefix / "ca.crt"

    @property
    def endpoint(self) -> str:
        return f"https://{HOST}:{self.port}"

    def client(self):
        import boto3

        return boto3.client("s3", endpoint_url=self.endpoint, region_name=REGION, aws_access_key_id=ACCESS_KEY,
                            aws_secret_access_key=SECRET_KEY, verify=str(self.ca_file))

    def start_proxy(self) -> None:
        self.process = start_nginx(self.prefix, self.prefix / "nginx.conf", f"127.0.0.1:{self.port}")

    def stop_proxy(self) -> None:
        stop_process(self.process)


@contextlib.contextmanager
def tls_s3_server(prefix: Path) -> Iterator[TlsS3]:
    """moto on a free port, NGINX with TLS for localhost on another; both stopped afterwards."""
    prefix.mkdir(parents=True, exist_ok=True)
    ca = init_ca(prefix / "ca", "Vigia test S3 CA")
    issue_server_certificate(ca, [HOST], prefix / "s3.crt", prefix / "s3.key")
    shutil.copyfile(prefix / "ca" / "ca.crt", prefix / "ca.crt")
    (prefix / "ca.crt").chmod(0o644)
    with s3_server(prefix / "moto.log") as s3:
        server = TlsS3(s3, prefix, free_port())
        (prefix / "nginx.conf").write_text(NGINX_CONFIG.format(prefix=prefix, port=server.port, upstream=s3.endpoint))
        server.start_proxy()
        try:
            yield server
        finally:
            server.stop_proxy()
