"""Privacy masks: polygons of a camera's picture that are never analysed and never shown.

A masked area is painted black in the decoded frame itself (a copy: the decoder's own frame is a reference for
the next ones), before anything looks at it: the detector, the live view, the zone editor's frame and the event
snapshots (and so the thumbnails sent to central) all get the painted copy, and detections whose box centre
falls in a mask are dropped. Recorded segments stay the camera's own packets (remuxed, untouched); what is made
from them for a person, exports and event clips (viewed in the UI, uploaded to central and re-analysed there),
is decoded, painted and re-encoded (H.264) when the camera has masks (`mask_video`).
"""
from __future__ import annotations

import logging
from collections.abc import Sequence
from fractions import Fraction
from pathlib import Path

import av
import cv2
import numpy as np

from vigia.appliance.encryption import EncryptedWriter, open_media
from vigia.appliance.recording.clips import START_TAG, assemble_clip
from vigia.appliance.recording.mp4 import SEGMENT_MOVFLAGS, quietly
from vigia.inference.types import Detections
from vigia.kit.files import replacing, sync_file, temp_path

log = logging.getLogger(__name__)

Polygon = Sequence[tuple[float, float]]   # normalised 0..1, origin top left
BLACK_YUV = (16, 128, 128)                # black in the limited range cameras send
CRF = 23                                  # x264's default quality for re-encoded clips and exports
MILLISECOND = Fraction(1, 1000)           # the re-encoded stream's time base: the source's frame times, rounded


