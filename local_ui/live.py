"""Live updates for the guards' screens over one WebSocket per browser tab (`/api/v1/live`).

Camera threads report events, camera states and analysed frames; `LiveHub` hands them to the
asyncio loop (`call_soon_threadsafe`) and fans them out to every connected client:

- JSON text messages: `hello` (on connect: cameras, unacknowledged alerts, events missed since the
  client's `after` id), `event` (open/close), `ack`, `camera`, `layout`.
- Binary messages: a live frame of a camera the client watches: 4-byte big-endian header length,
  the JSON header (camera, capture time, size, tracks with normalised boxes), then a JPEG.

Frames cost nothing until someone watches: a camera nobody watches is never encoded, and a
frame is encoded once per size however many clients watch it. A slow client skips frames
(only the newest is kept per camera), never events: if its message queue overflows it is
disconnected and catches up from the database when it reconnects.
"""
from __future__ import annotations

import asyncio
import json
import logging
import struct
import threading
from collections import OrderedDict
from dataclasses import dataclass, field
from typing import Any

import cv2

from vigia.appliance.cameras import CameraStatus, DecodedFrame
from vigia.appliance.sinks import EventSink
from vigia.inference.preprocess import bgr_image
from vigia.inference.tracking import TrackerUpdate
from vigia.local_ui.common import event_json
from vigia.scene.events import EventChange

log = logging.getLogger(__name__)

FRAME_WIDTHS = {"grid": 640, "full": 1280}   # the widest a live JPEG is sent at, per view
JPEG_QUALITY = 70
MAX_QUEUED = 1000                            # JSON messages waiting for one slow client
REMEMBERED_ACKS = 1000                       # acknowledgements kept to show on events that close later


@dataclass
class LiveFrame:
    """The newest analysed frame of a camera, and what the tracker saw in it."""

    seq: int
    captured_at: float
    frame: Any                      # av.VideoFrame, as decoded
    tracks: list[dict]
    jpegs: dict[str, bytes] = field(default_factory=dict)  # by view, encoded on first request


@dataclass(eq=False)  # compared and hashed by identity: kept in a set
class Client:
    """One connected WebSocket: its messages and the cameras it watches."""

    messages: asyncio.Queue = field(default_factory=lambda: asyncio.Queue(MAX_QUEUED))  # JSON texts
    watching: frozenset[str] = frozenset()
    view: str = "grid"
    sent: dict[str, int] = field(default_factory=dict)   # camera -> seq of the last frame sent
    wake: asyncio.Event = field(default_factory=asyncio.Event)
    overflowed: bool = False
    socket: Any = None              # the WebSocketResponse, closed when the server shuts down


