"""Rules' notifications through durable queues, to a real Mosquitto broker and a real webhook receiver process.

The sinks are told event changes as camera threads tell them; what arrives is checked at the broker's subscriber
and in the receiver's log. Outages are real: the broker or the receiver is stopped, then started again on the
same port. Nothing here asserts how long anything took: the tests wait for conditions.
"""
from __future__ import annotations

import base64
import json
import time
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path
from urllib.parse import parse_qs, urlsplit
from zoneinfo import ZoneInfo

import pytest
from support.mosquitto import Mosquitto, Subscriber
from support.notify import DEVICE, attempts, running, tell, waiting
from support.waiting import wait_for
from support.webhooks import Receiver

from vigia.app.appliance import Appliance
from vigia.app.cli.main import main as vigia
from vigia.appliance.config import Config, ConfigError, parse_config
from vigia.appliance.demo import demo_config_text
from vigia.appliance.encryption import write_encrypted
from vigia.appliance.notify.links import check_link, load_link_key
from vigia.appliance.notify.queue import queue_states
from vigia.appliance.notify.service import Notifications, build_notifications
from vigia.appliance.storage import database
from vigia.kit.webhooks import signature, verify_signature
from vigia.scene.events import Event, EventChange, new_event_id
from vigia.scene.schedule import Schedule

SECRET = "s3cret-for-the-tests-0123456789"
NODE = f"vigia_{DEVICE}"


def config_text(data_dir: Path, *, broker: str | None = None, hooks: dict[str, str] | None = None,
                notify: str = "mqtt, webhook:ops", retry: str = "retry_initial_s: 0.2, retry_max_s: 1",
                extra: str = "") -> str:
    text = f"""\
cameras:
  - name: gate
    url: {data_dir}/no-such-clip.mp4
    zones:
      - {{name: yard, polygon: [[0, 0], [1, 0], [1, 1], [0, 1]]}}
    rules:
      - {{name: intrusion, type: enter, zone: yard, alert: true, notify: [{notify}]}}
      - {{name: visitor, type: enter, zone: yard, notify: [{notify}]}}
      - {{name: quiet, type: enter, zone: yard}}
storage: {{data_dir: {data_dir}, encrypt: false}}
"""
    if broker:
        text += f"mqtt: {{url: '{broker}', {retry}}}\n"
    if hooks:
        text += "webhooks:\n" + "".join(f"  {name}: {{url: '{url}', secret: {SECRET}, {retry}}}\n"
                                        for name, url in hooks.items())
    return text + extra


def event(rule: str, alert: bool = False, started_at: float | None = None, snapshot: str | None = None) -> Event:
    started_at = time.time() if started_at is None else started_at
    return Event(id=new_event_id(started_at), camera="gate", rule=rule, kind="enter", zone="yard", label="person",
                 track_id=7, start=1.0, started_at=started_at, max_score=0.87, box=(0.1, 0.2, 0.3, 0.4), alert=alert,
                 snapshot=snapshot)


def opened_and_closed(n: Notifications, e: Event) -> list[str]:
    """Tell the sinks the event opened, then closed; the idempotency keys that should follow."""
    tell(n.sinks, EventChange("open", e))
    tell(n.sinks, EventChange("update", e))  # updates are not sent
    e.ended_at, e.end = e.started_at + 2.0, 3.0
    tell(n.sinks, EventChange("close", e))
    return [f"{e.id}:open", f"{e.id}:close"]


@pytest.fixture()
def broker(tmp_path: Path) -> Iterator[Mosquitto]:
    folder = tmp_path / "broker"
    folder.mkdir()
    with Mosquitto(folder) as running_broker:
        yield running_broker


# -- configuration --------------------------------------------------------------------------------------------


