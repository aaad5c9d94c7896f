"""The webhook receiver (tests/support/webhook_receiver.py) as a child process of the test."""
from __future__ import annotations

import json
import select
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path

from support.servers import free_port

SCRIPT = Path(__file__).with_name("webhook_receiver.py")


@dataclass
class Receiver:
    """A receiver process; `stop()`, then `start()` again on the same port."""

    log: Path
    secret: str
    statuses: tuple[int, ...] = ()
    delay: float = 0.0
    port: int = field(default_factory=free_port)
    process: subprocess.Popen | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/hooks/vigia"

    def start(self, timeout: float = 15.0) -> Receiver:
        self.process = subprocess.Popen(
            [sys.executable, str(SCRIPT), "--port", str(self.port), "--secret", self.secret, "--log", str(self.log),
             "--statuses", ",".join(map(str, self.statuses)), "--delay", str(self.delay)],
            stdout=subprocess.PIPE, text=True)
        readable, _, _ = select.select([self.process.stdout], [], [], timeout)
        if not readable or not self.process.stdout.readline().startswith("ready"):
            self.stop()
            raise RuntimeError("the webhook receiver did not start")
        self.statuses = ()  # a restarted receiver answers 200
        return self

    def stop(self) -> None:
        if self.process is not None:
            self.process.terminate()
            self.process.wait(10)
            self.process.stdout.close()
            self.process = None

    def requests(self) -> list[dict]:
        """Every request so far: path, status answered, verified (the signature check), headers, body (text)."""
        if not self.log.exists():
            return []
        return [json.loads(line) for line in self.log.read_text().splitlines() if line.strip()]

    def delivered(self) -> list[dict]:
        """The bodies answered with 2xx, in order."""
        return [json.loads(r["body"]) for r in self.requests() if 200 <= r["status"] < 300]

    def __enter__(self) -> Receiver:
        return self.start()

    def __exit__(self, *_exc: object) -> None:
        self.stop()
