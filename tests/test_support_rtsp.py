"""The test camera itself (tests/support/servers.py): one that dies by itself comes back, one stopped stays down."""
from __future__ import annotations

import os
import signal
from pathlib import Path

import av
from support.servers import start_rtsp_server
from support.waiting import wait_for


def first_packet(url: str) -> bool:
    with av.open(url, options={"rtsp_transport": "tcp"}, timeout=(5, 5)) as container:
        return next(container.demux(video=0)).size > 0


def test_a_test_server_that_aborts_is_started_again_on_its_port(demo_clip: Path):
    with start_rtsp_server(demo_clip) as server:
        assert first_packet(server.url)
        os.kill(server.process.pid, signal.SIGABRT)  # as GStreamer's failed assertion does
        assert wait_for(lambda: server.restarts == 1, 15)
        assert first_packet(server.url)
    assert server.process.poll() is not None and server.restarts == 1  # stopped on purpose: not restarted
