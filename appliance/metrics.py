"""Prometheus metrics of one appliance, in a registry of its own (no process-global state)."""
from __future__ import annotations

from dataclasses import dataclass

from prometheus_client import CollectorRegistry, Counter, Enum, Gauge, Histogram

CAMERA_STATES = ["starting", "online", "reconnecting", "offline", "ended", "stopped"]
LATENCY_BUCKETS = (0.001, 0.002, 0.005, 0.01, 0.02, 0.05, 0.1, 0.2, 0.5, 1.0, 2.0)


@dataclass
class Metrics:
    registry: CollectorRegistry
    frames_in: Counter
    frames_analysed: Counter
    frames_dropped: Counter
    slots_skipped: Counter
    decode_seconds: Histogram
    inference_seconds: Histogram
    inference_images: Counter
    inference_cpu_seconds: Counter
    detections: Counter
    events: Counter
    camera_state: Enum
    camera_reconnects: Gauge
    detector_backlog: Gauge
    recording_errors: Counter
    recordings_reconciled: Counter
    media_integrity_errors: Counter
    stream_changes: Counter
    recording_restarts: Counter
    retention_deleted_bytes: Counter
    disk_free_ratio: Gauge
    recording_paused: Gauge
    notification_attempts: Counter

    @classmethod
    def create(cls) -> Metrics:
        r = CollectorRegistry()
        return cls(
            registry=r,
            frames_in=Counter("vigia_camera_frames", "Frames decoded", ["camera"], registry=r),
            frames_analysed=Counter(
                "vigia_camera_frames_analysed", "Frames that went through motion gating",
                ["camera"], registry=r,
            ),
            frames_dropped=Counter(
                "vigia_camera_frames_dropped", "Frames due for analysis but skipped because the detector was behind",
                ["camera"], registry=r,
            ),
            slots_skipped=Counter(
                "vigia_camera_analysis_slots_skipped", "Analysis slots lost because decoding fell behind the camera "
                "(keyframes only until it caught up; the footage is recorded all the same)", ["camera"], registry=r,
            ),
            decode_seconds=Histogram(
                "vigia_decode_seconds", "Demux and decode time per frame",
                ["camera"], buckets=LATENCY_BUCKETS, registry=r,
            ),
            inference_seconds=Histogram(
                "vigia_inference_seconds", "Detector run time per batch",
                ["backend"], buckets=LATENCY_BUCKETS, registry=r,
            ),
            inference_images=Counter("vigia_inference_images", "Images run through the detector", ["backend"], registry=r),
            inference_cpu_seconds=Counter(
                "vigia_inference_cpu_seconds", "CPU time of the detector threads",
                ["backend"], registry=r,
            ),
            detections=Counter("vigia_detections", "Objects detected", ["camera", "label"], registry=r),
            events=Counter("vigia_events", "Events opened", ["camera", "rule"], registry=r),
            camera_state=Enum(
                "vigia_camera_state", "Connection state of each camera",
                ["camera"], states=CAMERA_STATES, registry=r,
            ),
            camera_reconnects=Gauge("vigia_camera_reconnects", "Reconnections since start", ["camera"], registry=r),
            detector_backlog=Gauge("vigia_detector_backlog", "Images waiting for the detector", registry=r),
            recording_errors=Counter(
                "vigia_recording_errors", "Failed recording writes (disk full, I/O)",
                ["camera"], registry=r,
            ),
            media_integrity_errors=Counter(
                "vigia_media_integrity_errors", "Stored media that failed to decrypt or authenticate when read", registry=r,
            ),
            recording_restarts=Counter(
                "vigia_recording_restarts", "Segments cut short because the stream could not be continued",
                ["camera", "cause"], registry=r,
            ),
            stream_changes=Counter(
                "vigia_camera_stream_changes", "Times a camera changed resolution mid-stream",
                ["camera"], registry=r,
            ),
            recordings_reconciled=Counter(
                "vigia_recordings_reconciled", "Recordings repaired or removed at start-up after a crash",
                ["outcome"], registry=r,
            ),
            retention_deleted_bytes=Counter(
                "vigia_retention_deleted_bytes", "Media bytes deleted by retention, by reason", ["reason"], registry=r,
            ),
            disk_free_ratio=Gauge(
                "vigia_disk_free_ratio", "Free share of the data volume after the last retention pass",
                registry=r,
            ),
            recording_paused=Gauge(
                "vigia_recording_paused", "1 while continuous recording is paused: disk full of protected footage",
                registry=r,
            ),
            notification_attempts=Counter(
                "vigia_notification_attempts", "Notification delivery tries and drops (vigia notify log), by outcome",
                ["sink", "outcome"], registry=r,
            ),
        )
