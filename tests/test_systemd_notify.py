"""sd_notify over a real AF_UNIX datagram socket, as systemd listens for it: the protocol, the wrapper
around the HTTP server, and the appliance itself (`vigia demo`) started as systemd starts it."""
from __future__ import annotations

import asyncio
import os
import socket
import subprocess
import sys
import threading
import time
from contextlib import contextmanager
from pathlib import Path

from support.servers import free_port

from vigia.appliance.config import Config
from vigia.inference.model_store import import_model
from vigia.provisioning.sdnotify import Notifier, notifier_from_env, watchdog_period
from vigia.provisioning.service import around_serving


@contextmanager
def notify_socket(path_or_abstract: str):
    """systemd's side: a datagram socket collecting what the service sends, message by message."""
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    sock.bind("\0" + path_or_abstract[1:] if path_or_abstract.startswith("@") else path_or_abstract)
    sock.settimeout(0.2)
    messages: list[str] = []
    stop = threading.Event()

    def collect():
        while not stop.is_set():
            try:
                messages.append(sock.recv(4096).decode())
            except TimeoutError:
                continue

    thread = threading.Thread(target=collect, daemon=True)
    thread.start()
    try:
        yield messages
    finally:
        stop.set()
        thread.join()
        sock.close()


def test_notifier_sends_one_datagram_per_message(tmp_path):
    path = str(tmp_path / "notify")
    with notify_socket(path) as messages:
        notifier = notifier_from_env({"NOTIFY_SOCKET": path})
        assert notifier.send("READY=1", "STATUS=up") and notifier.send("WATCHDOG=1")
        time.sleep(0.5)
    assert messages == ["READY=1\nSTATUS=up", "WATCHDOG=1"]


def test_abstract_socket_and_unreachable_socket(tmp_path):
    name = f"@vigia-test-{os.getpid()}"
    with notify_socket(name) as messages:
        assert Notifier(name).send("READY=1")
        time.sleep(0.5)
    assert messages == ["READY=1"]
    assert Notifier(str(tmp_path / "nobody-listens")).send("READY=1") is False  # logged, not raised


def test_environment_parsing():
    assert notifier_from_env({}) is None and notifier_from_env({"NOTIFY_SOCKET": "relative"}) is None
    assert watchdog_period({"WATCHDOG_USEC": "30000000"}) == 15.0
    assert watchdog_period({"WATCHDOG_USEC": "30000000", "WATCHDOG_PID": "1"}, pid=2) is None
    assert watchdog_period({"WATCHDOG_USEC": "30000000", "WATCHDOG_PID": "2"}, pid=2) == 15.0
    assert watchdog_period({"WATCHDOG_USEC": "0"}) is None and watchdog_period({}) is None


def test_ready_only_once_the_port_listens_then_watchdog_pings(tmp_path):
    port = free_port()
    config = Config.model_validate({"cameras": [{"url": "/dev/null"}], "storage": {"data_dir": str(tmp_path / "data")},
                                    "http": {"host": "127.0.0.1", "port": port}})
    stop = threading.Event()
    path = str(tmp_path / "notify")
    env = {"NOTIFY_SOCKET": path, "WATCHDOG_USEC": "200000"}

    async def server():
        await asyncio.sleep(0.6)  # slow to start: READY must wait for the port, not for the coroutine to begin
        listener = await asyncio.start_server(lambda r, w: w.close(), "127.0.0.1", port)
        listening_since.append(time.monotonic())
        while not stop.is_set():
            await asyncio.sleep(0.05)
        listener.close()

    listening_since: list[float] = []
    with notify_socket(path) as messages:
        threading.Timer(2.0, stop.set).start()
        asyncio.run(around_serving(server(), config, stop, environ=env))
        time.sleep(0.3)
    assert messages[0] == f"READY=1\nSTATUS=serving on 127.0.0.1:{port}"
    pings = messages[1:-1]
    assert 5 <= len(pings) <= 16 and set(pings) == {"WATCHDOG=1"}  # every 0.1 s for about 1.4 s
    assert messages[-1] == "STOPPING=1"
    assert (tmp_path / "data" / "identity" / "device.key").is_file()  # the identity is made at first start


def test_the_appliance_tells_systemd_it_is_ready_and_alive(tmp_path, demo_clip, default_model):
    import_model(tmp_path / "models", default_model)
    port, path = free_port(), str(tmp_path / "notify")
    env = {**os.environ, "VIGIA_DATA_DIR": str(tmp_path), "NOTIFY_SOCKET": path, "WATCHDOG_USEC": "400000"}
    with notify_socket(path) as messages:
        proc = subprocess.run([sys.executable, "-m", "vigia.app.cli.main", "demo", "--clip", str(demo_clip),
                               "--port", str(port), "--seconds", "3"], env=env, capture_output=True, text=True,
                              timeout=120, check=False)
        time.sleep(0.3)
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert messages and messages[0] == f"READY=1\nSTATUS=serving on 127.0.0.1:{port}", messages
    assert messages.count("WATCHDOG=1") >= 5 and messages[-1] == "STOPPING=1"
    assert "Traceback" not in proc.stderr
    assert Path(tmp_path, "identity", "device.key").is_file()
