"""Event snapshots: the best frame of an event as a JPEG with the object's box drawn.

Encoding happens on a thread of its own so a burst of events never stalls a camera; the
camera thread only hands over a reference to the decoded frame (no copy, no colour conversion).
"""
from __future__ import annotations

import logging
import os
import queue
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import av
import cv2

from vigia.appliance.encryption import write_encrypted
from vigia.appliance.worker import Worker
from vigia.inference.preprocess import bgr_image

log = logging.getLogger(__name__)

MAX_WIDTH = 1280   # a 4K camera's snapshot is shrunk to this: plenty for a guard, a quarter of the bytes
JPEG_QUALITY = 85
BOX_COLOUR = (0, 200, 255)  # BGR amber


@dataclass
class SnapshotJob:
    frame: av.VideoFrame
    box: tuple[float, float, float, float]   # source pixels
    caption: str
    path: Path                                # absolute destination


def render(frame: av.VideoFrame, box, caption: str) -> bytes:
    scale = min(1.0, MAX_WIDTH / frame.width)
    image = bgr_image(frame, MAX_WIDTH, round(frame.height * scale)) if scale < 1.0 else bgr_image(frame)
    x1, y1, x2, y2 = (round(v * scale) for v in box)
    thickness = max(2, image.shape[1] // 400)
    cv2.rectangle(image, (x1, y1), (x2, y2), BOX_COLOUR, thickness)
    (tw, th), base = cv2.getTextSize(caption, cv2.FONT_HERSHEY_SIMPLEX, 0.6, 1)
    top = max(0, y1 - th - base - 4)
    cv2.rectangle(image, (x1, top), (x1 + tw + 6, top + th + base + 4), BOX_COLOUR, cv2.FILLED)
    cv2.putText(image, caption, (x1 + 3, top + th + 2), cv2.FONT_HERSHEY_SIMPLEX, 0.6, (0, 0, 0), 1, cv2.LINE_AA)
    ok, data = cv2.imencode(".jpg", image, [cv2.IMWRITE_JPEG_QUALITY, JPEG_QUALITY])
    if not ok:
        raise ValueError("JPEG encoding failed")
    return data.tobytes()


def write_atomically(path: Path, data: bytes) -> None:
    tmp = path.with_name(path.name + ".tmp")
    with open(tmp, "wb") as f:
        f.write(data)
    os.replace(tmp, path)


class SnapshotWriter(Worker):
    """Writes the snapshots submitted, once started; stopping writes those queued before."""

    def __init__(self, max_queue: int = 64, key: bytes | None = None,
                 on_error: Callable[[Exception], None] | None = None):
        super().__init__("snapshot-writer")
        self._key = key  # encrypt snapshots at rest with the device's media key
        self._on_error = on_error
        self._queue: queue.Queue[SnapshotJob | None] = queue.Queue(max_queue)
        self.dropped = 0

    def submit(self, job: SnapshotJob) -> bool:
        """Queue a snapshot; False when the writer is this far behind (the job is dropped, counted)."""
        try:
            self._queue.put_nowait(job)
            return True
        except queue.Full:
            self.dropped += 1
            return False

    def flush(self) -> None:
        self._queue.join()

    def stop(self) -> None:
        super().stop()
        self._queue.put(None)

    def run(self) -> None:
        while True:
            job = self._queue.get()
            try:
                if job is None:
                    return
                data = render(job.frame, job.box, job.caption)
                job.path.parent.mkdir(parents=True, exist_ok=True)
                if self._key is not None:
                    write_encrypted(job.path, data, self._key)
                else:
                    write_atomically(job.path, data)
            except (OSError, ValueError) as exc:
                log.error("snapshot %s not written: %s", job.path, exc)
                if self._on_error is not None:
                    self._on_error(exc)
            finally:
                self._queue.task_done()
