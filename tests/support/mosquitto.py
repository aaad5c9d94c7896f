"""A Mosquitto broker of the test's own (the `mosquitto` binary, Debian's package) on a free port, and a subscriber
that records what it receives."""
from __future__ import annotations

import getpass
import json
import shutil
import socket
import ssl
import subprocess
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

import paho.mqtt.client as paho
from paho.mqtt.enums import CallbackAPIVersion

from support.servers import free_port
from support.tls import write_tls_files

MOSQUITTO = shutil.which("mosquitto") or "/usr/sbin/mosquitto"
MOSQUITTO_PASSWD = shutil.which("mosquitto_passwd") or "/usr/bin/mosquitto_passwd"


@dataclass
class Mosquitto:
    """A broker process; `stop()` and `start()` again on the same port (retained messages are not persisted:
    a restarted broker has forgotten them, as one that lost its disk would). With `tls`, it speaks only TLS, with a
    certificate for 127.0.0.1 signed by `ca_file`; with `users` (name -> password), only they may connect."""

    folder: Path
    port: int = field(default_factory=free_port)
    tls: bool = False
    users: dict[str, str] | None = None
    process: subprocess.Popen | None = None

    @property
    def url(self) -> str:
        return f"{'mqtts' if self.tls else 'mqtt'}://127.0.0.1:{self.port}"

    @property
    def ca_file(self) -> Path:
        return self.folder / "ca.pem"

    def start(self, timeout: float = 15.0) -> Mosquitto:
        assert Path(MOSQUITTO).exists(), "mosquitto is missing: run `make setup` (apt package mosquitto)"
        conf = self.folder / "mosquitto.conf"
        # Started by root, mosquitto would become user `mosquitto`, who cannot read the test's files: it stays who we are.
        lines = [f"listener {self.port} 127.0.0.1", "persistence false", f"user {getpass.getuser()}"]
        if self.tls:
            write_tls_files(self.folder)
            lines += [f"cafile {self.ca_file}", f"certfile {self.folder / 'server.pem'}",
                      f"keyfile {self.folder / 'server.key'}"]
        if self.users is not None:
            passwords = self.folder / "passwd"
            passwords.write_text("".join(f"{name}:{password}\n" for name, password in self.users.items()))
            subprocess.run([MOSQUITTO_PASSWD, "-U", str(passwords)], check=True)  # hashes them in place
            lines += ["allow_anonymous false", f"password_file {passwords}"]
        else:
            lines.append("allow_anonymous true")
        conf.write_text("\n".join(lines) + "\n")
        log = open(self.folder / "mosquitto.log", "ab")
        self.process = subprocess.Popen([MOSQUITTO, "-c", str(conf)], stdout=log, stderr=log)
        log.close()
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"mosquitto exited ({self.process.returncode}): "
                                   f"{(self.folder / 'mosquitto.log').read_text()[-2000:]}")
            try:
                socket.create_connection(("127.0.0.1", self.port), timeout=1).close()
                return self
            except OSError:
                time.sleep(0.05)
        raise TimeoutError(f"mosquitto did not listen on {self.port} within {timeout} s")

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        self.process = None

    def __enter__(self) -> Mosquitto:
        return self.start()

    def __exit__(self, *_exc: object) -> None:
        self.stop()


@dataclass(frozen=True)
class Received:
    topic: str
    payload: bytes
    retain: bool
    qos: int

    def json(self):
        return json.loads(self.payload)


class Subscriber:
    """A client subscribed to `topics` (QoS 1) that keeps every message it gets, in order."""

    def __init__(self, port: int, topics: tuple[str, ...] = ("#",), client_id: str = "test-subscriber",
                 ca_file: Path | None = None, user: tuple[str, str] | None = None):
        self.messages: list[Received] = []
        self._lock = threading.Lock()
        self._subscribed = threading.Event()
        self._client = paho.Client(CallbackAPIVersion.VERSION2, client_id=client_id, clean_session=True)
        if ca_file is not None:
            self._client.tls_set_context(ssl.create_default_context(cafile=ca_file))
        if user is not None:
            self._client.username_pw_set(*user)
        self._client.on_connect = lambda client, *_: client.subscribe([(t, 1) for t in topics])
        self._client.on_subscribe = lambda *_: self._subscribed.set()
        self._client.on_message = self._on_message
        self._client.connect("127.0.0.1", port)
        self._client.loop_start()
        assert self._subscribed.wait(10), "the test subscriber could not subscribe"

    def _on_message(self, _client, _userdata, message) -> None:
        with self._lock:
            self.messages.append(Received(message.topic, message.payload, bool(message.retain), message.qos))

    def on(self, topic: str) -> list[Received]:
        with self._lock:
            return [m for m in self.messages if m.topic == topic]

    def latest(self, topic: str) -> Received | None:
        found = self.on(topic)
        return found[-1] if found else None

    def close(self) -> None:
        self._client.disconnect()
        self._client.loop_stop()

    def __enter__(self) -> Subscriber:
        return self

    def __exit__(self, *_exc: object) -> None:
        self.close()
