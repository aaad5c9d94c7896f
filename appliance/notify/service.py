"""The notification sinks and threads of a config with `mqtt:`, `webhooks:`, `email:` or `push:`, built in one place
for the wiring (vigia.app.appliance)."""
from __future__ import annotations

import json
import zoneinfo
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, tzinfo
from pathlib import Path

import sqlite_utils

from vigia.appliance.config import Camera, Config
from vigia.appliance.metrics import Metrics
from vigia.appliance.notify.delivery import DeliveryWorker
from vigia.appliance.notify.links import load_link_key
from vigia.appliance.notify.mqtt import MqttTransport
from vigia.appliance.notify.mqtt_state import CameraStates
from vigia.appliance.notify.push import PushTransport
from vigia.appliance.notify.queue import Result
from vigia.appliance.notify.routing import NotifySink
from vigia.appliance.notify.smtp import EmailTransport
from vigia.appliance.notify.topics import Topics
from vigia.appliance.notify.vapid import load_vapid
from vigia.appliance.notify.webhook import WebhookTransport
from vigia.appliance.notify.writer import NotifyWriter
from vigia.appliance.sinks import EventSink
from vigia.appliance.storage import database
from vigia.scene.rules import RuleConfig


@dataclass
class Notifications:
    sinks: list[EventSink]          # told by the camera threads: the router, then the MQTT state (with `mqtt:`)
    writer: NotifyWriter
    deliveries: dict[str, DeliveryWorker]  # by sink: "mqtt", "webhook:NAME", "email", "push"

    def workers(self) -> list:
        """In the order they stop: the writer stores what the cameras left, then the deliveries end."""
        return [self.writer, *self.deliveries.values()]


def site_zone(data_dir: Path) -> tzinfo | None:
    """The site's time zone: the one the setup wizard recorded, else the provisioning file's; None: the machine's."""
    for path, keys in ((data_dir / "setup" / "site.json", ("time_zone",)),
                       (data_dir / "provisioning" / "site.json", ("site", "timezone"))):
        try:
            value = json.loads(path.read_text())
            for key in keys:
                value = value[key]
            return zoneinfo.ZoneInfo(value)
        except (OSError, ValueError, KeyError, TypeError, zoneinfo.ZoneInfoNotFoundError):
            continue
    return None


def counts_today(db: sqlite_utils.Database, zone: tzinfo | None) -> dict[str, dict[str, int]]:
    """Events opened since midnight (site time), camera -> rule -> n."""
    midnight = datetime.now(zone).replace(hour=0, minute=0, second=0, microsecond=0).timestamp()
    counts: dict[str, dict[str, int]] = {}
    for camera, rule, n in db.execute("SELECT camera, rule, count(*) FROM events WHERE started_at >= ? "
                                      "GROUP BY camera, rule", [midnight]).fetchall():
        counts.setdefault(camera, {})[rule] = n
    return counts


def rule_lookup(cameras: Callable[[], list[Camera]]) -> Callable[[str, str], RuleConfig | None]:
    """(camera, rule name) -> the rule as configured now (layouts change while the appliance runs)."""
    def rule_of(camera: str, rule: str) -> RuleConfig | None:
        found = next((c for c in cameras() if c.name == camera), None)
        return next((r for r in found.rules if r.name == rule), None) if found else None
    return rule_of


def build_notifications(config: Config, device: str, media_key: bytes | None = None,
                        metrics: Metrics | None = None) -> Notifications:
    """The sinks and threads for `config`'s `mqtt:`, `webhooks:`, `email:` and `push:`; `device`: the device's short id; `metrics`
    counts every try and drop."""
    path, data_dir = config.storage.database, config.storage.data_dir
    zone = site_zone(data_dir)
    with database(path) as db:  # migrated now, before the threads open it
        counts = counts_today(db, zone)
    deliveries: dict[str, DeliveryWorker] = {}
    bounds: dict[str, int] = {}
    sinks: list[EventSink] = []

    def counted(results: list[Result]) -> None:
        if metrics is not None:
            for result in results:
                metrics.notification_attempts.labels(result.item.sink, result.outcome).inc()

    def dropped(sink: str, count: int) -> None:
        if metrics is not None:
            metrics.notification_attempts.labels(sink, "dropped").inc(count)

    if config.mqtt is not None:
        mqtt = config.mqtt
        topics = Topics(mqtt.topic_prefix, mqtt.node_id or f"vigia_{device}")
        states = CameraStates(topics, lambda: [c.name for c in config.cameras if c.enabled], zone,
                              mqtt.discovery_prefix if mqtt.discovery else None, counts)
        transport = MqttTransport(mqtt, topics, states, client_id=topics.node)
        worker = DeliveryWorker(path, transport, mqtt.retry_initial_s, mqtt.retry_max_s, on_results=counted)
        transport.on_connected, transport.on_lost, transport.stopping = worker.retry_now, worker.wake, worker.stopping
        states.on_change_ready = worker.wake
        deliveries["mqtt"], bounds["mqtt"] = worker, mqtt.max_queue
        sinks.append(states)
    links = config.push is not None or any(h.snapshot == "link" for h in config.webhooks.values())
    link_key = load_link_key(data_dir) if links else None
    for name, hook in config.webhooks.items():
        transport = WebhookTransport(name, hook, data_dir, media_key, link_key, config.http.public_url)
        deliveries[transport.sink] = DeliveryWorker(path, transport, hook.retry_initial_s, hook.retry_max_s,
                                                    on_results=counted)
        bounds[transport.sink] = hook.max_queue

    if config.email is not None:
        transport = EmailTransport(config.email, data_dir, media_key, zone)
        deliveries[transport.sink] = DeliveryWorker(path, transport, config.email.retry_initial_s,
                                                    config.email.retry_max_s, on_results=counted)
        bounds[transport.sink] = config.email.max_queue

    if config.push is not None:
        push = PushTransport(config.push, path, load_vapid(data_dir), link_key)
        deliveries[push.sink] = DeliveryWorker(path, push, config.push.retry_initial_s, config.push.retry_max_s,
                                               on_results=counted)
        bounds[push.sink] = config.push.max_queue

    def wake(sinks: set[str]) -> None:
        for sink in sinks:
            deliveries[sink].wake()

    writer = NotifyWriter(path, bounds, wake, dropped, data_dir)
    router = NotifySink(rule_lookup(lambda: config.cameras), frozenset(deliveries), writer.put, device, zone)
    return Notifications([router, *sinks], writer, deliveries)

