"""Email (SMTP): each event opening of a rule with `notify: [email]` as one message through the site's SMTP server.

The connection is TLS (STARTTLS on 587, or TLS from the first byte on 465), the server's certificate checked, and
the login (when given) only over it; plain SMTP is allowed to a relay on this machine alone (the config refuses
anything else). One message per opening, to every address of `to`, with the event's snapshot attached. Its
`Message-ID` comes from the notification's idempotency key, the same on every try, so a message sent twice (the
server took it but its answer was lost) is one message to mail clients that deduplicate.

Any error (no connection, TLS refused, login refused, the server refusing the message or every recipient) is a
failed try, tried again with backoff (vigia.appliance.notify.delivery); the log gets the server's answer, never the
password.
"""
from __future__ import annotations

import json
import smtplib
import ssl
from dataclasses import dataclass
from datetime import datetime, tzinfo
from email.message import EmailMessage
from email.utils import format_datetime
from pathlib import Path

from vigia.appliance.config import Email
from vigia.appliance.encryption import MediaCryptoError
from vigia.appliance.notify.queue import Queued, Result
from vigia.appliance.notify.snapshots import SNAPSHOT_WAIT_S, read_snapshot

SINK = "email"


def message_id(key: str, device: str) -> str:
    """The same for every try of one notification (`01J...:open` -> `<01J...-open.DEVICE@vigia>`)."""
    return f"<{key.replace(':', '-')}.{device}@vigia>"


def compose(message: dict, settings: Email, zone: tzinfo | None, snapshot: bytes | None) -> EmailMessage:
    """The email of one event opening (`message`: vigia.appliance.notify.routing.event_message)."""
    event = message["event"]
    started = datetime.fromtimestamp(event["started_at"], zone).astimezone(zone)
    what = f"{event['label']} in {event['zone']}" if event["zone"] else event["label"]
    mail = EmailMessage()
    mail["Subject"] = f"[Vigia] {'ALERT ' if event['alert'] else ''}{event['rule']}: {what} ({event['camera']})"
    mail["From"] = settings.sender
    mail["To"] = ", ".join(settings.to)
    mail["Date"] = format_datetime(started)
    mail["Message-ID"] = message_id(message["key"], message["device"])
    mail["X-Vigia-Event"] = event["id"]
    lines = [f"{'Alert: ' if event['alert'] else ''}{event['rule']} ({event['kind']}) on camera {event['camera']}",
             f"{what}, score {event['max_score']:.2f}",
             f"at {started:%Y-%m-%d %H:%M:%S %Z}".rstrip(),
             "", f"event {event['id']}", f"device {message['device']}"]
    if settings.snapshot and snapshot is None:
        lines.append("(no snapshot yet)")
    mail.set_content("\n".join(lines) + "\n")
    if snapshot is not None:
        mail.add_attachment(snapshot, maintype="image", subtype="jpeg", filename=f"{event['id']}.jpg")
    return mail


@dataclass
class EmailTransport:
    """Deliveries through one SMTP server (a Transport of vigia.appliance.notify.delivery)."""

    settings: Email
    data_dir: Path
    media_key: bytes | None = None     # to read encrypted snapshots
    zone: tzinfo | None = None         # the site's time zone, for the dates people read

    def __post_init__(self) -> None:
        self.sink = SINK
        self._tls = (ssl.create_default_context(cafile=str(self.settings.ca_file) if self.settings.ca_file else None)
                     if self.settings.security != "none" else None)

    def maintain(self) -> None:
        """Nothing to keep up: one connection per round of deliveries."""

    def close(self) -> None:
        """Nothing held between rounds."""

    def deliver(self, items: list[Queued]) -> list[Result]:
        try:
            server = self._connect()
        except (OSError, smtplib.SMTPException) as exc:
            return [Result(items[0], "failed", _reason(exc))]
        results = []
        try:
            for item in items:
                result = self._send(server, item)
                results.append(result)
                if result.outcome == "failed":
                    break
        finally:
            try:
                server.quit()
            except (OSError, smtplib.SMTPException):
                server.close()
        return results

    def _connect(self) -> smtplib.SMTP:
        s = self.settings
        if s.security == "tls":
            server = smtplib.SMTP_SSL(s.host, s.server_port, timeout=s.timeout_s, context=self._tls)
        else:
            server = smtplib.SMTP(s.host, s.server_port, timeout=s.timeout_s)
        try:
            if s.security == "starttls":
                server.starttls(context=self._tls)
            if s.username:
                server.login(s.username, s.password or "")
        except (OSError, smtplib.SMTPException):
            server.close()
            raise
        return server

    def _send(self, server: smtplib.SMTP, item: Queued) -> Result:
        message = json.loads(item.body)
        note = ""
        snapshot = None
        if self.settings.snapshot and item.snapshot:
            try:
                snapshot = read_snapshot(self.data_dir / item.snapshot, self.media_key, item.created_at + SNAPSHOT_WAIT_S)
            except (OSError, MediaCryptoError) as exc:
                note = f"; snapshot left out: {exc}"
        try:
            refused = server.send_message(compose(message, self.settings, self.zone, snapshot))
        except (OSError, smtplib.SMTPException) as exc:
            return Result(item, "failed", _reason(exc) + note)
        detail = f"sent to {len(self.settings.to) - len(refused)} of {len(self.settings.to)}"
        if refused:
            detail += "; refused: " + ", ".join(f"{who} ({code})" for who, (code, _text) in refused.items())
        return Result(item, "delivered", detail + note)


def _reason(exc: BaseException) -> str:
    """The server's answer (code and text) or the error; never the credentials."""
    if isinstance(exc, smtplib.SMTPResponseException):
        text = exc.smtp_error.decode("utf-8", "replace") if isinstance(exc.smtp_error, bytes) else str(exc.smtp_error)
        return f"SMTP {exc.smtp_code}: {text}"[:300]
    if isinstance(exc, smtplib.SMTPRecipientsRefused):
        return "every recipient refused: " + ", ".join(f"{who} ({code})" for who, (code, _t) in exc.recipients.items())
    return f"{type(exc).__name__}: {exc}"[:300]