class LiveHub(EventSink):
    """Fan-out from camera threads (a sink of the appliance's) to WebSocket clients; everything but the
    `on_*` methods runs on the event loop."""

    def __init__(self, loop: asyncio.AbstractEventLoop):
        self.loop = loop
        self.clients: set[Client] = set()
        self.frames: dict[str, LiveFrame] = {}
        self.frame_sizes: dict[str, tuple[int, int]] = {}
        self._watched: frozenset[str] = frozenset()     # read by camera threads: replaced, never mutated
        self.acknowledged: OrderedDict[str, tuple[float, str]] = OrderedDict()  # event id -> (at, by)
        self._encode_lock = threading.Lock()
        self._seq = 0

    # -- from camera threads --------------------------------------------------------------

    def on_change(self, change: EventChange) -> None:
        if change.change in ("open", "close"):
            self.loop.call_soon_threadsafe(self._event_changed, change.change, change.event)

    def on_status(self, camera: str, status: CameraStatus) -> None:
        self.loop.call_soon_threadsafe(self.broadcast, {"type": "camera", "camera": {"name": camera, **status.to_json()}})

    def on_frame(self, camera: str, decoded: DecodedFrame, update: TrackerUpdate, names: list[str]) -> None:
        """Called for every analysed frame: does nothing unless a client watches `camera`."""
        width, height = decoded.frame.width, decoded.frame.height
        self.frame_sizes[camera] = (width, height)
        if camera not in self._watched:
            return
        tracks = [{
            "id": t.id,
            "label": names[t.class_id] if t.class_id < len(names) else str(t.class_id),
            "score": round(float(t.score), 3),
            "box": [round(float(t.box[0]) / width, 4), round(float(t.box[1]) / height, 4),
                    round(float(t.box[2]) / width, 4), round(float(t.box[3]) / height, 4)],
        } for t in update.active]
        self.loop.call_soon_threadsafe(self._new_frame, camera, decoded.wall, decoded.frame, tracks)

    # -- on the loop ------------------------------------------------------------------------

    def broadcast(self, message: dict) -> None:
        text = json.dumps(message)
        for client in list(self.clients):
            self._queue(client, text)

    def _event_changed(self, change: str, event) -> None:
        acknowledged_at, acknowledged_by = self.acknowledged.get(event.id, (None, None))
        self.broadcast({"type": "event", "change": change,
                        "event": event_json(event, acknowledged_at=acknowledged_at, acknowledged_by=acknowledged_by)})

    def event_acknowledged(self, event: dict) -> None:
        self.acknowledged[event["id"]] = (event["acknowledged_at"], event["acknowledged_by"])
        while len(self.acknowledged) > REMEMBERED_ACKS:
            self.acknowledged.popitem(last=False)
        self.broadcast({"type": "ack", "event": event})

    def _queue(self, client: Client, message: str) -> None:
        try:
            client.messages.put_nowait(message)
        except asyncio.QueueFull:
            client.overflowed = True  # the connection closes; the client catches up when it reconnects
        client.wake.set()

    def _new_frame(self, camera: str, captured_at: float, frame, tracks: list[dict]) -> None:
        self._seq += 1
        self.frames[camera] = LiveFrame(self._seq, captured_at, frame, tracks)
        for client in self.clients:
            if camera in client.watching:
                client.wake.set()

    def add(self, client: Client) -> None:
        self.clients.add(client)

    def remove(self, client: Client) -> None:
        self.clients.discard(client)
        self._rewatch()

    def watch(self, client: Client, cameras: list[str], view: str) -> None:
        client.watching = frozenset(cameras)
        client.view = view
        client.sent = {c: s for c, s in client.sent.items() if c in client.watching}
        self._rewatch()
        client.wake.set()

    def _rewatch(self) -> None:
        watched = frozenset().union(*(c.watching for c in self.clients))
        self._watched = watched
        for camera in list(self.frames):
            if camera not in watched:
                del self.frames[camera]  # no stale frame for the next viewer, no frame kept alive

    def due_frames(self, client: Client) -> list[tuple[str, LiveFrame]]:
        """Frames newer than the last one sent to this client, of the cameras it watches."""
        due = []
        for camera in sorted(client.watching):
            live = self.frames.get(camera)
            if live is not None and client.sent.get(camera) != live.seq:
                due.append((camera, live))
        return due

    async def frame_message(self, camera: str, live: LiveFrame, view: str) -> bytes:
        jpeg = live.jpegs.get(view)
        if jpeg is None:
            jpeg = await asyncio.to_thread(self._encode, live, view)
        header = json.dumps({"camera": camera, "captured_at": live.captured_at, "width": live.frame.width,
                             "height": live.frame.height, "tracks": live.tracks}).encode()
        return struct.pack(">I", len(header)) + header + jpeg

    def _encode(self, live: LiveFrame, view: str) -> bytes:
        with self._encode_lock:   # one encoder at a time: viewers share the result, and the cameras the CPU
            jpeg = live.jpegs.get(view)
            if jpeg is None:
                jpeg = encode_jpeg(live.frame, FRAME_WIDTHS[view])
                live.jpegs[view] = jpeg
            return jpeg

    async def close_all(self) -> None:
        """Server shutdown: close every socket now (browsers reconnect to the next server at once)."""
        for client in list(self.clients):
            if client.socket is not None:
                await client.socket.close(code=1001, message=b"server shutting down")


def encode_jpeg(frame, max_width: int) -> bytes:
    """A decoded frame as JPEG, scaled down to `max_width` (libswscale does the colour conversion).

    Safe beside the snapshot writer converting the same frame (bgr_image has its own context)."""
    width, height = frame.width, frame.height
    if width > max_width:
        width, height = max_width, max(2, round(height * max_width / width / 2) * 2)
    image = bgr_image(frame, width, height)
    ok, data = cv2.imencode(".jpg", image, [cv2.IMWRITE_JPEG_QUALITY, JPEG_QUALITY])
    if not ok:
        raise ValueError("JPEG encoding failed")
    return data.tobytes()
