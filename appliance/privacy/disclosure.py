"""Export for disclosure: one camera's footage over a time window, redacted (vigia.appliance.privacy.redact), with
a manifest that lets its receiver check what they got.

The footage is first assembled as the plain export does (remuxed, into a temporary file that is hashed and
deleted), then redacted and re-encoded. People to leave visible are named by events: each point of an event's
path (its object's anchor over time) picks the track of this redaction nearest it, so the subject stays visible
also where the tracker lost and found them again.
"""
from __future__ import annotations

import hashlib
import json
import tempfile
import time
from dataclasses import asdict, dataclass
from pathlib import Path

import av

from vigia.appliance.privacy.redact import Plan, RedactionSettings, plan_redaction, track_boxes, write_redacted
from vigia.appliance.recording.clips import START_TAG
from vigia.appliance.recording.export import export
from vigia.appliance.storage import database
from vigia.inference.coco import COCO_CLASSES
from vigia.inference.factory import create_detector
from vigia.inference.model_store import resolve
from vigia.inference.types import Detector
from vigia.scene.events import Event

DETECT_THRESHOLD = 0.1     # the redaction's detector keeps faint people: the tracker follows them, the export hides them
SUBJECT_DISTANCE = 0.05   # an event's anchor and a track's, normalised, closer than this are the same object
MANIFEST_KIND = "vigia-redacted-export/1"


@dataclass(frozen=True)
class Disclosure:
    video: Path
    manifest: Path
    frames: int
    regions_hidden: int
    kept_tracks: list[int]
    seconds: float          # wall time the redaction took


class DisclosureError(ValueError):
    """The request names something this appliance does not have (an event, or one of another camera)."""


def disclosure_detector(config) -> tuple[Detector, Path]:
    """The detector a disclosure export runs (the configured model and classes, DETECT_THRESHOLD) and its model file.
    `config`: the appliance's (vigia.appliance.config.Config). Raises ModelError when the model cannot be used."""
    path = resolve(config.storage.models, config.detector.model)
    classes = {COCO_CLASSES.index(name) for name in config.detector.classes}
    return create_detector(config.detector.backend, path, score_threshold=DETECT_THRESHOLD, classes=classes), path


def chosen_events(db_path: Path, event_ids: list[str], camera: str) -> list[Event]:
    """The events whose people stay visible; DisclosureError for an unknown one or one of another camera."""
    events = []
    with database(db_path) as db:
        for event_id in event_ids:
            cursor = db.execute("select * from events where id = ?", [event_id])
            row = cursor.fetchone()
            if row is None:
                raise DisclosureError(f"no event {event_id!r}")
            event = Event.from_row(dict(zip([c[0] for c in cursor.description], row)))
            if event.camera != camera:
                raise DisclosureError(f"event {event_id} is of camera {event.camera!r}, not {camera!r}")
            events.append(event)
    return events


def sha256_of(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def clip_start(path: Path) -> float | None:
    """The wall clock of the assembled footage's first frame (the tag the appliance writes)."""
    with av.open(str(path)) as container:
        value = container.metadata.get(START_TAG)
    try:
        return float(value) if value is not None else None
    except ValueError:
        return None


def subject_tracks(plan: Plan, events: list[Event], start: float) -> set[int]:
    """The tracks of `plan` that follow the objects of `events` (footage starting at wall clock `start`)."""
    width, height = plan.frame_size
    by_frame: dict[int, list[tuple[int, tuple[float, float, float, float]]]] = {}
    for track in plan.tracks.values():
        for index, box in track_boxes(track, 0, plan.frames):
            by_frame.setdefault(index, []).append((track.id, box))
    kept: set[int] = set()
    for event in events:
        for dt, x, y in event.path:
            index = _frame_at(plan, event.started_at + dt - start)
            if index is None:
                continue
            nearest = min(((abs((b[0] + b[2]) / 2 / width - x) + abs(b[3] / height - y), track_id)
                           for track_id, b in by_frame.get(index, [])), default=None)
            if nearest is not None and nearest[0] < 2 * SUBJECT_DISTANCE:  # two coordinates' distances summed
                kept.add(nearest[1])
    return kept


def _frame_at(plan: Plan, t: float) -> int | None:
    if t < -0.5 or t > plan.times[-1] + 0.5:
        return None
    return min(range(plan.frames), key=lambda i: abs(plan.times[i] - t))


def export_for_disclosure(db_path: Path, data_dir: Path, key: bytes | None, camera: str, start: float, end: float,
                          out_path: Path, detector: Detector, settings: RedactionSettings,
                          keep_events: list[Event] = (), requested_by: str | None = None,
                          model: Path | None = None, privacy_masks=()) -> Disclosure:
    """Write the redacted footage to `out_path` and its manifest beside it (`<out>.manifest.json`). The camera's
    `privacy_masks` (polygons) are painted before anything is detected (vigia.appliance.recording.export).
    Raises ExportError (no footage, bad window) or RedactionError."""
    began = time.monotonic()
    with tempfile.TemporaryDirectory(prefix="vigia-disclosure-") as folder:
        plain = export(db_path, data_dir, key, camera, start, end, Path(folder) / "plain.mp4", privacy_masks)
        source_sha, source_size = sha256_of(plain), plain.stat().st_size
        first = clip_start(plain) or start
        plan = plan_redaction(plain, detector, settings)
        kept = subject_tracks(plan, list(keep_events), first) if keep_events else set()
        chosen = RedactionSettings(**{**asdict(settings), "keep_tracks": frozenset(kept)})
        redacted = write_redacted(plain, plan, chosen, out_path, verifier=detector)
    manifest_path = out_path.with_name(out_path.name + ".manifest.json")
    manifest = {
        "kind": MANIFEST_KIND,
        "camera": camera, "from": start, "to": end, "footage_start": first,
        "created_at": time.time(), "requested_by": requested_by,
        "redacted": sorted(settings.targets), "kept_events": [e.id for e in keep_events],
        "settings": {"score_threshold": settings.score_threshold, "pad": settings.pad, "hold_s": settings.hold_s,
                     "tiles": settings.tiles, "crf": settings.crf},
        "model": {"file": model.name, "sha256": sha256_of(model)} if model else None,
        "frames": redacted.frames, "regions_hidden": redacted.regions_hidden, "privacy_masks": len(privacy_masks),
        "source": {"sha256": source_sha, "size": source_size,
                   "note": "the footage as recorded, assembled" + (", the camera's privacy masks painted" if privacy_masks
                                                                    else "") + "; not handed out"},
        "output": {"file": out_path.name, "sha256": sha256_of(out_path), "size": out_path.stat().st_size,
                   "codec": "h264"},
    }
    manifest_path.write_text(json.dumps(manifest, indent=2) + "\n")
    return Disclosure(out_path, manifest_path, redacted.frames, redacted.regions_hidden, sorted(kept),
                      time.monotonic() - began)