def test_config_errors_name_the_field_and_its_line(tmp_path: Path):
    text = config_text(tmp_path, hooks={"ops": "https://example.test/hook"}, notify="mqtt, webhook:ops, webhook:nope")
    text = text.replace("{name: quiet, type: enter, zone: yard}",
                        "{name: quiet, type: enter, zone: yard, notify: [sms], schedule: {days: [fri], from: '7pm'}}")
    text += "mqtt: {url: 'http://broker:1883'}\n"
    with pytest.raises(ConfigError) as caught:
        parse_config(text, "vigia.yml")
    assert {str(issue) for issue in caught.value.issues} == {
        "line 9: cameras[0].rules[2].notify: notify 'sms': each is `mqtt`, `email`, `push` or `webhook:NAME`",
        "line 9: cameras[0].rules[2].schedule.from: '7pm' is not a time of day: give HH:MM, 24 h (e.g. 22:00)",
        "line 13: mqtt.url: url must be mqtt://host[:port] or mqtts://host[:port] (TLS)",
    }
    # Once each section is valid on its own: rules may only notify destinations the file has.
    text = text.replace("notify: [sms], schedule: {days: [fri], from: '7pm'}", "notify: [mqtt]")
    with pytest.raises(ConfigError) as caught:
        parse_config(text.replace("http://broker:1883", "mqtt://broker"), "vigia.yml")
    assert [str(issue) for issue in caught.value.issues] == [
        "line 7: cameras[0].rules[0].notify[2]: 'webhook:nope' needs `nope` under `webhooks:` in the config file",
        "line 8: cameras[0].rules[1].notify[2]: 'webhook:nope' needs `nope` under `webhooks:` in the config file",
    ]
    without_mqtt = config_text(tmp_path, hooks={"ops": "https://example.test/hook"}, notify="mqtt")
    with pytest.raises(ConfigError, match=r"line 7: cameras\[0\]\.rules\[0\]\.notify\[0\]: 'mqtt' needs an `mqtt:`"):
        parse_config(without_mqtt, "vigia.yml")
    linked = config_text(tmp_path, hooks={"ops": "https://example.test/hook"}, notify="webhook:ops").replace(
        f"secret: {SECRET}", f"secret: {SECRET}, snapshot: link")
    with pytest.raises(ConfigError, match=r"line 12: webhooks\.ops\.snapshot: snapshot: link needs http\.public_url"):
        parse_config(linked, "vigia.yml")
    assert parse_config(linked + "http: {public_url: 'https://gate.example.test:8443/'}").http.public_url == (
        "https://gate.example.test:8443")


# -- webhooks -------------------------------------------------------------------------------------------------


def test_webhook_deliveries_carry_the_event_a_valid_signature_and_the_snapshot(tmp_path: Path):
    key = bytes(range(32))
    with Receiver(tmp_path / "requests.jsonl", SECRET) as receiver:
        config = parse_config(config_text(tmp_path, hooks={"ops": receiver.url}, notify="webhook:ops"))
        snapshot = "snapshots/gate/2026-12-03/x.jpg"
        jpeg = b"\xff\xd8\xff\xe0 a JPEG, encrypted at rest \xff\xd9"
        (tmp_path / snapshot).parent.mkdir(parents=True)
        write_encrypted(tmp_path / snapshot, jpeg, key)
        with running(config, media_key=key) as n:
            intrusion, visitor, quiet = event("intrusion", alert=True, snapshot=snapshot), event("visitor"), event("quiet")
            expected = opened_and_closed(n, intrusion) + opened_and_closed(n, visitor)
            opened_and_closed(n, quiet)  # a rule without `notify`
            assert wait_for(lambda: len(receiver.requests()) >= 4, 30), receiver.requests()
            assert wait_for(lambda: not waiting(config), 10)
        requests = receiver.requests()
    assert [json.loads(r["body"])["key"] for r in requests] == expected
    assert all(r["verified"] and r["status"] == 200 and r["path"] == "/hooks/vigia" for r in requests)
    first = requests[0]
    assert first["headers"]["Idempotency-Key"] == expected[0] and first["headers"]["X-Vigia-Attempt"] == "1"
    assert first["headers"]["X-Vigia-Signature"] == signature(SECRET, first["headers"]["X-Vigia-Timestamp"],
                                                              first["body"].encode())
    body = json.loads(first["body"])
    assert body["change"] == "open" and body["device"] == DEVICE
    assert body["event"] == {"id": intrusion.id, "camera": "gate", "rule": "intrusion", "kind": "enter", "zone": "yard",
                             "label": "person", "track_id": 7, "alert": True, "started_at": intrusion.started_at,
                             "ended_at": None, "max_score": 0.87, "box": [0.1, 0.2, 0.3, 0.4], "attributes": {}}
    assert base64.b64decode(body["snapshot"]["base64"]) == jpeg and body["snapshot"]["content_type"] == "image/jpeg"
    closing = json.loads(requests[1]["body"])
    assert closing["change"] == "close" and closing["event"]["ended_at"] == intrusion.started_at + 2.0
    assert json.loads(requests[2]["body"])["snapshot"] is None  # the visitor's event has no snapshot
    log = attempts(config)
    assert [(a.key, a.attempt, a.outcome, a.detail) for a in log] == [(k, 1, "delivered", "HTTP 200") for k in expected]


