"""The MQTT sink's connection to the broker (paho-mqtt): queued notifications, retained state, availability.

One paho client per connection, its network loop on a thread of its own; the delivery worker
(vigia.appliance.notify.delivery) drives it. The last will marks the appliance `offline` (retained) when the
connection drops; after each connection it publishes `online`, then every retained state and discovery message
(vigia.appliance.notify.mqtt_state), then the queue. Reconnection waits 1 s, 2 s, 4 s ... up to `retry_max_s`.

A queued notification is delivered when the broker acknowledged it (QoS 1 PUBACK) on the events topic, and on
the alerts topic too for an alerting rule. A connection lost first leaves it queued: a new client publishes it
again (a client's in-flight messages die with it, so paho never sends it a second time by itself).
"""
from __future__ import annotations

import json
import logging
import ssl
import threading
import time
from collections.abc import Callable
from urllib.parse import urlsplit

import paho.mqtt.client as paho
from paho.mqtt.enums import CallbackAPIVersion, MQTTErrorCode

from vigia.appliance.config import Mqtt
from vigia.appliance.notify.delivery import backoff
from vigia.appliance.notify.mqtt_state import CameraStates
from vigia.appliance.notify.queue import Queued, Result
from vigia.appliance.notify.topics import Topics

log = logging.getLogger(__name__)

CONNECT_TIMEOUT_S = 10.0   # for the broker's CONNACK
PUBACK_TIMEOUT_S = 30.0    # for the acknowledgements of one batch, while connected
CLOSE_TIMEOUT_S = 2.0      # for the `offline` message when the appliance stops


