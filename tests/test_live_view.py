"""The live WebSocket against a running appliance: the demo clip as a real-time camera, real detection.

Checks what a guard's screen relies on: frames of watched cameras (and only those) with the
tracker's boxes, alerts within a second of the frame they come from, and zones edited in the
UI taking effect without a restart.
"""
from __future__ import annotations

import asyncio
import json
import struct
import time
from pathlib import Path

import aiohttp
import cv2
import numpy as np
import pytest
from support.appliance import cookie_jar, login, running_appliance
from support.servers import free_port

from vigia.appliance.config import parse_config

pytestmark = pytest.mark.slow

CONFIG = """\
cameras:
  - name: concourse
    url: {clip}
    loop: true
    record: {{mode: "off"}}
    rules:
      - {{name: someone, type: present, classes: [person], alert: true}}
detector:
  model: {model}
storage:
  data_dir: {data_dir}
http:
  port: {port}
"""
USERS = {"ian": ("installer-pass-1", "installer")}


def split_frame(data: bytes) -> tuple[dict, bytes]:
    (length,) = struct.unpack(">I", data[:4])
    return json.loads(data[4:4 + length]), data[4 + length:]


def test_live_frames_alerts_and_zone_edits(tmp_path: Path, demo_clip: Path, default_model: Path):
    config = parse_config(CONFIG.format(clip=demo_clip, model=default_model, data_dir=tmp_path, port=free_port()))
    with running_appliance(config, USERS) as running:
        asyncio.run(_scenario(running))


async def _scenario(running) -> None:
    async with aiohttp.ClientSession(cookie_jar=cookie_jar()) as session:
        csrf = await login(session, running, "ian", USERS["ian"][0])
        async with session.ws_connect(f"{running.base}/api/v1/live", ssl=running.tls) as ws:
            hello = await ws.receive_json(timeout=10)
            assert hello["type"] == "hello" and [c["name"] for c in hello["cameras"]] == ["concourse"]

            await ws.send_json({"type": "watch", "cameras": ["concourse"], "size": "grid"})
            frames, alerts, latencies = [], [], []
            deadline = time.monotonic() + 12
            while time.monotonic() < deadline and (len(frames) < 15 or len(alerts) < 5):
                message = await ws.receive(timeout=10)
                now = time.time()
                if message.type == aiohttp.WSMsgType.BINARY:
                    frames.append(split_frame(message.data))
                elif message.type == aiohttp.WSMsgType.TEXT:
                    body = json.loads(message.data)
                    if body["type"] == "event" and body["change"] == "open" and body["event"]["alert"]:
                        alerts.append(body["event"])
                        latencies.append(now - body["event"]["started_at"])
            assert len(frames) >= 15 and len(alerts) >= 5, (len(frames), len(alerts))
            header, jpeg = frames[-1]
            image = cv2.imdecode(np.frombuffer(jpeg, np.uint8), cv2.IMREAD_COLOR)
            assert image.shape == (360, 640, 3) and (header["width"], header["height"]) == (1280, 720)
            assert any(f[0]["tracks"] for f in frames)
            for track in (t for f in frames for t in f[0]["tracks"]):
                x1, y1, x2, y2 = track["box"]
                assert track["label"] == "person" and -0.1 <= x1 < x2 <= 1.1 and -0.1 <= y1 < y2 <= 1.1
            captured = [f[0]["captured_at"] for f in frames]
            assert captured == sorted(captured)
            assert sorted(latencies)[int(0.95 * (len(latencies) - 1))] < 1.0, latencies
            assert {a["rule"] for a in alerts} == {"someone"}

            # Stop watching: frames stop (allowing for one in flight).
            await ws.send_json({"type": "watch", "cameras": []})
            await asyncio.sleep(0.5)
            late = await _collect(ws, 1.5)
            assert not [m for m in late if m.type == aiohttp.WSMsgType.BINARY]

            # The zone editor: a current frame, then a new layout applied without a restart.
            async with session.get(f"{running.base}/api/v1/cameras/concourse/frame", ssl=running.tls) as reply:
                assert reply.status == 200 and reply.content_type == "image/jpeg"
                full = cv2.imdecode(np.frombuffer(await reply.read(), np.uint8), cv2.IMREAD_COLOR)
                assert full.shape == (720, 1280, 3)
            layout = {"zones": [{"name": "everywhere", "polygon": [[0, 0], [1, 0], [1, 1], [0, 1]]}], "lines": [],
                      "rules": [{"name": "in-hall", "type": "enter", "zone": "everywhere", "classes": ["person"]}]}
            async with session.put(f"{running.base}/api/v1/cameras/concourse/layout", json=layout, ssl=running.tls,
                                   headers={"X-CSRF-Token": csrf}) as reply:
                assert reply.status == 200, await reply.text()
            applied = time.time()
            messages = [json.loads(m.data) for m in await _collect(ws, 6) if m.type == aiohttp.WSMsgType.TEXT]
            assert any(m["type"] == "layout" and m["layout"]["rules"][0]["name"] == "in-hall" for m in messages)
            opened = [m["event"] for m in messages if m["type"] == "event" and m["change"] == "open"]
            assert any(e["rule"] == "in-hall" for e in opened), opened
            assert not [e for e in opened if e["rule"] == "someone" and e["started_at"] > applied + 1.0]


async def _collect(ws, seconds: float) -> list:
    out, deadline = [], time.monotonic() + seconds
    while (left := deadline - time.monotonic()) > 0:
        try:
            out.append(await ws.receive(timeout=left))
        except asyncio.TimeoutError:
            break
    return out
