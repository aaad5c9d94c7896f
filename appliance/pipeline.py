"""Where a frame goes: decoded → picked for analysis → motion gate → detector → tracker → rules → events.

One `CameraPipeline` per camera runs in that camera's thread. Most decoded frames stop at the
first step: only frames due at the detect rate are looked at, and only their luma plane is
touched until motion says the detector has something to see. Detection runs on a shared pool
(several cameras' frames in one batch); results feed the tracker in frame order, as soon as they
come: in the detector's worker thread when the camera thread is waiting for its next frame, else
by the camera thread as it finishes the frame in hand (an alert does not wait for the next frame).
"""
from __future__ import annotations

import logging
import threading
import time
from collections import deque
from collections.abc import Callable, Iterable
from concurrent.futures import Future
from dataclasses import dataclass, field, replace
from datetime import datetime, timezone
from pathlib import Path

import av
import numpy as np

from vigia.appliance.cameras import DecodedFrame
from vigia.appliance.config import Camera, Detect
from vigia.appliance.metrics import Metrics
from vigia.appliance.motion import Box, MotionDetector
from vigia.appliance.privacy.masks import Masker, polygons_of
from vigia.appliance.rollups import TrackSummaries
from vigia.appliance.snapshots import SnapshotJob, SnapshotWriter
from vigia.inference.class_priors import class_priors
from vigia.inference.pool import DetectorPool
from vigia.inference.preprocess import letterbox_frame
from vigia.inference.tracking import Tracker, TrackerUpdate
from vigia.inference.types import Detections, DetectorInput
from vigia.scene.events import EventChange
from vigia.scene.rules import RuleEngine
from vigia.scene.zones import PolygonZone, anchors

log = logging.getLogger(__name__)

MAX_IN_FLIGHT = 2          # detector requests per camera before frames are dropped
# A camera's frame still queued for the detector when its next one is due gives that one its place in the queue:
# a detector that fell behind analyses fresh pictures (an alert seen late is worth less) and drops slots, counted.
FULL_FRAME_SHARE = 0.5     # a motion area larger than this share of the frame: detect on the whole frame
REGION_MARGIN = 0.15       # grow the motion area by this share of its size on each side
# Small detectors such as YOLOX-Nano score people lower than the large models ByteTrack's
# defaults (0.5 / 0.6) were tuned on; at 5 fps a walker far away gets few chances to score
# high twice in a row. These keep 97% of the tracks a detect-every-frame baseline finds
# (`vigia bench fidelity`) without starting tracks on clutter.
TRACKER_THRESHOLDS = {"high_threshold": 0.4, "new_track_threshold": 0.5}
# On top of those, the tracker is told each class's top speed, which classes the detector
# confuses and how fast vehicles speed up in the picture (vigia.inference.class_priors): at 5 fps
# a car on a motorway leaves its own box between two analyses, and a small model calls one van a
# car, a truck and a bus in turn.
SNAPSHOT_SETTLE_S = 1.0    # wait this long for a better frame before writing an event's snapshot


@dataclass
class FrameSelector:
    """Picks frames at the detect rate by stream time, whatever the camera's own rate."""

    fps: float
    _next: float | None = None

    def due(self, pts: float) -> bool:
        interval = 1.0 / self.fps
        slack = interval * 0.1
        if self._next is None or pts < self._next - 2 * interval or pts > self._next + 2 * interval:
            self._next = pts  # start, or a jump in time (reconnect, loop): pick now and go on from here
        if pts + slack < self._next:
            return False
        self._next += interval
        return True


def plan_region(motion_regions: list[Box], frame_size: tuple[int, int], input_size: tuple[int, int]) -> Box | None:
    """The crop the detector should see for these moving blobs; None means the whole frame.

    One image per analysed frame keeps the detector's cost fixed: a crop only buys resolution
    for small, far objects, so blobs are merged into one box, grown by a margin, and never made
    smaller than the model's own input (no point upscaling).
    """
    width, height = frame_size
    boxes = np.asarray(motion_regions, np.float64)
    x1, y1 = boxes[:, 0].min(), boxes[:, 1].min()
    x2, y2 = boxes[:, 2].max(), boxes[:, 3].max()
    mx, my = (x2 - x1) * REGION_MARGIN, (y2 - y1) * REGION_MARGIN
    x1, y1, x2, y2 = x1 - mx, y1 - my, x2 + mx, y2 + my
    need_w, need_h = max(x2 - x1, input_size[0]), max(y2 - y1, input_size[1])
    cx, cy = (x1 + x2) / 2, (y1 + y2) / 2
    x1 = min(max(0.0, cx - need_w / 2), max(0.0, width - need_w))
    y1 = min(max(0.0, cy - need_h / 2), max(0.0, height - need_h))
    x2, y2 = min(width, x1 + need_w), min(height, y1 + need_h)
    if (x2 - x1) * (y2 - y1) > FULL_FRAME_SHARE * width * height:
        return None
    return int(x1), int(y1), int(x2), int(y2)


