"""The running appliance's wiring: one thread per camera, a shared detector pool, the event store.

Camera threads do the CPU work (decode releases the GIL, so does ONNX Runtime); asyncio only
serves HTTP at the edge (vigia.app.serving). A camera that fails never takes the others down: its source retries
with backoff and its state shows as offline.
"""
from __future__ import annotations

import errno
import functools
import logging
import os
import sqlite3
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path

from prometheus_client import generate_latest

from vigia.appliance.camera_store import save_camera, save_layout, saved_cameras, with_saved_layouts
from vigia.appliance.cameras import CameraSource, CameraStatus, DecodedFrame
from vigia.appliance.config import (
    Camera,
    Config,
    camera_layout,
    notify_destinations,
    with_layout,
)
from vigia.appliance.encryption import load_or_create_key
from vigia.appliance.interrupted import close_interrupted_events
from vigia.appliance.metrics import Metrics
from vigia.appliance.model_slot import MODEL_SLOT_DIR, ModelSlot, active_model
from vigia.appliance.notify.service import build_notifications
from vigia.appliance.outbox import camera_layout_record
from vigia.appliance.pipeline import CameraPipeline
from vigia.appliance.privacy.masks import polygons_of
from vigia.appliance.recording.reconcile import reconcile
from vigia.appliance.recording.recorder import SegmentRecorder
from vigia.appliance.retention import RetentionReport, RetentionWorker
from vigia.appliance.rollups import MetricsRollups, TrackSummaries
from vigia.appliance.sinks import EventSink
from vigia.appliance.sinks.database import DatabaseSink
from vigia.appliance.snapshots import SnapshotWriter
from vigia.appliance.software import running_release
from vigia.appliance.storage import EventWriter, database
from vigia.appliance.worker import Worker
from vigia.inference.coco import COCO_CLASSES
from vigia.inference.factory import create_detector
from vigia.inference.model_store import resolve
from vigia.inference.pool import DetectorPool
from vigia.inference.swappable import SwappableDetector
from vigia.inference.tracking import TrackerUpdate
from vigia.inference.types import Detector
from vigia.provisioning.identity import load_or_create_identity
from vigia.scene.events import EventChange
from vigia.sync.agent import RuleClipSink, SyncAgent
from vigia.sync.commands import CommandHandlers
from vigia.sync.identity import identity_folder, load_identity
from vigia.sync.media import MediaSource
from vigia.sync.software_update import Exchange
from vigia.sync.uploader import upload_settings

log = logging.getLogger(__name__)


def open_detector(config: Config) -> Detector:
    """The configured detector; raises ModelError naming the model when it cannot be used."""
    return model_opener(config)(resolve(config.storage.models, config.detector.model))


def model_opener(config: Config) -> Callable[[Path], Detector]:
    """Opens a model file as the configured detector (back end, score threshold, classes)."""
    cfg = config.detector
    classes = {COCO_CLASSES.index(name) for name in cfg.classes}
    return functools.partial(create_detector, cfg.backend, score_threshold=cfg.score_threshold, classes=classes)


def open_model_slot(config: Config) -> ModelSlot:
    """The detector in service: the model installed last (vigia.appliance.model_slot) when there is one, else the
    configured one, behind a SwappableDetector so that central can replace it without a restart."""
    folder = config.storage.data_dir / MODEL_SLOT_DIR
    active = active_model(folder)
    if active is not None and active.path.is_file():
        path, model_id = active.path, active.model_id
    else:
        path, model_id = resolve(config.storage.models, config.detector.model), config.detector.model
    opener = model_opener(config)
    return ModelSlot(SwappableDetector(opener(path), model_id), folder, opener, path)