class Masker:
    """One camera's masks at one frame size, in pixels: paints frames and drops detections."""

    def __init__(self, polygons: Sequence[Polygon], size: tuple[int, int]):
        width, height = size
        self.size = size
        self.polygons = [np.round(np.asarray(p, np.float64) * (width, height)).astype(np.int32) for p in polygons]
        self._inside = np.zeros((height, width) if self.polygons else (1, 1), np.uint8)   # 1: in a mask
        if self.polygons:
            cv2.fillPoly(self._inside, self.polygons, 1)

    def __bool__(self) -> bool:
        return bool(self.polygons)

    def paint_bgr(self, bgr: np.ndarray) -> np.ndarray:
        """Black out the masks in a BGR image of any size (scaled from the frame's), in place; the image."""
        if self.polygons:
            cv2.fillPoly(bgr, self._scaled(bgr.shape[1], bgr.shape[0]), (0, 0, 0))
        return bgr

    def paint_frame(self, frame: av.VideoFrame) -> av.VideoFrame:
        """A copy of `frame` with the masks painted black (the frame itself when there are none)."""
        if not self.polygons:
            return frame
        if frame.format.name == "yuv420p" and frame.width % 2 == 0 and frame.height % 2 == 0:
            yuv = frame.to_ndarray()   # the three planes stacked: Y, then U and V as quarter-size rows
            h, w = frame.height, frame.width
            cv2.fillPoly(yuv[:h], self._scaled(w, h), BLACK_YUV[0])
            chroma = yuv[h:].reshape(2, h // 2, w // 2)
            for plane, value in zip(chroma, BLACK_YUV[1:]):
                cv2.fillPoly(plane, self._scaled(w // 2, h // 2), value)
            painted = av.VideoFrame.from_ndarray(yuv, format="yuv420p")
        else:
            painted = av.VideoFrame.from_ndarray(self.paint_bgr(frame.to_ndarray(format="bgr24")), format="bgr24")
        painted.pts, painted.time_base = frame.pts, frame.time_base
        return painted

    def keep(self, detections: Detections) -> Detections:
        """The detections whose box centre is outside every mask."""
        if not self.polygons or not len(detections):
            return detections
        width, height = self.size
        cx = np.clip(((detections.boxes[:, 0] + detections.boxes[:, 2]) / 2).astype(np.int64), 0, width - 1)
        cy = np.clip(((detections.boxes[:, 1] + detections.boxes[:, 3]) / 2).astype(np.int64), 0, height - 1)
        return detections.select(self._inside[cy, cx] == 0)

    def _scaled(self, width: int, height: int) -> list[np.ndarray]:
        if (width, height) == self.size:
            return self.polygons
        sx, sy = width / self.size[0], height / self.size[1]
        return [np.round(p * (sx, sy)).astype(np.int32) for p in self.polygons]


def polygons_of(masks) -> list[Polygon]:
    """The polygons of a camera's `privacy_masks` (vigia.scene.layout.PrivacyMask)."""
    return [list(m.polygon) for m in masks]


def mask_video(source: Path, key: bytes | None, out: Path, polygons: Sequence[Polygon], *, encrypt: bool,
               max_width: int | None = None) -> Path:
    """Decode the MP4 at `source` (plain or encrypted with `key`), paint the masks on every frame and write it to
    `out` as H.264 (encrypted with `key` when `encrypt`, else plain with faststart), keeping the clip's start tag
    and its frames' times; with `max_width`, a wider picture is scaled down to it (aspect kept).
    Written to a temporary file and renamed: `out` never holds half a clip."""
    sealed = encrypt and key is not None
    with open_media(source, key) as raw, av.open(raw) as container, replacing(out) as tmp:
        stream = container.streams.video[0]
        stream.thread_type = "AUTO"
        start_tag = container.metadata.get(START_TAG)
        sink = EncryptedWriter(tmp, key) if sealed else None
        options = {"movflags": SEGMENT_MOVFLAGS + "+use_metadata_tags"} if sealed else \
            {"movflags": "+faststart+use_metadata_tags"}
        output = av.open(sink if sink is not None else str(tmp), "w", format="mp4", container_options=options)
        try:
            if start_tag is not None:
                output.metadata[START_TAG] = start_tag
            rate = stream.average_rate or 25
            encoder = output.add_stream("libx264", rate=rate, options={"crf": str(CRF), "preset": "veryfast"})
            encoder.width, encoder.height = _scaled_size(stream.codec_context.width, stream.codec_context.height,
                                                         max_width)
            encoder.pix_fmt = "yuv420p"
            encoder.time_base = encoder.codec_context.time_base = MILLISECOND   # frames keep their own times
            masker = Masker(polygons, (encoder.width, encoder.height))
            for frame, pts in _frames_in_order(container, stream, 1 / float(rate)):
                if (frame.width, frame.height) != (encoder.width, encoder.height) or frame.format.name != "yuv420p":
                    frame = frame.reformat(encoder.width, encoder.height, "yuv420p")
                painted = masker.paint_frame(frame)
                painted.pts, painted.time_base = pts, MILLISECOND
                output.mux(encoder.encode(painted))
            output.mux(encoder.encode(None))
            output.close()
            if sink is not None:
                sink.close()
            else:
                sync_file(tmp)
        except BaseException:
            quietly(output.close, *([sink.close] if sink is not None else []))
            raise
    return out


def _scaled_size(width: int, height: int, max_width: int | None) -> tuple[int, int]:
    """(width, height) no wider than `max_width`, aspect kept, both even (as yuv420p needs)."""
    if max_width is None or width <= max_width:
        return width, height
    return max_width - max_width % 2, round(height * max_width / width / 2) * 2


def _frames_in_order(container, stream, step: float):
    """Each decoded frame with its time in milliseconds from the first, always moving forward: a frame whose
    stamp does not (AVI sources stamp B-frames out of order; some frames have none) comes one frame after the one
    before it."""
    first, last = None, None
    for frame in container.decode(stream):
        if first is None:
            first = frame.pts or 0
        t = float((frame.pts - first) * stream.time_base) if frame.pts is not None else None
        pts = round(t * 1000) if t is not None else None
        if last is not None and (pts is None or pts <= last):
            pts = last + max(1, round(step * 1000))
        last = pts
        yield frame, pts


def assemble_masked(db, data_dir: Path, key: bytes | None, camera: str, start: float, end: float, out: Path,
                    polygons: Sequence[Polygon], *, encrypt: bool = True) -> Path:
    """`assemble_clip`, with the camera's masks painted when it has any: the footage is first assembled (remuxed,
    encrypted with `key` when there is one) beside `out`, then re-encoded masked into `out` and deleted."""
    if not polygons:
        return assemble_clip(db, data_dir, key, camera, start, end, out, encrypt=encrypt)
    remuxed = temp_path(out.with_name(out.stem + ".unmasked.mp4"))
    try:
        assemble_clip(db, data_dir, key, camera, start, end, remuxed, encrypt=True)
        return mask_video(remuxed, key, out, polygons, encrypt=encrypt)
    finally:
        remuxed.unlink(missing_ok=True)
