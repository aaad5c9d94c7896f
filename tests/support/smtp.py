"""An SMTP server of the test's own (aiosmtpd) on a free port: STARTTLS or TLS with a certificate for 127.0.0.1,
logins required over TLS when `users` are given, every message it accepts kept, parsed. `stop()` and `start()`
again on the same port, as a mail server going down and coming back."""
from __future__ import annotations

import ssl
import threading
from dataclasses import dataclass, field
from email import policy
from email.message import EmailMessage
from email.parser import BytesParser
from pathlib import Path

from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult, LoginPassword

from support.servers import free_port
from support.tls import write_tls_files


@dataclass
class Received:
    sender: str
    recipients: list[str]
    message: EmailMessage


@dataclass
class SmtpServer:
    folder: Path
    security: str = "starttls"              # starttls | tls | none
    users: dict[str, str] = field(default_factory=dict)
    port: int = field(default_factory=free_port)

    def __post_init__(self) -> None:
        self._received: list[Received] = []
        self._lock = threading.Lock()
        self._controller: Controller | None = None
        self.logins: list[tuple[str, bool]] = []  # (username, accepted)
        if self.security != "none":
            write_tls_files(self.folder)

    @property
    def ca_file(self) -> Path:
        return self.folder / "ca.pem"

    def received(self) -> list[Received]:
        with self._lock:
            return list(self._received)

    async def handle_DATA(self, server, session, envelope) -> str:  # noqa: N802 - aiosmtpd's handler hook
        message = BytesParser(policy=policy.default).parsebytes(envelope.original_content or envelope.content)
        with self._lock:
            self._received.append(Received(envelope.mail_from, list(envelope.rcpt_tos), message))
        return "250 OK"

    def _authenticate(self, server, session, envelope, mechanism, auth_data) -> AuthResult:
        ok = (isinstance(auth_data, LoginPassword)
              and self.users.get(auth_data.login.decode()) == auth_data.password.decode())
        self.logins.append((auth_data.login.decode() if isinstance(auth_data, LoginPassword) else "?", ok))
        return AuthResult(success=ok, handled=False)  # not handled: the server answers 535 itself

    def start(self) -> SmtpServer:
        context = None
        if self.security != "none":
            context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
            context.load_cert_chain(self.folder / "server.pem", self.folder / "server.key")
        options: dict = {"hostname": "127.0.0.1", "port": self.port}
        if self.security == "starttls":
            options |= {"tls_context": context, "require_starttls": True}
        elif self.security == "tls":
            options |= {"ssl_context": context}
        if self.users:
            options |= {"authenticator": self._authenticate, "auth_required": True, "auth_require_tls": True}
        self._controller = Controller(self, **options)
        self._controller.start()
        return self

    def stop(self) -> None:
        if self._controller is not None:
            self._controller.stop()
            self._controller = None

    def __enter__(self) -> SmtpServer:
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()
