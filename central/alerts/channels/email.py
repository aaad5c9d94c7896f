"""Alerts by email through the configured SMTP server: TLS (STARTTLS or TLS from the first byte) with the server's
certificate checked, the login only over it; plain SMTP only to a relay on this machine (the config refuses any
other). The message carries the acknowledge link; its Message-ID comes from the note's key, the same on every try.
"""
from __future__ import annotations

import asyncio
import smtplib
import ssl
from email.message import EmailMessage
from email.utils import format_datetime

import psycopg

from vigia.central.alerts.channels.message import DeliveryFailed, Note
from vigia.central.alerts.config import SmtpSettings


def compose(note: Note, settings: SmtpSettings, to: tuple[str, ...]) -> EmailMessage:
    alert = note.alert
    mail = EmailMessage()
    mail["Subject"] = f"[Vigia central] {note.title}"
    mail["From"] = settings.sender
    mail["To"] = ", ".join(to)
    mail["Date"] = format_datetime(alert.resolved_at if note.change == "resolved" else alert.level_at)
    mail["Message-ID"] = f"<{note.key}@vigia-central>"
    mail["X-Vigia-Alert"] = str(alert.id)
    lines = [alert.summary, "", f"alert {alert.id} ({alert.kind}), opened {alert.opened_at:%Y-%m-%d %H:%M:%S %Z}"]
    if note.change == "resolved":
        lines.append(f"resolved {alert.resolved_at:%Y-%m-%d %H:%M:%S %Z}")
    else:
        lines.append(f"on-call level {note.level}")
    if note.ack_url:
        lines += ["", "Acknowledge (stops the escalation):", note.ack_url]
    mail.set_content("\n".join(lines) + "\n")
    return mail


class EmailChannel:
    def __init__(self, settings: SmtpSettings, to: tuple[str, ...]):
        self.settings, self.to = settings, to
        self._tls = (ssl.create_default_context(cafile=settings.ca_file) if settings.security != "none" else None)

    async def send(self, conn: psycopg.AsyncConnection, note: Note, attempt: int = 1) -> str:
        return await asyncio.to_thread(self._send, note)

    def _send(self, note: Note) -> str:
        s = self.settings
        try:
            if s.security == "tls":
                server = smtplib.SMTP_SSL(s.host, s.port, timeout=s.timeout_s, context=self._tls)
            else:
                server = smtplib.SMTP(s.host, s.port, timeout=s.timeout_s)
            with server:
                if s.security == "starttls":
                    server.starttls(context=self._tls)
                if s.username:
                    server.login(s.username, s.password or "")
                refused = server.send_message(compose(note, s, self.to))
        except smtplib.SMTPResponseException as exc:
            text = exc.smtp_error.decode("utf-8", "replace") if isinstance(exc.smtp_error, bytes) else str(exc.smtp_error)
            raise DeliveryFailed(f"SMTP {exc.smtp_code}: {text}"[:300]) from None
        except (OSError, smtplib.SMTPException) as exc:
            raise DeliveryFailed(f"{type(exc).__name__}: {exc}"[:300]) from None
        return f"sent to {len(self.to) - len(refused)} of {len(self.to)}"