class MqttTransport:
    """A Transport (vigia.appliance.notify.delivery) to the configured broker. `on_connected`: told once
    connected (the worker then tries its queue at once)."""

    sink = "mqtt"

    def __init__(self, settings: Mqtt, topics: Topics, states: CameraStates, client_id: str,
                 on_connected: Callable[[], None] = lambda: None, on_lost: Callable[[], None] = lambda: None,
                 stopping: threading.Event | None = None):
        self.settings = settings
        self.topics = topics
        self.states = states
        self.client_id = client_id
        self.on_connected = on_connected
        self.on_lost = on_lost
        self.stopping = stopping or threading.Event()
        parts = urlsplit(settings.url)
        self._tls = parts.scheme == "mqtts"
        self._host, self._port = parts.hostname, parts.port or (8883 if self._tls else 1883)
        self._client: paho.Client | None = None
        self._connection: _Connection | None = None
        self._failures = 0
        self._next_connect = 0.0
        self.last_error = "not connected yet"

    # -- the connection -----------------------------------------------------------------------------

    def maintain(self) -> None:
        if self._client is not None and not self.connected:
            lost = f"connection to {self._host}:{self._port} lost: {self._connection.lost or 'unknown'}"
            self._drop()
            self._failed(lost)
        if self._client is None and time.monotonic() >= self._next_connect:
            self._connect()
        if self.connected:
            self.states.roll()
            self._publish_state()

    def _connect(self) -> None:
        client = self._new_client()
        connection = _Connection(on_lost=self.on_lost)
        client.on_connect, client.on_disconnect = connection.on_connect, connection.on_disconnect
        try:
            client.connect(self._host, self._port, keepalive=self.settings.keepalive_s)
            client.loop_start()
        except (OSError, ValueError) as exc:
            return self._failed(f"cannot connect to {self._host}:{self._port}: {exc}")
        self._client, self._connection = client, connection
        if not connection.answered.wait(CONNECT_TIMEOUT_S) or not connection.up.is_set():
            self._drop()
            return self._failed(f"the broker {self._host}:{self._port} refused the connection: {connection.refused}"
                                if connection.refused else f"no answer from the broker {self._host}:{self._port}")
        if self._failures:
            log.info("MQTT broker %s:%s: connected again after %d failed tries", self._host, self._port, self._failures)
        else:
            log.info("MQTT broker %s:%s: connected", self._host, self._port)
        self._failures = 0
        self.last_error = ""
        self.states.all_again()
        self._publish_state()
        self.on_connected()

    @property
    def connected(self) -> bool:
        return self._connection is not None and self._connection.up.is_set()

    def _new_client(self) -> paho.Client:
        client = paho.Client(CallbackAPIVersion.VERSION2, client_id=self.client_id, protocol=paho.MQTTv311,
                             clean_session=True)
        client.will_set(self.topics.availability, "offline", qos=1, retain=True)
        if self.settings.username is not None:
            client.username_pw_set(self.settings.username, self.settings.password)
        if self._tls:
            context = ssl.create_default_context(cafile=self.settings.ca_file)
            if self.settings.client_certificate:
                context.load_cert_chain(self.settings.client_certificate, self.settings.client_key)
            client.tls_set_context(context)
        client.max_inflight_messages_set(100)
        client.reconnect_delay_set(3600, 3600)  # never paho's own reconnection: a lost client is replaced (maintain)
        return client

    def _failed(self, error: str) -> None:
        self._failures += 1
        self.last_error = error
        wait = backoff(self._failures, 1.0, self.settings.retry_max_s)
        self._next_connect = time.monotonic() + wait
        level = logging.WARNING if self._failures in (1, 5) or self._failures % 50 == 0 else logging.DEBUG
        log.log(level, "MQTT: %s (try %d; next in %.0f s)", error, self._failures, wait)

    def _drop(self) -> None:
        client, self._client, self._connection = self._client, None, None
        if client is not None:
            client.disconnect()
            client.loop_stop()

    def close(self) -> None:
        """`offline` (retained) as the appliance stops, then disconnect."""
        if self._client is not None and self.connected:
            info = self._client.publish(self.topics.availability, "offline", qos=1, retain=True)
            if info.rc == MQTTErrorCode.MQTT_ERR_SUCCESS:
                info.wait_for_publish(CLOSE_TIMEOUT_S)
        self._drop()

    # -- what is published --------------------------------------------------------------------------

    def _publish_state(self) -> None:
        changed = self.states.take_changed()
        client = self._client
        failed = [(topic, payload) for topic, payload in changed
                  if client is None or client.publish(topic, payload, qos=1, retain=True).rc != MQTTErrorCode.MQTT_ERR_SUCCESS]
        if failed:
            self.states.give_back(failed)

    def deliver(self, items: list[Queued]) -> list[Result]:
        client = self._client
        if client is None or not self.connected:
            return [Result(items[0], "failed", f"not connected to the broker: {self.last_error}")]
        sent = []
        for item in items:
            topics = [self.topics.events] + ([self.topics.alerts] if json.loads(item.body)["event"]["alert"] else [])
            sent.append((item, [client.publish(topic, item.body, qos=1) for topic in topics]))
        deadline = time.monotonic() + PUBACK_TIMEOUT_S
        results = []
        for item, infos in sent:
            why = _wait_for_acks(infos, lambda: self.connected, deadline, self.stopping)
            if why:
                return [*results, Result(item, "failed", why if self.connected else f"{why}: {self.last_error}")]
            results.append(Result(item, "delivered", "PUBACK"))
        return results


def _wait_for_acks(infos: list[paho.MQTTMessageInfo], connected: Callable[[], bool], deadline: float,
                   stopping: threading.Event) -> str | None:
    """None once the broker acknowledged every message of `infos`, else why not."""
    for info in infos:
        while True:
            if info.rc != MQTTErrorCode.MQTT_ERR_SUCCESS or not connected():
                return "connection lost before the broker acknowledged it"
            if info.is_published():
                break
            if time.monotonic() > deadline or stopping.is_set():
                return f"no acknowledgement from the broker within {PUBACK_TIMEOUT_S:.0f} s"
            info.wait_for_publish(0.05)
    return None


class _Connection:
    """One client's connection: up once the broker accepted it, and never again once it was lost (paho's own
    reconnection is off; a lost connection's client is replaced)."""

    def __init__(self, on_lost: Callable[[], None]):
        self.on_lost = on_lost
        self.up = threading.Event()
        self.answered = threading.Event()
        self.refused: str | None = None
        self.lost: str | None = None

    def on_connect(self, _client, _userdata, _flags, reason, _properties) -> None:
        if reason.is_failure:
            self.refused = str(reason)
        elif self.lost is None:
            self.up.set()
        self.answered.set()

    def on_disconnect(self, _client, _userdata, _flags, reason, _properties) -> None:
        self.lost = str(reason)
        self.up.clear()
        self.answered.set()
        self.on_lost()
