"""What the notification tests share: the notification threads of a config run as the appliance runs them, an
event told opened and closed, the delivery log and the queues."""
from __future__ import annotations

from collections.abc import Iterable, Iterator
from contextlib import contextmanager

from vigia.appliance.config import Config
from vigia.appliance.notify.queue import delivery_log, queue_states
from vigia.appliance.notify.service import Notifications, build_notifications
from vigia.appliance.sinks import EventSink
from vigia.appliance.storage import database
from vigia.scene.events import Event, EventChange

DEVICE = "testdev1"


@contextmanager
def running(config: Config, media_key: bytes | None = None) -> Iterator[Notifications]:
    """The notification threads of `config`, started and stopped as the appliance does."""
    n = build_notifications(config, DEVICE, media_key)
    for worker in reversed(n.workers()):
        worker.start()
    try:
        yield n
    finally:
        for worker in n.workers():
            worker.stop()
            worker.join()


def tell(sinks: Iterable[EventSink], change: EventChange) -> None:
    for sink in sinks:
        sink.on_change(change)


def open_and_close(sinks: Iterable[EventSink], e: Event) -> None:
    """Tell the sinks (a Notifications' or an appliance's) `e` opened, then closed 2 s later."""
    tell(sinks, EventChange("open", e))
    e.ended_at, e.end = e.started_at + 2.0, 3.0
    tell(sinks, EventChange("close", e))


def attempts(config: Config, sink: str | None = None) -> list:
    """The delivery log, oldest first."""
    with database(config.storage.database) as db:
        return list(reversed(delivery_log(db.conn, sink=sink, limit=1000)))


def waiting(config: Config) -> int:
    """Notifications not delivered yet, every destination together."""
    with database(config.storage.database) as db:
        return sum(state.waiting for state in queue_states(db.conn))
