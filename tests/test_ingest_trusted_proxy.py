"""Which callers' client-certificate headers ingest believes: the trusted proxies, given as addresses (the
single-host NGINX on loopback) or as networks (an ingress controller's pods on Kubernetes)."""
from __future__ import annotations

import asyncio
from dataclasses import dataclass

import aiohttp
import pytest

from vigia.app.cli.main import parser
from vigia.app.devstack import central_stack
from vigia.central.ingest.peer import is_trusted_proxy
from vigia.sync.identity import client_context, enrol
from vigia.sync.protocol import encode_batch

LOOPBACK = frozenset({"127.0.0.1", "::1"})
PODS = frozenset({"10.0.0.0/8", "fd00::/8"})


@pytest.mark.parametrize(("remote", "proxies", "trusted"), [
    ("127.0.0.1", LOOPBACK, True),
    ("::1", LOOPBACK, True),
    ("127.0.0.2", LOOPBACK, False),
    ("10.244.3.17", PODS, True),
    ("::ffff:10.244.3.17", PODS, True),   # an IPv4 peer on a dual-stack socket
    ("fd00::17", PODS, True),
    ("192.168.1.5", PODS, False),
    ("11.0.0.1", PODS, False),
    ("not an address", PODS, False),
    (None, PODS, False),
])
def test_trusted_proxy(remote, proxies, trusted):
    assert is_trusted_proxy(remote, proxies) is trusted


def test_cli_takes_networks_and_refuses_nonsense(capsys):
    args = parser().parse_args(["central", "serve", "--ca-dir", "/ca", "--trusted-proxy", "10.0.0.0/8",
                                "--trusted-proxy", "::1"])
    assert args.trusted_proxy == ["10.0.0.0/8", "::1"]
    with pytest.raises(SystemExit):
        parser().parse_args(["central", "serve", "--ca-dir", "/ca", "--trusted-proxy", "10.0.0.0/33"])
    assert "'10.0.0.0/33' is neither an IP address nor a network" in capsys.readouterr().err


@dataclass(frozen=True)
class Record:   # a vigia.sync.protocol.OutgoingRecord
    seq: int
    kind: str
    key: str
    body: str


async def post_batch(url: str, body: bytes, context) -> tuple[int, dict]:
    headers = {"Content-Type": "application/json", "Content-Encoding": "gzip"}
    async with aiohttp.ClientSession(auto_decompress=False) as session, \
            session.post(url, data=body, ssl=context, headers=headers) as response:
        return response.status, await response.json(content_type=None)


@pytest.mark.parametrize(("network", "believed"), [("127.0.0.0/8", True), ("192.0.2.0/24", False)])
def test_ingest_behind_nginx_believes_a_proxy_network(tmp_path, network, believed):
    """Real NGINX (on 127.0.0.1) in front of one instance trusting a network: a device's certificate is known
    to ingest when NGINX's address is inside it (a batch naming another device: 403 wrong_device), not when
    it is outside (401 unauthenticated)."""
    with central_stack(tmp_path, instances=1, central_args=["--trusted-proxy", network]) as stack:
        identity = asyncio.run(enrol(tmp_path / "sync", stack.url, stack.token("net-01"), stack.ca_pem)).identity
        body = encode_batch("someone-else", [Record(1, "metrics", "m", "{}")])
        status, answer = asyncio.run(post_batch(f"{stack.url}/v1/batches", body, client_context(identity)))
    assert (status, answer["error"]) == ((403, "wrong_device") if believed else (401, "unauthenticated"))
