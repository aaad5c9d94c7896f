"""The MQTT topics of one appliance, under `<topic_prefix>/<node id>` (`vigia/vigia_1a2b3c4d` by default).

| topic | retained | payload |
| --- | --- | --- |
| `<base>/availability` | yes | `online`, or `offline` (also the last will, when the connection drops) |
| `<base>/events` | no | every notified event opening and closing (JSON, vigia.appliance.notify.routing) |
| `<base>/alerts` | no | the same, of rules with `alert: true` only |
| `<base>/cameras/<camera>/availability` | yes | `online` while the camera streams, else `offline` |
| `<base>/cameras/<camera>/state` | yes | `{"state", "since", "last_error"}` |
| `<base>/cameras/<camera>/occupancy` | yes | `{"total": n, "classes": {"person": n, ...}}`: objects in view now |
| `<base>/cameras/<camera>/counts` | yes | `{"day": "YYYY-MM-DD", "total": n, "rules": {"rule": n}}`: events today |
| `<base>/cameras/<camera>/alert` | yes | `ON` while an alerting rule's event is open, else `OFF` |

All are published with QoS 1.
"""
from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Topics:
    prefix: str
    node: str

    @property
    def base(self) -> str:
        return f"{self.prefix}/{self.node}"

    @property
    def availability(self) -> str:
        return f"{self.base}/availability"

    @property
    def events(self) -> str:
        return f"{self.base}/events"

    @property
    def alerts(self) -> str:
        return f"{self.base}/alerts"

    def camera(self, camera: str, leaf: str) -> str:
        return f"{self.base}/cameras/{camera}/{leaf}"

    def camera_availability(self, camera: str) -> str:
        return self.camera(camera, "availability")

    def camera_state(self, camera: str) -> str:
        return self.camera(camera, "state")

    def camera_occupancy(self, camera: str) -> str:
        return self.camera(camera, "occupancy")

    def camera_counts(self, camera: str) -> str:
        return self.camera(camera, "counts")

    def camera_alert(self, camera: str) -> str:
        return self.camera(camera, "alert")