def test_a_webhook_answering_500_is_retried_until_it_takes_the_notification(tmp_path: Path):
    with Receiver(tmp_path / "requests.jsonl", SECRET, statuses=(500, 500)) as receiver:
        config = parse_config(config_text(tmp_path, hooks={"ops": receiver.url}, notify="webhook:ops"))
        with running(config) as n:
            alert = event("intrusion", alert=True)
            tell(n.sinks, EventChange("open", alert))
            assert wait_for(lambda: receiver.delivered(), 60), receiver.requests()
            later = event("visitor")
            tell(n.sinks, EventChange("open", later))
            assert wait_for(lambda: len(receiver.delivered()) == 2, 30), receiver.requests()
        requests = receiver.requests()
    keys = [json.loads(r["body"])["key"] for r in requests]
    assert keys == [f"{alert.id}:open"] * 3 + [f"{later.id}:open"]
    assert [r["status"] for r in requests] == [500, 500, 200, 200]
    assert [r["headers"]["X-Vigia-Attempt"] for r in requests] == ["1", "2", "3", "1"]
    assert {r["headers"]["Idempotency-Key"] for r in requests[:3]} == {f"{alert.id}:open"}
    log = attempts(config, "webhook:ops")
    assert [(a.attempt, a.outcome, a.detail) for a in log] == [
        (1, "failed", "HTTP 500: no"), (2, "failed", "HTTP 500: no"), (3, "delivered", "HTTP 200"),
        (1, "delivered", "HTTP 200")]


def test_one_destination_down_does_not_hold_up_another_and_gets_everything_in_order_when_back(tmp_path: Path):
    healthy = Receiver(tmp_path / "healthy.jsonl", SECRET).start()
    down = Receiver(tmp_path / "down.jsonl", SECRET)  # not started: connections are refused
    try:
        config = parse_config(config_text(tmp_path, hooks={"ops": healthy.url, "backup": down.url},
                                          notify="webhook:ops, webhook:backup"))
        with running(config) as n:
            expected = []
            for _ in range(3):
                expected += opened_and_closed(n, event("intrusion", alert=True))
            assert wait_for(lambda: [b["key"] for b in healthy.delivered()] == expected, 30), healthy.requests()
            assert wait_for(lambda: len(attempts(config, "webhook:backup")) >= 2, 30)
            assert all(a.outcome == "failed" and "ConnectionRefusedError" in a.detail
                       for a in attempts(config, "webhook:backup"))
            down.start()
            assert wait_for(lambda: [b["key"] for b in down.delivered()] == expected, 30), down.requests()
    finally:
        healthy.stop()
        down.stop()
    assert len(healthy.requests()) == len(expected)  # each once: nothing twice


def test_a_full_queue_drops_its_oldest_and_logs_the_drop(tmp_path: Path):
    down = Receiver(tmp_path / "down.jsonl", SECRET)
    text = config_text(tmp_path, hooks={"ops": down.url}, notify="webhook:ops",
                       retry="retry_initial_s: 0.2, retry_max_s: 1, max_queue: 10")
    config = parse_config(text)
    with running(config) as n:
        events = [event("visitor") for _ in range(8)]
        keys = [key for e in events for key in opened_and_closed(n, e)]  # 16 notifications, room for 10
        n.writer.flush()
        with database(config.storage.database) as db:
            (state,) = queue_states(db.conn)
        assert (state.waiting, state.dropped) == (10, 6)
        dropped = [a.key for a in attempts(config) if a.outcome == "dropped"]
        assert dropped == keys[:6]
        down.start()
        try:
            assert wait_for(lambda: [b["key"] for b in down.delivered()] == keys[6:], 30), down.requests()
        finally:
            down.stop()