def detector_input(frame: av.VideoFrame, input_size: tuple[int, int], region: Box | None, detect: Detect) -> DetectorInput:
    """The detector's image for this frame: the whole frame, or a region cropped at the detect resolution.

    A region of a camera with a detect resolution below its own is cut from the frame scaled
    down to that resolution (one swscale pass); the returned scale and offset still map boxes
    to source pixels.
    """
    if region is None or (detect.width is None and detect.height is None):
        return letterbox_frame(frame, input_size, region)
    factor = frame.width / detect.width if detect.width else frame.height / detect.height
    if factor <= 1.0:
        return letterbox_frame(frame, input_size, region)
    small = frame.reformat(width=round(frame.width / factor) // 2 * 2, height=round(frame.height / factor) // 2 * 2)
    k = frame.width / small.width
    scaled = letterbox_frame(small, input_size, tuple(round(v / k) for v in region))
    return DetectorInput(scaled.image, scaled.scale / k, (scaled.offset[0] * k, scaled.offset[1] * k))


@dataclass
class _PendingSnapshot:
    decoded: DecodedFrame
    box: tuple[float, float, float, float]
    caption: str
    path: str          # relative to the data directory
    since: float       # pts of the event's first view: the snapshot is written SNAPSHOT_SETTLE_S later


@dataclass
class _InFlight:
    decoded: DecodedFrame
    region: Box | None
    future: Future
    queued: float                   # wall clock it was handed to the detector
    detected: float | None = None   # wall clock its result was ready

    def __post_init__(self) -> None:
        self.future.add_done_callback(self._done)

    def _done(self, _future: Future) -> None:
        self.detected = time.time()

    @property
    def waiting(self) -> bool:
        """Queued, no worker has taken it yet."""
        return not self.future.running() and not self.future.done()


@dataclass
class CameraPipeline:
    camera: Camera
    pool: DetectorPool
    input_size: tuple[int, int]
    class_names: list[str]
    kept_classes: list[str]
    metrics: Metrics
    on_change: Callable[[EventChange], None]
    on_tracks: Callable[[float, TrackerUpdate], None] | None = None
    on_frame: Callable[[DecodedFrame, TrackerUpdate], None] | None = None  # every analysed frame (live view)
    track_summaries: TrackSummaries | None = None  # ended tracks, summarised for central (enrolled appliances)
    snapshots: SnapshotWriter | None = None
    data_dir: Path | None = None
    gate: bool = True                   # motion gating; off gives the every-frame-full-frame baseline
    drop_when_behind: bool = True       # live cameras drop frames; offline analysis waits instead
    tracker_params: dict = field(default_factory=lambda: dict(TRACKER_THRESHOLDS))
    detector_calls: int = 0

    _selector: FrameSelector = field(init=False)
    _in_flight: deque = field(init=False)

    @property
    def urgent(self) -> bool:
        """This camera's rules raise alerts or notify: its frames go to the detector before other cameras'."""
        return any(rule.alert or rule.notify for rule in self.camera.rules)

    def __post_init__(self) -> None:
        self._selector = FrameSelector(self.camera.detect.fps)
        params = class_priors(self.class_names).tracker_params() | self.tracker_params
        self._tracker = Tracker(**params)  # one for the camera's life: a resize flushes it, ids stay unique
        self._in_flight = deque()
        self._lock = threading.Lock()   # held while the camera thread works on a frame, or a worker handles results
        self._results_ready = False     # a result came while the lock was held: its holder handles it
        self._frame_size: tuple[int, int] | None = None
        self._pending_snapshots: dict[str, _PendingSnapshot] = {}  # by event id: best view not yet written
        self._snapshotted: set[str] = set()  # open events whose snapshot is written
        self._last_full = -1e9
        self._last: DecodedFrame | None = None
        self._previous_pts: float | None = None   # the last decoded frame's (a gap after it: slots skipped)
        self._next_camera: Camera | None = None

    def set_camera(self, camera: Camera) -> None:
        """New zones, lines and rules, from any thread: applied before the next frame is analysed.

        Events of the old rules are closed then; objects still in a zone open new events under the
        new rules. Tracks (and their ids) carry on.
        """
        self._next_camera = camera

    # -- the loop ---------------------------------------------------------------------------

    def run(self, frames: Iterable[DecodedFrame]) -> None:
        """Analyse frames until the iterator ends (a camera source ends when it is told to stop)."""
        name = self.camera.name
        counters = (self.metrics.frames_in.labels(name), self.metrics.decode_seconds.labels(name),
                    self.metrics.frames_analysed.labels(name), self.metrics.frames_dropped.labels(name),
                    self.metrics.slots_skipped.labels(name))
        try:
            for decoded in frames:
                with self._lock:
                    self._frame(decoded, *counters)
                self._handle_ready()
        finally:
            with self._lock:
                self._drain(block=True)
                self._finish()

    def _frame(self, decoded: DecodedFrame, frames_in, decode_seconds, analysed, dropped, skipped) -> None:
        """One decoded frame: analysed when due (or given the place of a frame still waiting for the detector)."""
        frames_in.inc()
        decode_seconds.observe(decoded.decode_s)
        if decoded.undecoded_before and self._previous_pts is not None:  # decoding was behind: slots in the gap lost
            skipped.inc(int((decoded.pts - self._previous_pts) * self.camera.detect.fps))
        self._previous_pts = decoded.pts
        self._drain(block=False)
        if (decoded.frame.width, decoded.frame.height) != self._frame_size:
            self._resize(decoded)
        if not self._selector.due(decoded.pts):
            return
        if self._next_camera is not None:
            self._apply_camera()
        waiting = self._in_flight[-1] if self._in_flight and self._in_flight[-1].waiting else None
        if waiting is not None and self.drop_when_behind:
            if self._analyse(decoded, replacing=waiting):
                dropped.inc()   # the waiting frame's slot went to this one
            else:
                analysed.inc()  # looked at (motion) or queued behind it: a worker had just taken it
            return
        if len(self._in_flight) >= MAX_IN_FLIGHT:
            if self.drop_when_behind:
                dropped.inc()
                return
            self._drain(block=True, keep=MAX_IN_FLIGHT - 1)
        analysed.inc()
        self._analyse(decoded)

    def _result_ready(self, _future: Future) -> None:
        """A detector worker finished (or a newer frame replaced) one of this camera's frames."""
        self._results_ready = True
        self._handle_ready()

    def _handle_ready(self) -> None:
        """Handle finished results now, unless another thread holds the lock: that one handles them on leaving it."""
        while self._results_ready and self._lock.acquire(blocking=False):
            try:
                self._results_ready = False
                self._drain(block=False)
            finally:
                self._lock.release()

    def _analyse(self, decoded: DecodedFrame, replacing: _InFlight | None = None) -> bool:
        """Hand the frame to the detector (in `replacing`'s place in the queue, when it is still waiting there);
        True when it took that place."""
        if self._privacy:   # from here on (detector, live view, snapshots) the frame has its privacy masks painted
            decoded = replace(decoded, frame=self._privacy.paint_frame(decoded.frame))
        region = self._plan(decoded)
        if region is False:
            return False
        image = detector_input(decoded.frame, self.input_size, region, self.camera.detect)
        future = self.pool.submit([image], urgent=self.urgent, replacing=replacing.future if replacing else None)
        item = _InFlight(decoded, region, future, time.time())
        future.add_done_callback(self._result_ready)
        if replacing is not None and replacing.future.cancelled():
            self._in_flight[self._in_flight.index(replacing)] = item
            return True
        self.detector_calls += 1
        self._in_flight.append(item)
        return False

    def _plan(self, decoded: DecodedFrame) -> Box | None | bool:
        """None: the whole frame; a box: that crop; False: nothing to look at."""
        if not self.gate:
            return None
        motion = self._motion.update(decoded.frame) if self.camera.motion.enabled else None
        full_due = decoded.pts - self._last_full >= self.camera.detect.full_frame_every
        if motion is None or motion.warming_up or full_due:
            self._last_full = decoded.pts
            return None
        if not motion.regions:
            return False
        return plan_region(motion.regions, self._frame_size, self.input_size)

    def _drain(self, block: bool, keep: int = 0) -> None:
        """Handle finished detector results in frame order; with `block`, wait until `keep` are left."""
        while len(self._in_flight) > keep and (block or self._in_flight[0].future.done()):
            item = self._in_flight.popleft()
            try:
                detections = item.future.result()[0]
            except Exception as exc:  # the detector failed on this frame: say so, keep the camera going
                log.error("camera %s: detector failed: %s", self.camera.name, exc)
                continue
            self._track(item.decoded, item.region, detections, {"queued": item.queued, "detected": item.detected})

    # -- after detection --------------------------------------------------------------------

    def _track(self, decoded: DecodedFrame, region: Box | None, detections: Detections,
               stages: dict[str, float]) -> None:
        if self._masks and len(detections):
            points = anchors(detections.boxes.astype(np.float64))
            masked = np.zeros(len(detections), bool)
            for mask in self._masks:
                masked |= mask.contains(points)
            detections = detections.select(~masked)
        detections = self._privacy.keep(detections)
        for class_id, count in zip(*np.unique(detections.class_ids, return_counts=True)):
            self.metrics.detections.labels(self.camera.name, self.class_names[class_id]).inc(int(count))
        update = self._tracker.update(detections, decoded.pts, observed_region=region)
        if self.on_tracks:
            self.on_tracks(decoded.pts, update)
        if self.track_summaries is not None:
            self.track_summaries.update(decoded.pts, decoded.wall, self._frame_size, update)
        if self.on_frame:
            self.on_frame(decoded, update)
        changes = self._rules.update(decoded.pts, decoded.wall, update)
        if changes:
            ruled = time.time()
            for change in changes:
                change.stages = {**stages, "ruled": ruled}
        self._handle(changes, decoded)
        self._last = decoded

    def _handle(self, changes: list[EventChange], decoded: DecodedFrame | None) -> None:
        for change in changes:
            event = change.event
            if decoded is not None:
                change.captured_at = decoded.wall
            if change.change == "open":
                self.metrics.events.labels(self.camera.name, event.rule).inc()
                if self.snapshots is not None and self.data_dir is not None:
                    day = datetime.fromtimestamp(event.started_at, timezone.utc).strftime("%Y-%m-%d")
                    event.snapshot = f"snapshots/{self.camera.name}/{day}/{event.id}.jpg"
            if change.best_box_px is not None and decoded is not None and event.snapshot:
                self._offer_snapshot(event, decoded, change.best_box_px)
            if change.change == "close":
                self._write_snapshot(event.id)
                self._snapshotted.discard(event.id)
            self.on_change(change)
        if decoded is not None:
            for event_id, pending in list(self._pending_snapshots.items()):
                if decoded.pts - pending.since >= SNAPSHOT_SETTLE_S:
                    self._write_snapshot(event_id)

    def _offer_snapshot(self, event, decoded: DecodedFrame, box) -> None:
        """Keep the event's best view for a moment; one JPEG per event, encoded once it settles."""
        if event.id in self._snapshotted:
            return
        pending = self._pending_snapshots.get(event.id)
        since = pending.since if pending else decoded.pts
        caption = f"{event.label} {event.max_score:.2f}"
        self._pending_snapshots[event.id] = _PendingSnapshot(decoded, box, caption, event.snapshot, since)

    def _write_snapshot(self, event_id: str) -> None:
        pending = self._pending_snapshots.pop(event_id, None)
        if pending is not None and self.snapshots is not None and self.data_dir is not None:
            self._snapshotted.add(event_id)
            job = SnapshotJob(pending.decoded.frame, pending.box, pending.caption, self.data_dir / pending.path)
            self.snapshots.submit(job)

    def _finish(self) -> None:
        if self._frame_size is None:
            return
        t = self._last.pts if self._last else 0.0
        wall = self._last.wall if self._last else 0.0
        update = TrackerUpdate(active=[], lost=[], ended=self._tracker.flush(t))
        if self.on_tracks:
            self.on_tracks(t, update)
        if self.track_summaries is not None:
            self.track_summaries.update(t, wall, self._frame_size, update)
        changes = self._rules.update(t, wall, update) + self._rules.finish(t, wall)
        self._handle(changes, None)

    def _apply_camera(self) -> None:
        self._drain(block=True)
        camera, self._next_camera = self._next_camera, None
        if self._frame_size is not None:
            t, wall = (self._last.pts, self._last.wall) if self._last else (0.0, 0.0)
            self._handle(self._rules.finish(t, wall), None)
            self._rules = RuleEngine(camera, self._frame_size, self.class_names, self.kept_classes)
            self._privacy = Masker(polygons_of(camera.privacy_masks), self._frame_size)
        self.camera = camera
        log.info("camera %s: zones, lines and rules updated", camera.name)

    def _resize(self, decoded: DecodedFrame) -> None:
        """First frame, or the camera changed resolution: geometry is rebuilt, open events closed."""
        if self._frame_size is not None:
            log.warning("camera %s: resolution changed from %dx%d to %dx%d", self.camera.name, *self._frame_size,
                        decoded.frame.width, decoded.frame.height)
            self.metrics.stream_changes.labels(self.camera.name).inc()
            self._drain(block=True)
            self._finish()
        size = (decoded.frame.width, decoded.frame.height)
        self._frame_size = size
        cam = self.camera
        self._motion = MotionDetector(size, threshold=cam.motion.threshold, min_area=cam.motion.min_area, masks=cam.masks)
        self._masks = [PolygonZone.from_normalised(f"mask{i}", m, size) for i, m in enumerate(cam.masks)]
        self._rules = RuleEngine(cam, size, self.class_names, self.kept_classes)
        self._privacy = Masker(polygons_of(cam.privacy_masks), size)
        self._last_full = -1e9
