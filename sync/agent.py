"""The uploader inside the running appliance: its own thread and event loop, started when enrolled;
and the clips that rules with `upload_clip: true` ask for (RuleClips), made in a thread of their own."""
from __future__ import annotations

import asyncio
import heapq
import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from prometheus_client import CollectorRegistry

from vigia.appliance.config import Config, Record
from vigia.appliance.recording.export import ExportError
from vigia.appliance.sinks import EventSink
from vigia.appliance.storage import connect
from vigia.appliance.worker import Worker
from vigia.scene.events import EventChange
from vigia.sync.commands import CommandHandlers, Commands
from vigia.sync.identity import SyncCredentials, client_context
from vigia.sync.media import MediaSource, queue_clip
from vigia.sync.metrics import SyncMetrics
from vigia.sync.uploader import Uploader, UploadSettings

log = logging.getLogger(__name__)

CLIP_MARGIN_S = 2.0   # after an event's end and post-roll, before its clip is made: the recorder's last packets
CLIP_WAIT_TRIES = 5   # times a clip waits (CLIP_MARGIN_S each) for the event writer to store the event's end


class RuleClips(Worker):
    """Clips that rules with `upload_clip: true` ask for, made in a thread of their own (never a camera's).

    `request` (from a camera thread, when the event ends) schedules the clip for the event's end plus its
    camera's post-roll plus CLIP_MARGIN_S; then, as central's `upload_clip` command does, the clip is
    assembled and queued in the outbox (vigia.sync.media.queue_clip) for the uploader to send. A clip that
    cannot be made (recording off, footage already deleted) is one warning naming the event, and skipped.
    Clips still waiting when the appliance stops are not made (logged).
    """

    def __init__(self, database: Path, media: MediaSource, record_settings: Callable[[str], Record],
                 privacy_masks: Callable[[str], list]):
        super().__init__("rule-clips")
        self._database = database
        self._media = media
        self._record_settings = record_settings
        self._privacy_masks = privacy_masks   # camera -> the polygons painted on its clips
        self._due: list[tuple[float, str, str, int]] = []  # heap of (when, event id, camera, waits so far)
        self._wake = threading.Condition()

    def request(self, event_id: str, camera: str, ended_at: float) -> None:
        """The event of a rule with `upload_clip: true` ended at `ended_at` (wall clock): its clip, once recorded."""
        try:
            record = self._record_settings(camera)
        except KeyError:
            log.warning("event %s: no clip for central, camera %s is not configured", event_id, camera)
            return
        if record.mode == "off":
            log.warning("event %s: no clip for central, camera %s does not record (record.mode off)", event_id, camera)
            return
        with self._wake:
            heapq.heappush(self._due, (ended_at + record.post_roll + CLIP_MARGIN_S, event_id, camera, 0))
            self._wake.notify()

    def stop(self) -> None:
        with self._wake:
            super().stop()
            self._wake.notify()

    def run(self) -> None:
        db = None
        try:
            while True:
                with self._wake:
                    while not self.stopping.is_set() and (not self._due or self._due[0][0] > time.time()):
                        self._wake.wait(self._due[0][0] - time.time() if self._due else None)
                    if self.stopping.is_set():
                        if self._due:
                            log.warning("clips of %d events asked for by rules not made, the appliance stopped first: %s",
                                        len(self._due), ", ".join(sorted(event_id for _, event_id, _, _ in self._due)))
                        return
                    _, event_id, camera, waits = heapq.heappop(self._due)
                if db is None:
                    db = connect(self._database)
                self._make(db.conn, event_id, camera, waits)
        except Exception:
            log.exception("clips asked for by rules stopped on an unexpected error")
        finally:
            if db is not None:
                db.conn.close()

    def _make(self, conn, event_id: str, camera: str, waits: int) -> None:
        try:
            row = conn.execute("SELECT ended_at FROM events WHERE id = ?", [event_id]).fetchone()
            if (row is None or row[0] is None) and waits < CLIP_WAIT_TRIES:  # not stored yet: the writer lags
                with self._wake:
                    heapq.heappush(self._due, (time.time() + CLIP_MARGIN_S, event_id, camera, waits + 1))
                return
            relative = queue_clip(conn, self._database, self._media, event_id, self._record_settings(camera),
                                  self._privacy_masks(camera))
            log.info("event %s: clip %s queued for central (its rule has upload_clip)", event_id, relative)
        except Exception as exc:  # noqa: BLE001 - one clip that cannot be made never stops the others
            log.warning("event %s of camera %s: its clip cannot be uploaded: %s", event_id, camera,
                        exc if isinstance(exc, ExportError) else f"{type(exc).__name__}: {exc}")


@dataclass
class RuleClipSink(EventSink):
    """Asks RuleClips for the clip of each ended event whose rule has `upload_clip: true` (the clip itself is
    made off the camera thread, once the post-roll is recorded)."""

    clips: RuleClips
    config: Config  # the running appliance's: its cameras' rules as the UI last saved them

    def on_change(self, change: EventChange) -> None:
        if change.change != "close":
            return
        event = change.event
        camera = next((c for c in self.config.cameras if c.name == event.camera), None)
        rule = next((r for r in camera.rules if r.name == event.rule), None) if camera is not None else None
        if rule is not None and rule.upload_clip:
            self.clips.request(event.id, event.camera, event.ended_at or time.time())


class SyncAgent(Worker):
    """The uploader's thread and event loop, and (with command handlers) the clips rules ask for."""

    def __init__(self, identity: SyncCredentials, database: Path, registry: CollectorRegistry,
                 media: MediaSource, settings: UploadSettings | None = None, handlers: CommandHandlers | None = None):
        super().__init__("sync-uploader")
        self._uploader = Uploader(database, identity.device_id, identity.central_url, client_context(identity),
                                  settings or UploadSettings(), SyncMetrics.create(registry), media=media,
                                  commands=Commands(identity, handlers) if handlers else None)
        # Clips of rules with `upload_clip: true` (RuleClipSink), made with the commands' Record settings.
        self.rule_clips = RuleClips(database, media, handlers.record_settings, handlers.privacy_masks) if handlers else None
        self._loop = asyncio.new_event_loop()
        self._stop = asyncio.Event()
        log.info("sending to central at %s as device %s", identity.central_url, identity.device_id)

    def start(self) -> SyncAgent:
        if self.rule_clips is not None:
            self.rule_clips.start()
        return super().start()

    def run(self) -> None:
        try:
            self._loop.run_until_complete(self._uploader.run(self._stop))
        except Exception:
            log.exception("the uploader stopped on an unexpected error; the outbox keeps everything")
        finally:
            self._uploader.close()
            self._loop.close()

    def stop(self) -> None:
        """Waits for the rule clips' thread (a clip being queued uses the database), then asks the uploader to end."""
        if self.rule_clips is not None:
            self.rule_clips.close()
        super().stop()
        if self._thread.is_alive():
            self._loop.call_soon_threadsafe(self._stop.set)
