"""The NGINX configuration in front of central: TLS, device certificates verified, instances round-robin.

NGINX checks a device certificate against central's CA (optional at the TLS level, so that a device
without one can still enrol) and passes the verdict, the subject and the serial to central, replacing
any such headers a client sent. A batch is safe to send twice (the protocol's sequence numbers), so
NGINX may try the next instance when one fails mid-request. When no instance answers, NGINX's own 502, 503
and 504 are JSON errors (`no_central_instance`) like central's, which the device logs as they are.
"""
from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

from vigia.kit import nginx

GATEWAY_ERRORS = {502: "central's proxy answered 502 Bad Gateway: no central instance behind it answered",
                  503: "central's proxy answered 503 Service Unavailable: no central instance behind it is available",
                  504: "central's proxy answered 504 Gateway Timeout: no central instance behind it answered in time"}


def _gateway_error_pages() -> str:
    """error_page directives and their named locations: NGINX's own gateway errors as JSON."""
    lines = [f"        error_page {status} @central_{status};" for status in GATEWAY_ERRORS]
    for status, message in GATEWAY_ERRORS.items():
        body = json.dumps({"error": "no_central_instance", "message": message}).replace("'", "\\'")
        lines.append(f"        location @central_{status} {{\n"
                     f"            default_type application/json;\n"
                     f"            return {status} '{body}';\n"
                     f"        }}")
    return "\n".join(lines)


@dataclass(frozen=True)
class NginxSite:
    listen: str                  # host:port
    upstreams: list[str]         # central instances, host:port
    certificate: Path            # server chain (PEM)
    private_key: Path
    client_ca: Path              # central's CA: device certificates
    prefix: Path                 # pid, logs and temporary files
    max_body_bytes: int = 5 << 20


def nginx_config(site: NginxSite) -> str:
    p = site.prefix
    return f"""{nginx.preamble(p, "vigia.central.ingest.nginx")}
http {{
{nginx.http_basics(p, site.max_body_bytes)}
{nginx.upstream("central", site.upstreams)}
    server {{
        listen {site.listen} ssl;
        ssl_protocols TLSv1.2 TLSv1.3;
        ssl_certificate {site.certificate};
        ssl_certificate_key {site.private_key};
        ssl_client_certificate {site.client_ca};
        ssl_verify_client optional;
        ssl_verify_depth 1;
        location = /metrics {{
            return 404;   # central's metrics are for Prometheus, on the instances' own ports
        }}
        location / {{
            proxy_pass http://central;
            proxy_http_version 1.1;
            proxy_set_header Connection "";
            proxy_set_header Host $host;
            proxy_set_header X-Client-Verify $ssl_client_verify;
            proxy_set_header X-Client-S-DN $ssl_client_s_dn;
            proxy_set_header X-Client-Serial $ssl_client_serial;
            proxy_next_upstream error timeout http_502 non_idempotent;
            proxy_read_timeout 60s;
        }}
{_gateway_error_pages()}
    }}
}}
"""


def write_nginx_config(site: NginxSite) -> Path:
    """Write the config (and the folders it names) under the site's prefix; returns the file."""
    return nginx.write_config(site.prefix, nginx_config(site))
