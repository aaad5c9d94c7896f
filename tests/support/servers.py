"""Start and stop the test RTSP server (tests/support/rtsp_server.py) as a real child process."""
from __future__ import annotations

import select
import socket
import subprocess
import sys
import threading
import time
from dataclasses import dataclass, field
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
    """A running rtsp_server.py process; use as a context manager so it is always reaped.

    GStreamer's RTSP server (Debian's 1.22) now and then aborts on an assertion when a client's PLAY
    races the shared media's start (`gst_rtsp_media_get_rates: assertion failed`). That is the test
    camera failing, not the appliance: a server that dies by itself is started again on the same
    port (said on stderr, counted in `restarts`), as a real camera would come back after a reboot.
    One stopped or killed on purpose stays down.
    """

    process: subprocess.Popen
    port: int
    path: str
    file: Path
    ready_timeout: float
    more: dict[str, Path] = field(default_factory=dict)  # other paths of the same camera (a sub-stream)
    restarts: int = 0
    _stopping: bool = field(default=False, init=False, repr=False)
    _lock: threading.Lock = field(default_factory=threading.Lock, init=False, repr=False)
    _watcher: threading.Thread | None = field(default=None, init=False, repr=False)

    @property
    def url(self) -> str:
        return f"rtsp://127.0.0.1:{self.port}/{self.path}"

    def url_of(self, path: str) -> str:
        return f"rtsp://127.0.0.1:{self.port}/{path}"

    def watch(self) -> None:
        self._watcher = threading.Thread(target=self._supervise, name=f"rtsp-server-{self.port}", daemon=True)
        self._watcher.start()

    def stop(self, timeout: float = 5.0) -> None:
        """SIGTERM, wait for exit (SIGKILL if it does not exit within `timeout`)."""
        with self._lock:
            self._stopping = True
            if self.process.poll() is None:
                self.process.terminate()
                try:
                    self.process.wait(timeout)
                except subprocess.TimeoutExpired:
                    self.process.kill()
            self._reap()
        self._join()

    def kill(self) -> None:
        """SIGKILL: the server dies without closing its connections cleanly (and stays down)."""
        with self._lock:
            self._stopping = True
            if self.process.poll() is None:
                self.process.kill()
            self._reap()
        self._join()

    def _supervise(self) -> None:
        while True:
            code = self.process.wait()
            with self._lock:
                if self._stopping:
                    return
                self._reap()
                print(f"test RTSP server on port {self.port} died by itself (exit code {code}): starting it again",
                      file=sys.stderr)
                for _ in range(5):
                    self.process = _launch(self.file, self.port, self.path, self.more)
                    try:
                        _wait_for_ready(self.process, self.ready_timeout)
                        break
                    except (RuntimeError, TimeoutError):
                        self.process.kill()
                        self._reap()
                        time.sleep(0.5)
                else:
                    return
                self.restarts += 1

    def _join(self) -> None:
        if self._watcher is not None and self._watcher is not threading.current_thread():
            self._watcher.join(10)

    def _reap(self) -> None:
        self.process.wait()
        if self.process.stdout is not None:
            self.process.stdout.close()

    def __enter__(self) -> RtspServer:
        return self

    def __exit__(self, *_exc: object) -> None:
        self.stop()


def start_rtsp_server(file: Path | str, port: int | None = None, path: str = "demo",
                      ready_timeout: float = 10.0, more: dict[str, Path] | None = None) -> RtspServer:
    """Start a server looping `file` at rtsp://127.0.0.1:PORT/PATH (and each of `more` at its path, as a
    camera serves its sub-stream); return once it listens."""
    port = port or free_port()
    more = {name: Path(other) for name, other in (more or {}).items()}
    process = _launch(Path(file), port, path, more)
    server = RtspServer(process, port, path, Path(file), ready_timeout, more)
    try:
        _wait_for_ready(process, ready_timeout)
    except BaseException:
        server.stop()
        raise
    server.watch()
    return server


def _launch(file: Path, port: int, path: str, more: dict[str, Path]) -> subprocess.Popen:
    mounts = [arg for name, other in more.items() for arg in ("--mount", f"{name}={other}")]
    return subprocess.Popen(
        [GST_PYTHON, str(SERVER_SCRIPT), "--file", str(file), "--port", str(port), "--path", path, *mounts],
        stdout=subprocess.PIPE,
        text=True,
    )


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
