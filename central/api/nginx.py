"""The NGINX gateway in front of the API instances: TLS, routing (/oauth/, /api/v1/, /graphql only; the rest
404), body limits, token requests limited per address, the caller's address passed on (the audit believes it
from the gateway only)."""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from vigia.kit import nginx


@dataclass(frozen=True)
class GatewaySite:
    listen: str                  # host:port
    upstreams: list[str]         # API instances, host:port
    certificate: Path            # server chain (PEM)
    private_key: Path
    prefix: Path                 # pid, logs and temporary files
    max_body_bytes: int = 64 << 10
    token_requests_per_s: int = 10   # per caller's address, at /oauth/ (429 beyond, after a burst of twice that)


def gateway_config(site: GatewaySite) -> str:
    p = site.prefix
    proxy = """            proxy_pass http://vigia_api;
            proxy_http_version 1.1;
            proxy_set_header Connection "";
            proxy_set_header Host $host;
            proxy_set_header X-Real-IP $remote_addr;
            proxy_set_header X-Forwarded-Proto https;
            proxy_read_timeout 30s;"""
    return f"""{nginx.preamble(p, "vigia.central.api.nginx")}
http {{
{nginx.http_basics(p, site.max_body_bytes)}
    server_tokens off;
    # token requests per address: a client asks for a token an hour, not hundreds a second
    limit_req_zone $binary_remote_addr zone=vigia_api_tokens:1m rate={site.token_requests_per_s}r/s;
    limit_req_status 429;
{nginx.upstream("vigia_api", site.upstreams)}
    server {{
        listen {site.listen} ssl;
        ssl_protocols TLSv1.2 TLSv1.3;
        ssl_certificate {site.certificate};
        ssl_certificate_key {site.private_key};
        add_header Strict-Transport-Security "max-age=31536000" always;
        location /oauth/ {{
            limit_req zone=vigia_api_tokens burst={site.token_requests_per_s * 2} nodelay;
{proxy}
        }}
        location /api/v1/ {{
{proxy}
        }}
        location = /graphql {{
{proxy}
        }}
        location / {{
            default_type application/json;
            return 404 '{{"error": "not found"}}';
        }}
    }}
}}
"""


def write_gateway_config(site: GatewaySite) -> Path:
    """Write the config (and the folders it names) under the site's prefix; returns the file."""
    return nginx.write_config(site.prefix, gateway_config(site))
