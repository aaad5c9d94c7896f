"""The S3 protocol server (moto) behind NGINX speaking TLS, for clients that talk HTTPS only (pgBackRest).

The certificate is for "localhost" (pgBackRest 2.45 matches the endpoint against DNS names, not IP
addresses), signed by a CA of the test's own; NGINX rather than moto's --ssl because werkzeug ends TLS
connections without close_notify, which OpenSSL 3 clients take as an error."""
from __future__ import annotations

import contextlib
import shutil
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from tests.support.s3_server import ACCESS_KEY, REGION, SECRET_KEY, S3Server, s3_server
from vigia.app.devstack import free_port, start_nginx, stop_process
from vigia.central.ingest.ca import init_ca, issue_server_certificate

HOST = "localhost"

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
