"""Where alert notifications go: `webhook`, `email`, `push`, `expo` (the app's phones); `message` is what each of them says.

Each channel's `send(conn, note)` delivers one notification or raises DeliveryFailed (tried again later by
vigia.central.alerts.delivery). `build_channels` makes one per channel name the levels use.
"""
from __future__ import annotations

from typing import TYPE_CHECKING, Protocol

import psycopg

from vigia.central.alerts.channels.message import DeliveryFailed, Note

if TYPE_CHECKING:   # the dashboard imports this package (messages); the settings' parser (YAML) stays out of it
    from vigia.central.alerts.config import AlertsConfig


class Channel(Protocol):
    async def send(self, conn: psycopg.AsyncConnection, note: Note, attempt: int = 1) -> str:
        """Deliver `note`; returns what the far end said, raises DeliveryFailed."""


def build_channels(config: AlertsConfig, vapid_pem: bytes | None) -> dict[str, Channel]:
    """A channel per name in the levels (`vapid_pem`: central's VAPID key, needed when a level pushes)."""
    from vigia.central.alerts.channels.email import EmailChannel
    from vigia.central.alerts.channels.expo import ExpoChannel
    from vigia.central.alerts.channels.push import PushChannel
    from vigia.central.alerts.channels.webhook import WebhookChannel

    channels: dict[str, Channel] = {}
    for name in sorted({c for levels in config.levels.values() for level in levels for c in level.notify}):
        kind, _, target = name.partition(":")
        if kind == "webhook":
            channels[name] = WebhookChannel(config.webhooks[target])
        elif kind == "email":
            channels[name] = EmailChannel(config.smtp, config.email[target])
        elif kind == "expo":
            channels[name] = ExpoChannel(config.expo, target or None)
        else:
            channels[name] = PushChannel(config.push, vapid_pem, target or None)
    return channels


__all__ = ["Channel", "DeliveryFailed", "Note", "build_channels"]
