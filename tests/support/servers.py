"""Start and stop the test RTSP server (tests/support/rtsp_server.py) as a real child process."""
from __future__ import annotations

import select
import socket
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

# GStreamer's Python bindings (gi) are installed for the system python, not for the venv.
GST_PYTHON = "/usr/bin/python3"
SERVER_SCRIPT = Path(__file__).with_name("rtsp_server.py")


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@dataclass
class RtspServer:
    """A running rtsp_server.py process; use as a context manager so it is always reaped."""

    process: subprocess.Popen
    port: int
    path: str

    @property
    def url(self) -> str:
        return f"rtsp://127.0.0.1:{self.port}/{self.path}"

    def stop(self, timeout: float = 5.0) -> None:
        """SIGTERM, wait for exit (SIGKILL if it does not exit within `timeout`)."""
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout)
            except subprocess.TimeoutExpired:
                self.kill()
        self._reap()

    def kill(self) -> None:
        """SIGKILL: the server dies without closing its connections cleanly."""
        if self.process.poll() is None:
            self.process.kill()
        self._reap()

    def _reap(self) -> None:
        self.process.wait()
        if self.process.stdout is not None:
            self.process.stdout.close()

    def __enter__(self) -> RtspServer:
        return self

    def __exit__(self, *_exc: object) -> None:
        self.stop()


def start_rtsp_server(file: Path | str, port: int | None = None, path: str = "demo",
                      ready_timeout: float = 10.0) -> RtspServer:
    """Start a server looping `file` at rtsp://127.0.0.1:PORT/PATH; return once it listens."""
    port = port or free_port()
    process = subprocess.Popen(
        [GST_PYTHON, str(SERVER_SCRIPT), "--file", str(file), "--port", str(port), "--path", path],
        stdout=subprocess.PIPE,
        text=True,
    )
    server = RtspServer(process, port, path)
    try:
        _wait_for_ready(process, ready_timeout)
    except BaseException:
        server.stop()
        raise
    return server


def _wait_for_ready(process: subprocess.Popen, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while True:
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            raise TimeoutError(f"RTSP server did not print 'ready' within {timeout} s")
        readable, _, _ = select.select([process.stdout], [], [], remaining)
        if not readable:
            continue
        line = process.stdout.readline()
        if line.startswith("ready"):
            return
        if not line:
            raise RuntimeError(f"RTSP server exited before it was ready (exit code {process.wait()})")
