"""Home Assistant MQTT discovery: each camera as a device with three entities, found with no configuration.

For camera C of node N (topics under `<prefix>/N`, see vigia.appliance.notify.mqtt_state), retained on
`<discovery prefix>/<component>/N/<object>/config`:
- `sensor` C_occupancy: the objects in view now (attributes: per class);
- `sensor` C_events_today: events opened today, site time (attributes: per rule); resets at midnight;
- `binary_sensor` C_alert: on while an alerting rule's event is open (device class `safety`).
Each is unavailable when the appliance is (its last will) or the camera is not online.
"""
from __future__ import annotations

import re
from importlib.metadata import PackageNotFoundError, version

from vigia.appliance.notify.topics import Topics


def object_id(name: str) -> str:
    """A camera name as discovery topics and unique ids allow ([a-zA-Z0-9_-])."""
    return re.sub(r"[^A-Za-z0-9_-]", "_", name)


def _version() -> str:
    try:
        return version("vigia")
    except PackageNotFoundError:
        return "unknown"


def discovery_messages(topics: Topics, discovery_prefix: str, camera: str) -> dict[str, dict]:
    """topic -> config payload for one camera's entities."""
    node, cam = topics.node, object_id(camera)
    device = {"identifiers": [f"{node}_{cam}"], "name": camera, "manufacturer": "Vigia", "model": "Camera analytics"}
    common = {
        "availability": [{"topic": topics.availability}, {"topic": topics.camera_availability(camera)}],
        "availability_mode": "all", "device": device,
        "origin": {"name": "Vigia", "sw_version": _version()}, "qos": 1,
    }
    sensors = {
        ("sensor", "occupancy"): {
            "name": "Occupancy", "state_topic": topics.camera_occupancy(camera), "value_template": "{{ value_json.total }}",
            "json_attributes_topic": topics.camera_occupancy(camera),
            "json_attributes_template": "{{ value_json.classes | tojson }}",
            "unit_of_measurement": "objects", "state_class": "measurement", "icon": "mdi:account-group"},
        ("sensor", "events_today"): {
            "name": "Events today", "state_topic": topics.camera_counts(camera), "value_template": "{{ value_json.total }}",
            "json_attributes_topic": topics.camera_counts(camera),
            "json_attributes_template": "{{ value_json.rules | tojson }}",
            "unit_of_measurement": "events", "state_class": "total_increasing", "icon": "mdi:counter"},
        ("binary_sensor", "alert"): {
            "name": "Alert", "state_topic": topics.camera_alert(camera), "payload_on": "ON", "payload_off": "OFF",
            "device_class": "safety"},
    }
    return {f"{discovery_prefix}/{component}/{node}/{cam}_{name}/config":
            {**entity, "unique_id": f"{node}_{cam}_{name}", **common}
            for (component, name), entity in sensors.items()}
