"""A real OpenID provider for the tests: panva's oidc-provider (OpenID Certified, tests/support/oidc, installed
from its own lock by `make setup`) in a Node.js process on a free port, with the clients and accounts given.

    with oidc_provider(tmp_path, clients=[...], accounts={"olga": {"groups": [...]}}) as provider:
        provider.issuer   # http://127.0.0.1:PORT

Logins go through the provider's own interaction pages: the login form takes an account's name and any password.
"""
from __future__ import annotations

import contextlib
import json
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from support.servers import free_port

HERE = Path(__file__).resolve().parent / "oidc"


@dataclass(frozen=True)
class OidcProvider:
    issuer: str
    log: Path


@contextlib.contextmanager
def oidc_provider(root: Path, clients: list[dict], accounts: dict[str, dict], id_token_ttl: int = 3600,
                  timeout: float = 30.0) -> Iterator[OidcProvider]:
    assert (HERE / "node_modules" / "oidc-provider").is_dir(), "run `make setup` (npm ci in tests/support/oidc)"
    port = free_port()
    settings = root / "oidc-provider.json"
    settings.write_text(json.dumps({"port": port, "clients": clients, "accounts": accounts,
                                    "id_token_ttl": id_token_ttl}))
    log = root / "oidc-provider.log"
    with log.open("w") as out:
        process = subprocess.Popen(["node", str(HERE / "provider.mjs"), str(settings)], stdout=subprocess.PIPE,
                                   stderr=out, text=True, cwd=HERE)
    try:
        line = _first_line(process, timeout)
        assert line.startswith("ready "), f"the OpenID provider did not start: {line!r}; {log.read_text()[-2000:]}"
        yield OidcProvider(line.split()[1], log)
    finally:
        process.terminate()
        try:
            process.wait(10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def _first_line(process: subprocess.Popen, timeout: float) -> str:
    """The process's first line of output, or '' if it exits or says nothing within `timeout` seconds."""
    import selectors

    with selectors.DefaultSelector() as selector:
        selector.register(process.stdout, selectors.EVENT_READ)
        if not selector.select(timeout):
            return ""
    return process.stdout.readline().strip()