def test_a_webhook_with_snapshot_links_sends_a_link_the_appliance_will_honour(tmp_path: Path):
    with Receiver(tmp_path / "requests.jsonl", SECRET) as receiver:
        text = config_text(tmp_path, hooks={"ops": receiver.url}, notify="webhook:ops").replace(
            f"secret: {SECRET}", f"secret: {SECRET}, snapshot: link") + "http: {public_url: 'https://gate.example.test:8443'}\n"
        config = parse_config(text)
        with running(config) as n:
            e = event("intrusion", alert=True, snapshot="snapshots/gate/not-written-yet.jpg")
            tell(n.sinks, EventChange("open", e))
            assert wait_for(lambda: receiver.delivered(), 30), receiver.requests()
    snapshot = receiver.delivered()[0]["snapshot"]
    url = urlsplit(snapshot["url"])
    assert (url.scheme, url.netloc, url.path) == ("https", "gate.example.test:8443", f"/api/v1/links/snapshot/{e.id}")
    query = parse_qs(url.query)
    assert int(query["expires"][0]) == snapshot["expires_at"] > time.time()
    assert check_link(load_link_key(tmp_path), e.id, query["expires"][0], query["sig"][0]) is None  # the server's check


def test_signature_verification_refuses_forgeries_and_replays():
    body = b'{"key":"01J:open"}'
    now = 1_800_000_000
    good = signature(SECRET, str(now), body)
    assert verify_signature(SECRET, str(now), body, good, now=now + 10)
    assert not verify_signature(SECRET, str(now), body + b" ", good, now=now)            # body changed
    assert not verify_signature("another-secret-0123456789", str(now), body, good, now=now)  # wrong key
    assert not verify_signature(SECRET, str(now + 1), body, good, now=now)               # timestamp changed
    assert not verify_signature(SECRET, str(now), body, good, now=now + 301)             # replayed later
    assert not verify_signature(SECRET, None, body, good) and not verify_signature(SECRET, str(now), body, None)


# -- MQTT -----------------------------------------------------------------------------------------------------


def test_mqtt_events_alerts_state_and_home_assistant_discovery(tmp_path: Path, broker: Mosquitto):
    config = parse_config(config_text(tmp_path, broker=broker.url, notify="mqtt"))
    base = f"vigia/{NODE}"
    with Subscriber(broker.port) as live, running(config) as n:
        alert, visit = event("intrusion", alert=True), event("visitor")
        expected = opened_and_closed(n, alert) + opened_and_closed(n, visit)
        assert wait_for(lambda: len(live.on(f"{base}/events")) == 4, 30), live.messages
        assert wait_for(lambda: len(live.on(f"{base}/alerts")) == 2, 30)
        assert [m.json()["key"] for m in live.on(f"{base}/events")] == expected
        assert [m.json()["key"] for m in live.on(f"{base}/alerts")] == expected[:2]
        assert all(m.qos == 1 and not m.retain for m in live.on(f"{base}/events"))
        assert live.on(f"{base}/events")[0].json()["event"]["rule"] == "intrusion"
        assert wait_for(lambda: live.latest(f"{base}/cameras/gate/counts") is not None and
                        live.latest(f"{base}/cameras/gate/counts").json()["rules"] == {"intrusion": 1, "visitor": 1}, 10)
        assert live.latest(f"{base}/cameras/gate/alert").payload == b"OFF"  # the alert's event closed
        # A client that subscribes later (Home Assistant starting) finds the retained messages.
        with Subscriber(broker.port, client_id="late") as late:
            assert wait_for(lambda: late.latest(f"{base}/availability") is not None, 10)
            assert wait_for(lambda: len([m for m in late.messages if m.topic.startswith("homeassistant/")]) == 3, 10)
            retained = {m.topic: m for m in late.messages}
    assert retained[f"{base}/availability"].payload == b"online" and retained[f"{base}/availability"].retain
    assert retained[f"{base}/cameras/gate/counts"].json() == {
        "day": retained[f"{base}/cameras/gate/counts"].json()["day"], "total": 2, "rules": {"intrusion": 1, "visitor": 1}}
    discovery = {topic: m for topic, m in retained.items() if topic.startswith("homeassistant/")}
    assert set(discovery) == {f"homeassistant/sensor/{NODE}/gate_occupancy/config",
                              f"homeassistant/sensor/{NODE}/gate_events_today/config",
                              f"homeassistant/binary_sensor/{NODE}/gate_alert/config"}
    assert all(m.retain and m.qos == 1 for m in discovery.values())
    for topic, message in discovery.items():
        check_discovery_config(topic.split("/")[1], message.json())
        for state_topic in (message.json()["state_topic"], *(a["topic"] for a in message.json()["availability"])):
            assert state_topic in retained, state_topic  # every topic an entity reads has a retained value
    alert_entity = discovery[f"homeassistant/binary_sensor/{NODE}/gate_alert/config"].json()
    assert alert_entity["state_topic"] == f"{base}/cameras/gate/alert" and alert_entity["device_class"] == "safety"
    # The appliance stopped: `offline`, retained.
    with Subscriber(broker.port, client_id="after") as after:
        assert wait_for(lambda: after.latest(f"{base}/availability") is not None, 10)
        assert after.latest(f"{base}/availability").payload == b"offline"


