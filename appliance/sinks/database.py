"""The sink that stores: events into the appliance's database, and, enrolled with central, into the outbox."""
from __future__ import annotations

from dataclasses import dataclass

from vigia.appliance.cameras import CameraStatus
from vigia.appliance.outbox import camera_health_record
from vigia.appliance.sinks import EventSink
from vigia.appliance.storage import EventWriter
from vigia.scene.events import EventChange


@dataclass
class DatabaseSink(EventSink):
    """Each event change to the EventWriter (which puts it in the outbox too when made with `outbox=True`);
    with `outbox`, each camera's state for central as well."""

    writer: EventWriter
    outbox: bool = False

    def on_change(self, change: EventChange) -> None:
        self.writer.put(change.event)

    def on_status(self, camera: str, status: CameraStatus) -> None:
        if self.outbox:
            self.writer.put_record(camera_health_record(camera, status.state, status.since, status.last_error))
