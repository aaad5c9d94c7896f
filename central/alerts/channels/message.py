"""One notification of an alert (a Note) and what it says, the same on every channel: the JSON of webhooks and
pushes, the text of emails."""
from __future__ import annotations

from dataclasses import dataclass

from vigia.central.alerts.store import Alert

KIND_TITLES = {"device_offline": "Device offline", "camera_offline": "Camera offline", "backlog": "Backlog growing",
               "disk_low": "Disk low", "false_alarms": "False alarms"}


class DeliveryFailed(Exception):
    """A try that did not deliver; the message says why (never a secret)."""


@dataclass(frozen=True)
class Note:
    key: str                    # idempotency key: alert-<id>-<level>-<change>, the same on every try
    change: str                 # raised | resolved
    level: int
    alert: Alert
    ack_url: str | None         # the acknowledge link (None once resolved)
    ack_token: str | None
    ack_expires: int | None

    @property
    def title(self) -> str:
        prefix = "RESOLVED: " if self.change == "resolved" else f"[level {self.level}] "
        return f"{prefix}{KIND_TITLES[self.alert.kind]}: {self.alert.subject}"

    def payload(self) -> dict:
        """The JSON body of webhooks (and the data of pushes)."""
        return {"key": self.key, "change": self.change, "level": self.level, "title": self.title,
                "alert": self.alert.as_json(),
                "ack": None if self.ack_token is None else {"url": self.ack_url, "token": self.ack_token,
                                                            "expires_at": self.ack_expires}}