# Home Assistant's documented MQTT discovery options (home-assistant.io/integrations/sensor.mqtt and
# binary_sensor.mqtt, and the MQTT discovery page): the keys a config may have, the values some of them take.
HA_COMMON = {"availability", "availability_mode", "availability_template", "availability_topic", "device",
             "device_class", "enabled_by_default", "encoding", "entity_category", "entity_picture", "expire_after",
             "force_update", "icon", "json_attributes_template", "json_attributes_topic", "name", "default_entity_id",
             "origin", "payload_available", "payload_not_available", "platform", "qos", "state_topic", "unique_id",
             "value_template"}
HA_OPTIONS = {"sensor": HA_COMMON | {"last_reset_value_template", "options", "suggested_display_precision",
                                     "state_class", "unit_of_measurement"},
              "binary_sensor": HA_COMMON | {"off_delay", "payload_off", "payload_on"}}
HA_DEVICE = {"configuration_url", "connections", "hw_version", "identifiers", "manufacturer", "model", "model_id",
             "name", "serial_number", "suggested_area", "sw_version", "via_device"}
HA_BINARY_DEVICE_CLASSES = {"battery", "battery_charging", "carbon_monoxide", "cold", "connectivity", "door",
                            "garage_door", "gas", "heat", "light", "lock", "moisture", "motion", "moving", "occupancy",
                            "opening", "plug", "power", "presence", "problem", "running", "safety", "smoke", "sound",
                            "tamper", "update", "vibration", "window"}


def check_discovery_config(component: str, config: dict) -> None:
    """A discovery payload against the documented schema: known keys, required ones, valid values."""
    assert set(config) <= HA_OPTIONS[component], set(config) - HA_OPTIONS[component]
    assert isinstance(config["state_topic"], str) and config["unique_id"] and config["name"]
    assert set(config["device"]) <= HA_DEVICE and config["device"]["identifiers"]  # a device needs identifiers
    assert isinstance(config["device"]["identifiers"], list)
    assert config["availability_mode"] in ("all", "any", "latest")
    assert all(set(a) <= {"topic", "payload_available", "payload_not_available", "value_template"} and a["topic"]
               for a in config["availability"])
    assert config["qos"] in (0, 1, 2) and set(config["origin"]) <= {"name", "sw_version", "support_url"}
    if component == "sensor":
        assert config["state_class"] in ("measurement", "total", "total_increasing", "measurement_angle")
    else:
        assert config["device_class"] in HA_BINARY_DEVICE_CLASSES


def test_mqtt_over_tls_with_credentials_and_a_refused_login_in_the_log(tmp_path: Path):
    folder = tmp_path / "broker"
    folder.mkdir()
    users = {"vigia-gate": "gate-password-1", "watcher": "watcher-password-2"}
    with Mosquitto(folder, tls=True, users=users) as broker:
        def config(password: str) -> Config:
            return parse_config(config_text(tmp_path, notify="mqtt") + (
                f"mqtt: {{url: '{broker.url}', ca_file: {broker.ca_file}, username: vigia-gate, password: {password},"
                " retry_initial_s: 0.2, retry_max_s: 1}\n"))

        wrong = config("not-the-password")
        with running(wrong) as n:
            keys = opened_and_closed(n, event("intrusion", alert=True))
            assert wait_for(lambda: len(attempts(wrong)) >= 2, 30)
        assert all(a.outcome == "failed" and "refused the connection" in a.detail for a in attempts(wrong))
        with Subscriber(broker.port, ca_file=broker.ca_file, user=("watcher", users["watcher"])) as live, \
                running(config(users["vigia-gate"])):
            assert wait_for(lambda: [m.json()["key"] for m in live.on(f"vigia/{NODE}/events")] == keys, 30)
            online = [m.payload for m in live.on(f"vigia/{NODE}/availability")]
    assert online == [b"online"]  # while it ran; a stopped appliance says offline