@dataclass
class Appliance:
    config: Config
    sinks: Sequence[EventSink] = ()  # told after the appliance's own (vigia.appliance.sinks): the demo's printer
    retention_interval: float = 60.0  # seconds between retention passes (besides the one at start and on disk full)
    rollup_interval: float = 3600.0  # seconds between metrics roll-ups for central (enrolled; also one at start and stop)

    def __post_init__(self) -> None:
        self.metrics = Metrics.create()
        self.statuses: dict[str, CameraStatus] = {}
        self._stop = threading.Event()
        self._threads: list[threading.Thread] = []
        self._status_lock = threading.Lock()
        self._layout_lock = threading.Lock()
        self.sinks = tuple(self.sinks)  # replaced, never mutated: camera threads iterate it
        self.pipelines: dict[str, CameraPipeline] = {}
        self.sync: SyncAgent | None = None   # enrolled with central, once started

    @cached_property
    def media_key(self) -> bytes | None:
        """The device's media key, loaded once (the API reads media with it too): made when encryption is on,
        kept from when it was."""
        storage = self.config.storage
        return load_or_create_key(storage.media_key) if storage.encrypt or storage.media_key.exists() else None

    def start(self) -> None:
        cfg = self.config
        cfg.storage.data_dir.mkdir(parents=True, exist_ok=True)
        self.key = self.media_key if cfg.storage.encrypt else None  # new media are encrypted only while it is on
        identity = load_identity(identity_folder(cfg.storage.data_dir))  # enrolled with central: the outbox is on
        self._reconcile(outbox=identity is not None)
        self._load_setup_cameras()
        self._load_layouts()
        self.detector: Detector | None = None
        self.model_slot: ModelSlot | None = None
        self.pool: DetectorPool | None = None
        if any(camera.enabled for camera in cfg.cameras):
            self._open_detector()  # else when the first camera comes (a new device: the wizard adds it)
        self.events = EventWriter(cfg.storage.database, on_error=self._on_write_error, outbox=identity is not None)
        handlers = CommandHandlers(self.apply_layout, lambda name: {c.name: c.record for c in cfg.cameras}[name],
                                   privacy_masks=lambda name: polygons_of({c.name: c for c in cfg.cameras}[name].privacy_masks),
                                   models=lambda: self.model_slot,
                                   software=Exchange.under(cfg.storage.data_dir) if running_release() else None)
        self.sync = SyncAgent(identity, cfg.storage.database, self.metrics.registry,
                              MediaSource(cfg.storage.data_dir, self.key), upload_settings(cfg.sync),
                              handlers=handlers) if identity else None
        # Rules' notifications (MQTT, webhooks, email, web push): queued in the database, delivered by threads of their own.
        notifying = cfg.mqtt or cfg.webhooks or cfg.email or cfg.push
        self.notifications = build_notifications(cfg, load_or_create_identity(cfg.storage.data_dir).short_id,
                                                 self.media_key, self.metrics) if notifying else None
        # What happens goes to these sinks, in this order: the database (and the outbox), notifications, clips of
        # rules with `upload_clip` for central, then the sinks given, then those added later (the live view: add_sink).
        self.sinks = (DatabaseSink(self.events, outbox=self.sync is not None),
                      *(self.notifications.sinks if self.notifications else []),
                      *([RuleClipSink(self.sync.rule_clips, cfg)] if self.sync and self.sync.rule_clips else []),
                      *self.sinks)
        self.snapshots = SnapshotWriter(key=self.key, on_error=self._on_write_error)
        self.recorders: dict[str, SegmentRecorder] = {}
        self.retention = RetentionWorker(cfg.storage.database, cfg, interval=self.retention_interval,
                                         on_report=self._on_retention, metrics=self.metrics)
        self.rollups = MetricsRollups(self.metrics, cfg.storage.database, cfg.storage.data_dir, self.events.put_record,
                                      self.rollup_interval, model=cfg.detector.model,
                                      model_health=self._model_health) if self.sync else None
        for worker in reversed(self._workers()):
            worker.start()
        for camera in cfg.cameras:
            if camera.enabled:
                self._start_camera(camera)
        self._started = True
        log.info("appliance started: %d cameras, detector %s, media %s", sum(c.enabled for c in cfg.cameras),
                 self.detector.name if self.detector else "not loaded (no camera)", "encrypted" if self.key else "plain")

    def _open_detector(self) -> None:
        """The detector and its worker pool; ModelError naming the model when it cannot be used."""
        cfg = self.config
        self.model_slot = open_model_slot(cfg)
        self.detector = self.model_slot.detector
        workers = cfg.detector.workers or os.cpu_count() or 1
        backend = self.detector.name
        inference_seconds = self.metrics.inference_seconds.labels(backend)
        inference_images = self.metrics.inference_images.labels(backend)
        inference_cpu = self.metrics.inference_cpu_seconds.labels(backend)

        def on_batch(images: int, wall: float, cpu: float) -> None:
            inference_seconds.observe(wall)
            inference_images.inc(images)
            inference_cpu.inc(cpu)

        self.pool = DetectorPool(self.detector, workers=workers, on_batch=on_batch)
        log.info("detector %s with %d workers", backend, workers)

    def _model_health(self, now: float) -> dict | None:
        """The model in service and its health since the roll-up before; None before the detector is opened."""
        slot = self.model_slot
        return None if slot is None else {**slot.detector.take_health(now), "events": slot.events}

    def _reconcile(self, *, outbox: bool) -> None:
        """Crash safety: before anything records, repair what a killed process left behind: recordings,
        and the events it left open (closed, and sent to central with `outbox`)."""
        with database(self.config.storage.database) as db:
            integrity = db.execute("PRAGMA integrity_check").fetchone()[0]
            if integrity != "ok":
                log.error("database %s failed its integrity check: %s", self.config.storage.database, integrity)
            repaired = reconcile(db, self.config.storage.data_dir, self.key)
            for outcome, count in repaired.items():
                self.metrics.recordings_reconciled.labels(outcome).inc(count)
            if any(repaired.values()):
                log.warning("start-up reconciliation of recordings: %s", repaired)
            closed = close_interrupted_events(db, outbox=outbox)
            if closed:
                log.warning("start-up: %d events left open by an interrupted run closed", closed)

    def _send_layout(self, camera: Camera) -> None:
        """Enrolled with central: the camera's layout, for central's re-analysis."""
        if self.sync is not None:
            self.events.put_record(camera_layout_record(camera.name, camera_layout(camera), self.config.detector.classes))

    def _start_camera(self, camera: Camera) -> None:
        cfg = self.config
        self._send_layout(camera)
        recorder = None
        if camera.record.mode != "off":
            recorder = SegmentRecorder(camera.name, camera.record, cfg.storage.data_dir, cfg.storage.database,
                                       self.key, on_error=lambda exc, name=camera.name: self._on_record_error(name, exc),
                                       on_restart=lambda cause, name=camera.name:
                                       self.metrics.recording_restarts.labels(name, cause).inc())
            self.recorders[camera.name] = recorder
        # Recording taps the detection connection unless the camera names a main stream of its own (then that
        # one is only demuxed: a 4K main stream with a sub-stream for detection is never decoded).
        tap = recorder if recorder is not None and camera.record_url is None else None
        pipeline = CameraPipeline(
            camera=camera,
            pool=self.pool,
            input_size=self.detector.input_size,
            class_names=self.detector.class_names,
            kept_classes=cfg.detector.classes,
            metrics=self.metrics,
            on_change=self._on_change,
            snapshots=self.snapshots,
            data_dir=cfg.storage.data_dir,
            on_frame=lambda decoded, update, name=camera.name: self._on_frame(name, decoded, update),
            track_summaries=TrackSummaries(camera.name, self.detector.class_names, self.events.put_record)
            if self.sync else None,
        )
        self.pipelines[camera.name] = pipeline
        source = CameraSource(
            camera.name, camera.detect_url, loop=camera.loop, realtime=camera.realtime,
            on_status=lambda status, name=camera.name: self._on_status(name, status),
            on_packet=tap.on_packet if tap else None, on_disconnect=tap.connection_lost if tap else None,
            analysis_fps=camera.detect.fps if camera.detect.skip_nonreference else None, max_lag_s=camera.detect.max_lag_s,
        )
        self._spawn(f"camera-{camera.name}", self._run_camera, pipeline, source, tap)
        if recorder is not None and camera.record_url is not None:
            main = CameraSource(
                f"{camera.name}-main", camera.record_url, loop=camera.loop, realtime=camera.realtime, decode=False,
                on_status=lambda status, name=camera.name: self._on_status(f"{name}-main", status),
                on_packet=recorder.on_packet, on_disconnect=recorder.connection_lost,
            )
            self._spawn(f"record-{camera.name}", self._run_recording, main, recorder)

    def _spawn(self, name: str, target, *args) -> None:
        thread = threading.Thread(target=target, args=args, name=name, daemon=True)
        self._threads.append(thread)
        thread.start()

    def _workers(self) -> list[Worker]:
        """The background threads in the order they stop (and the reverse of the order they start): the last
        notifications are stored before their deliveries stop, the last roll-up and the clips rules asked for are
        queued before the event writer stops, retention ends last."""
        notify = self.notifications.workers() if self.notifications else []
        return [w for w in (self.snapshots, *notify, self.rollups, self.sync, self.events, self.retention) if w is not None]

    def _run_camera(self, pipeline: CameraPipeline, source: CameraSource, recorder: SegmentRecorder | None) -> None:
        try:
            pipeline.run(source.frames(self._stop))
        except Exception:
            log.exception("camera %s stopped on an unexpected error", pipeline.camera.name)
            self._on_status(pipeline.camera.name, CameraStatus("offline", time.time(), "internal error (see log)", None, 0))
        finally:
            if recorder is not None:
                recorder.close()

    def _run_recording(self, source: CameraSource, recorder: SegmentRecorder) -> None:
        try:
            source.run_packets(self._stop)
        except Exception:
            log.exception("recording of %s stopped on an unexpected error", source.name)
        finally:
            recorder.close()

    def _on_retention(self, report: RetentionReport) -> None:
        for recorder in list(self.recorders.values()):
            recorder.set_continuous_allowed(not report.protected_only)
        if report.alert:
            log.error("%s", report.alert)

    def _on_record_error(self, camera: str, exc: Exception) -> None:
        self.metrics.recording_errors.labels(camera).inc()
        self._on_write_error(exc)

    def _on_write_error(self, exc: Exception) -> None:
        """A write failed; when the disk is full, retention makes room now rather than at its next pass."""
        full = (isinstance(exc, OSError) and exc.errno == errno.ENOSPC) or (
            isinstance(exc, sqlite3.Error) and getattr(exc, "sqlite_errorcode", None) == sqlite3.SQLITE_FULL)
        if full:
            self.retention.poke()

    def _on_change(self, change: EventChange) -> None:
        """Runs in the event's camera thread."""
        event = change.event
        recorder = self.recorders.get(event.camera)
        if recorder is not None:
            if change.change == "open":
                recorder.event_started(event.started_at)
            elif change.change == "close":
                recorder.event_ended(event.ended_at)
        for sink in self.sinks:
            sink.on_change(change)

    def _on_frame(self, camera: str, decoded: DecodedFrame, update: TrackerUpdate) -> None:
        for sink in self.sinks:
            sink.on_frame(camera, decoded, update, self.detector.class_names)

    def _on_status(self, name: str, status: CameraStatus) -> None:
        with self._status_lock:
            self.statuses[name] = status
        self.metrics.camera_state.labels(name).state(status.state)
        self.metrics.camera_reconnects.labels(name).set(status.reconnects)
        if status.state in ("offline", "reconnecting"):
            log.warning("camera %s is %s: %s", name, status.state, status.last_error)
        else:
            log.info("camera %s is %s", name, status.state)
        for sink in self.sinks:
            sink.on_status(name, status)

    def wait(self, timeout: float | None = None) -> bool:
        """Wait for every camera thread to end (files played once); True when all ended."""
        deadline = None if timeout is None else time.monotonic() + timeout
        for thread in self._threads:
            thread.join(None if deadline is None else max(0.0, deadline - time.monotonic()))
        return not any(t.is_alive() for t in self._threads)

    def stop(self) -> None:
        self._stop.set()
        for thread in self._threads:
            thread.join(timeout=15)
        if self.pool is not None:
            self.pool.close()
        for worker in self._workers():
            worker.stop()
            worker.join()
        if self.model_slot is not None:
            self.model_slot.close()
        if self.detector is not None:
            self.detector.close()

    # -- what the guards' API asks of it (served by vigia.app.serving) -------------------------

    def camera_states(self) -> dict[str, dict]:
        with self._status_lock:
            return {name: s.to_json() for name, s in self.statuses.items()}

    def flush_events(self, timeout: float = 2.0) -> None:
        """Wait until the events queued so far are in the database (no-op before start)."""
        writer = getattr(self, "events", None)
        if writer is not None:
            writer.flush(timeout)

    def add_sink(self, sink: EventSink) -> None:
        self.sinks = (*self.sinks, sink)

    def remove_sink(self, sink: EventSink) -> None:
        self.sinks = tuple(x for x in self.sinks if x is not sink)

    # -- cameras added in the setup wizard --------------------------------------------------

    def _load_setup_cameras(self) -> None:
        """Cameras saved from the setup wizard join (or take the place of, by name) the config file's."""
        cameras = self.config.cameras
        for camera in saved_cameras(self.config.storage.database):
            index = next((i for i, c in enumerate(cameras) if c.name == camera.name), None)
            if index is None:
                cameras.append(camera)
            else:
                cameras[index] = camera

    def add_camera(self, camera: Camera, username: str) -> None:
        """Save a camera from the setup wizard and start its pipeline without a restart.

        Raises ValueError when a camera of that name already runs (a restart replaces it), and
        ModelError when the first camera needs a detector that cannot be loaded (nothing is saved).
        """
        with self._layout_lock:
            if camera.name in self.pipelines:
                raise ValueError(f"camera {camera.name!r} is already running (restart the appliance to replace it)")
            started = getattr(self, "_started", False)  # before start(): it starts with the rest
            if started and camera.enabled and self.pool is None:
                self._open_detector()  # the first camera: ModelError now, before anything is saved
            save_camera(self.config.storage.database, camera, username)
            cameras = self.config.cameras
            index = next((i for i, c in enumerate(cameras) if c.name == camera.name), None)
            if index is None:
                cameras.append(camera)
            else:
                cameras[index] = camera
            if started and camera.enabled:
                self._start_camera(camera)

    # -- zones drawn in the UI --------------------------------------------------------------

    def _load_layouts(self) -> None:
        self.config.cameras = with_saved_layouts(self.config.cameras, self.config.storage.database)

    def apply_layout(self, name: str, layout: dict, username: str) -> dict:
        """Validate, save and apply (without a restart) a camera's zones, lines and rules.

        Raises KeyError for an unknown camera and ConfigError naming each invalid field.
        """
        with self._layout_lock:
            cameras = self.config.cameras
            index = next((i for i, c in enumerate(cameras) if c.name == name), None)
            if index is None:
                raise KeyError(name)
            camera = with_layout(cameras[index], layout, destinations=notify_destinations(self.config))
            saved = camera_layout(camera)
            save_layout(self.config.storage.database, name, saved, username, previous=camera_layout(cameras[index]))
            cameras[index] = camera
            self._send_layout(camera)
            pipeline = self.pipelines.get(name)
            if pipeline is not None:
                pipeline.set_camera(camera)
            return saved

    def media_integrity_error(self) -> None:
        """Stored media failed to authenticate (tampered or damaged): counted for alerting."""
        self.metrics.media_integrity_errors.inc()

    def metrics_exposition(self) -> bytes:
        pool = getattr(self, "pool", None)  # None until start()
        if pool is not None:
            self.metrics.detector_backlog.set(pool.pending())
        return generate_latest(self.metrics.registry)


