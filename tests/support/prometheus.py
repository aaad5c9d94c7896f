"""A real Prometheus (Debian's `prometheus`) for tests: a temporary config and storage folder, a free port."""
from __future__ import annotations

import contextlib
import json
import subprocess
import urllib.parse
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import yaml

from vigia.app.devstack import free_port, wait_http

PROMETHEUS = "/usr/bin/prometheus"


@dataclass
class Prometheus:
    port: int
    process: subprocess.Popen

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def api(self, path: str, **params: str) -> dict | list:
        """The `data` of an HTTP API answer (e.g. `query`, `alerts`, `targets`)."""
        query = f"?{urllib.parse.urlencode(params)}" if params else ""
        with urllib.request.urlopen(f"{self.url}/api/v1/{path}{query}", timeout=10) as reply:
            answer = json.load(reply)
        assert answer["status"] == "success", answer
        return answer["data"]

    def query(self, expr: str) -> dict[tuple, float]:
        """An instant vector as (sorted labels without __name__) -> value."""
        data = self.api("query", query=expr)
        return {tuple(sorted((k, v) for k, v in r["metric"].items() if k != "__name__")): float(r["value"][1])
                for r in data["result"]}


@contextlib.contextmanager
def running_prometheus(folder: Path, scrape_configs: list[dict], rule_files: list[Path],
                       interval: str = "1s") -> Iterator[Prometheus]:
    """Prometheus scraping `scrape_configs` and evaluating `rule_files` every `interval`, until the block ends."""
    folder.mkdir(parents=True, exist_ok=True)
    config = folder / "prometheus.yml"
    config.write_text(yaml.safe_dump({
        "global": {"scrape_interval": interval, "evaluation_interval": interval, "scrape_timeout": interval},
        "rule_files": [str(path) for path in rule_files], "scrape_configs": scrape_configs}))
    port = free_port()
    log = (folder / "prometheus.log").open("ab")
    process = subprocess.Popen([PROMETHEUS, f"--config.file={config}", f"--storage.tsdb.path={folder / 'data'}",
                                f"--web.listen-address=127.0.0.1:{port}", "--log.level=warn"],
                               stdout=log, stderr=log)
    try:
        wait_http(f"http://127.0.0.1:{port}/-/ready", 30, process)
        yield Prometheus(port, process)
    finally:
        process.terminate()
        try:
            process.wait(15)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
        log.close()