def test_alerts_raised_while_the_broker_is_down_arrive_in_order_once_it_is_back(tmp_path: Path, broker: Mosquitto):
    config = parse_config(config_text(tmp_path, broker=broker.url, notify="mqtt"))
    events_topic = f"vigia/{NODE}/events"
    with Subscriber(broker.port) as before, running(config) as n:
        first = opened_and_closed(n, event("intrusion", alert=True))
        assert wait_for(lambda: len(before.on(events_topic)) == 2, 30)
        before.close()
        broker.stop()
        during = []
        for _ in range(3):
            during += opened_and_closed(n, event("intrusion", alert=True))
        assert wait_for(lambda: any(a.outcome == "failed" for a in attempts(config)), 30)
        assert waiting(config) == 6
        broker.start()
        with Subscriber(broker.port, client_id="after-outage") as after:
            assert wait_for(lambda: waiting(config) == 0, 60)
            assert wait_for(lambda: len(after.on(events_topic)) >= 6, 30), after.messages
            assert wait_for(lambda: after.latest(f"vigia/{NODE}/availability") is not None, 10)
            keys = [m.json()["key"] for m in after.on(events_topic)]
            availability = after.latest(f"vigia/{NODE}/availability").payload
    assert keys == during  # in order, each once
    assert availability == b"online"  # published again after the reconnection (the broker had forgotten it)
    log = attempts(config, "mqtt")
    assert [a.key for a in log if a.outcome == "delivered"] == first + during  # each published once
    failed = [a for a in log if a.outcome == "failed"]
    assert failed and {a.key for a in failed} == {during[0]}  # the head waited; nothing passed it
    assert all("not connected to the broker" in a.detail or "connection lost" in a.detail for a in failed)


def test_undelivered_notifications_are_delivered_after_a_restart(tmp_path: Path, broker: Mosquitto):
    receiver = Receiver(tmp_path / "requests.jsonl", SECRET)
    broker.stop()
    config = parse_config(config_text(tmp_path, broker=broker.url, hooks={"ops": receiver.url}))
    with running(config) as n:
        keys = opened_and_closed(n, event("intrusion", alert=True)) + opened_and_closed(n, event("visitor"))
        n.writer.flush()
        assert wait_for(lambda: {a.sink for a in attempts(config) if a.outcome == "failed"} == {"mqtt", "webhook:ops"}, 30)
    with database(config.storage.database) as db:
        assert {s.sink: s.waiting for s in queue_states(db.conn)} == {"mqtt": 4, "webhook:ops": 4}

    broker.start()
    receiver.start()
    try:
        with Subscriber(broker.port) as live, running(config):
            assert wait_for(lambda: [b["key"] for b in receiver.delivered()] == keys, 30), receiver.requests()
            assert wait_for(lambda: [m.json()["key"] for m in live.on(f"vigia/{NODE}/events")] == keys, 30)
            assert wait_for(lambda: waiting(config) == 0, 10)
    finally:
        receiver.stop()
    assert all(r["verified"] for r in receiver.requests())


