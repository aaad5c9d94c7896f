"""Which callers' client-certificate headers ingest believes: the trusted proxies, given as addresses (the
single-host NGINX on loopback) or as networks (an ingress controller's pods on Kubernetes)."""
from __future__ import annotations

import pytest

from vigia.app.cli.main import parser
from vigia.central.ingest.peer import is_trusted_proxy

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