def test_the_delivery_log_command_lists_every_try(tmp_path: Path, capsys):
    receiver = Receiver(tmp_path / "requests.jsonl", SECRET, statuses=(503,))
    config_file = tmp_path / "vigia.yml"
    with receiver:
        config_file.write_text(config_text(tmp_path, hooks={"ops": receiver.url}, notify="webhook:ops"))
        config = parse_config(config_file.read_text())
        with running(config) as n:
            e = event("visitor")
            keys = opened_and_closed(n, e)
            assert wait_for(lambda: len(receiver.delivered()) == 2, 30)
    assert vigia(["notify", "log", "-c", str(config_file), "--json"]) == 0
    log = json.loads(capsys.readouterr().out)
    assert [(a["key"], a["attempt"], a["outcome"], a["detail"]) for a in reversed(log)] == [
        (keys[0], 1, "failed", "HTTP 503: no"), (keys[0], 2, "delivered", "HTTP 200"), (keys[1], 1, "delivered", "HTTP 200")]
    assert vigia(["notify", "log", "-c", str(config_file), "--key", e.id]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert len(lines) == 3 and "failed" in lines[2] and "HTTP 503" in lines[2]
    assert vigia(["notify", "status", "-c", str(config_file), "--json"]) == 0
    assert json.loads(capsys.readouterr().out) == [
        {"sink": "webhook:ops", "waiting": 0, "oldest_waiting_at": None, "delivered": 2, "dropped": 0}]


# -- schedules ------------------------------------------------------------------------------------------------


def test_a_schedule_covers_its_days_and_a_window_across_midnight_belongs_to_the_day_it_starts():
    nights = Schedule.model_validate({"days": ["sat", "sun"], "from": "22:00", "to": "06:00"})
    at = datetime.fromisoformat  # 2026-12-05 is a Saturday
    assert [nights.covers(at(t)) for t in ("2026-12-05 21:59", "2026-12-05 22:00", "2026-12-06 05:59", "2026-12-06 06:00",
                                           "2026-12-06 23:30", "2026-12-07 03:00", "2026-12-07 22:30", "2026-12-05 02:00")
            ] == [False, True, True, False, True, True, False, False]
    office = Schedule.model_validate({"days": ["mon", "tue", "wed", "thu", "fri"], "from": "08:00", "to": "18:00"})
    assert [office.covers(at(t)) for t in ("2026-12-07 08:00", "2026-12-07 17:59", "2026-12-07 18:00", "2026-12-05 12:00")
            ] == [True, True, False, False]
    weekends = Schedule.model_validate({"days": ["sat", "sun"]})  # from = to: the whole day
    assert weekends.covers(at("2026-12-05 00:00")) and weekends.covers(at("2026-12-06 23:59"))
    assert not weekends.covers(at("2026-12-07 00:00"))
    with pytest.raises(ValueError, match="day sat given twice"):
        Schedule.model_validate({"days": ["sat", "sat"]})


def test_a_rule_notifies_only_inside_its_schedule_in_the_site_time_zone(tmp_path: Path):
    (tmp_path / "setup").mkdir()
    (tmp_path / "setup" / "site.json").write_text(json.dumps({"time_zone": "America/Sao_Paulo"}))  # UTC-3
    text = config_text(tmp_path, hooks={"ops": "http://127.0.0.1:9/unused"}, notify="webhook:ops").replace(
        "notify: [webhook:ops]}", "notify: [webhook:ops], schedule: {days: [sat], from: '22:00', to: '06:00'}}", 1)
    config = parse_config(text)
    assert config.cameras[0].rules[0].schedule is not None and config.cameras[0].rules[1].schedule is None
    utc = ZoneInfo("UTC")  # in UTC, the answers would be the other way round
    inside_there = datetime(2026, 12, 6, 7, 0, tzinfo=utc).timestamp()      # Sunday 04:00 in São Paulo
    outside_there = datetime(2026, 12, 5, 23, 0, tzinfo=utc).timestamp()    # Saturday 20:00 there
    saturday_day = datetime(2026, 12, 5, 15, 0, tzinfo=utc).timestamp()     # Saturday 12:00 there
    n = build_notifications(config, DEVICE)
    n.writer.start()
    try:
        inside = event("intrusion", alert=True, started_at=inside_there)
        expected = opened_and_closed(n, inside)
        for started_at in (outside_there, saturday_day):
            opened_and_closed(n, event("intrusion", alert=True, started_at=started_at))
        visitor = event("visitor", started_at=saturday_day)  # a rule without a schedule: always
        expected += opened_and_closed(n, visitor)
        n.writer.flush()
    finally:
        n.writer.close()
    with database(config.storage.database) as db:
        queued = [key for (key,) in db.execute("SELECT key FROM notifications ORDER BY id")]
    assert queued == expected


# -- the running appliance ------------------------------------------------------------------------------------


@pytest.mark.slow
def test_the_appliance_notifies_the_demo_clips_alerts_to_mqtt_and_a_webhook(tmp_path: Path, broker: Mosquitto,
                                                                           demo_clip: Path, default_model: Path):
    """The demo clip analysed by the running appliance: the alerting rules' events reach the broker and the receiver,
    each opening and closing once, in the order they happened; the camera's state and discovery are retained."""
    with Receiver(tmp_path / "requests.jsonl", SECRET) as receiver, Subscriber(broker.port) as live:
        text = demo_config_text(demo_clip, tmp_path, 0).replace("    loop: true\n", "    realtime: false\n")
        text = text.replace("  model: yolox_nano\n", f"  model: {default_model}\n")
        text = text.replace("alert: true}", "alert: true, notify: [mqtt, webhook:ops]}")
        text += (f"mqtt: {{url: '{broker.url}', node_id: demo}}\n"
                 f"webhooks:\n  ops: {{url: '{receiver.url}', secret: {SECRET}}}\n")
        config = parse_config(text, "demo with notifications")
        notifying = {rule.name for rule in config.cameras[0].rules if rule.notify}
        assert notifying == {"meeting", "crowded"}
        appliance = Appliance(config)
        appliance.start()
        try:
            assert appliance.wait(timeout=240), "the clip was not analysed in 4 minutes"
            appliance.flush_events()
            with database(config.storage.database) as db:
                rows = db.execute("SELECT id, rule FROM events ORDER BY started_at").fetchall()
            expected = {f"{event_id}:{change}" for event_id, rule in rows if rule in notifying
                        for change in ("open", "close")}
            assert expected and any(rule not in notifying for _, rule in rows)  # the other rules' are not sent
            assert wait_for(lambda: {b["key"] for b in receiver.delivered()} == expected, 60), receiver.requests()
            assert wait_for(lambda: {m.json()["key"] for m in live.on("vigia/demo/events")} == expected, 60)
        finally:
            appliance.stop()
    delivered = receiver.delivered()
    assert len(delivered) == len(expected)  # each once
    exposition = appliance.metrics_exposition().decode()
    for sink in ("mqtt", "webhook:ops"):
        assert f'vigia_notification_attempts_total{{outcome="delivered",sink="{sink}"}} {len(expected)}.0' in exposition
    for keys in ([b["key"] for b in delivered], [m.json()["key"] for m in live.on("vigia/demo/events")]):
        opened = [key.split(":")[0] for key in keys if key.endswith(":open")]
        assert all(keys.index(f"{event_id}:open") < keys.index(f"{event_id}:close") for event_id in opened)
    assert all(r["verified"] for r in receiver.requests())
    for body in delivered:  # the capture time of the frame that opened or closed it (none: closed by the clip's end)
        captured, when = body["captured_at"], body["event"]["started_at" if body["change"] == "open" else "ended_at"]
        assert captured >= when if body["change"] == "open" else captured is None or captured >= when
    with_snapshot = [b for b in delivered if b["change"] == "close"]
    assert with_snapshot and all(b["snapshot"] and base64.b64decode(b["snapshot"]["base64"])[:2] == b"\xff\xd8"
                                 for b in with_snapshot)  # a closing carries the event's JPEG
    assert {m.topic for m in live.messages} >= {
        "homeassistant/sensor/demo/concourse_occupancy/config", "homeassistant/binary_sensor/demo/concourse_alert/config",
        "vigia/demo/cameras/concourse/state", "vigia/demo/cameras/concourse/occupancy", "vigia/demo/alerts"}
    assert any(m.json()["total"] > 0 for m in live.on("vigia/demo/cameras/concourse/occupancy"))
    assert [m.payload for m in live.on("vigia/demo/availability")][-1] == b"offline"
    assert live.latest("vigia/demo/cameras/concourse/counts").json()["total"] == len(rows)


def test_a_webhook_keeps_its_connection_and_opens_a_new_one_when_the_receiver_closed_it(tmp_path: Path):
    import threading
    from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

    from vigia.appliance.config import Webhook
    from vigia.appliance.notify.queue import Queued
    from vigia.appliance.notify.webhook import WebhookTransport

    peers: list[tuple[str, int]] = []

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def do_POST(self) -> None:  # noqa: N802 - http.server's name
            self.rfile.read(int(self.headers["Content-Length"]))
            peers.append((self.headers["Idempotency-Key"], self.client_address[1]))
            self.send_response(204)
            self.end_headers()
            self.close_connection = len(peers) == 3   # then closes it without saying so (an idle timeout)

        def log_message(self, *_args) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    port = server.server_address[1]

    def row(n: int) -> Queued:
        body = json.dumps({"key": f"e{n}:open", "change": "open", "event": {"id": f"e{n}"}})
        return Queued(n, "webhook:h", f"e{n}:open", body, None, time.time(), 0)

    transport = WebhookTransport("h", Webhook(url=f"http://127.0.0.1:{port}/hook", secret="s" * 16), tmp_path)
    try:
        assert [r.outcome for r in transport.deliver([row(1), row(2), row(3)])] == ["delivered"] * 3
        assert len({peer for _, peer in peers}) == 1   # one connection for the three
        assert [r.outcome for r in transport.deliver([row(4)])] == ["delivered"]
        assert [key for key, _ in peers] == ["e1:open", "e2:open", "e3:open", "e4:open"]
        assert peers[3][1] != peers[0][1]   # on a new connection
    finally:
        transport.close()
        server.shutdown()
        server.server_close()
