"""Rules' notifications by email, through a real SMTP server (aiosmtpd) over STARTTLS or TLS with logins.

What arrives is checked at the server; outages are real (the server stopped, then started on the same port).
Nothing here asserts how long anything took: the tests wait for conditions.
"""
from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from support.notify import DEVICE, attempts, open_and_close, running, waiting
from support.smtp import SmtpServer
from support.waiting import wait_for

from vigia.appliance.config import ConfigError, parse_config
from vigia.appliance.encryption import write_encrypted
from vigia.appliance.notify.smtp import message_id
from vigia.scene.events import Event, new_event_id

USERS = {"vigia-gate": "gate-mail-password-1"}


def config_text(data_dir: Path, email: str, notify: str = "email") -> str:
    return f"""\
cameras:
  - name: gate
    url: {data_dir}/no-such-clip.mp4
    zones:
      - {{name: yard, polygon: [[0, 0], [1, 0], [1, 1], [0, 1]]}}
    rules:
      - {{name: intrusion, type: enter, zone: yard, alert: true, notify: [{notify}]}}
      - {{name: quiet, type: enter, zone: yard}}
storage: {{data_dir: {data_dir}, encrypt: false}}
email: {{{email}, retry_initial_s: 0.2, retry_max_s: 1}}
"""


def server_fields(server: SmtpServer, password: str = USERS["vigia-gate"]) -> str:
    return (f"host: 127.0.0.1, port: {server.port}, security: {server.security}, ca_file: {server.ca_file}, "
            f"username: vigia-gate, password: {password}, sender: 'Vigia gate <vigia@site.example>', "
            "to: [guard@site.example, 'Supervisor <boss@site.example>']")


def event(rule: str = "intrusion", snapshot: str | None = None) -> Event:
    now = time.time()
    return Event(id=new_event_id(now), camera="gate", rule=rule, kind="enter", zone="yard", label="person",
                 track_id=7, start=1.0, started_at=now, max_score=0.87, box=(0.1, 0.2, 0.3, 0.4),
                 alert=rule == "intrusion", snapshot=snapshot)


@pytest.fixture()
def server(tmp_path: Path) -> Iterator[SmtpServer]:
    folder = tmp_path / "smtp"
    folder.mkdir()
    with SmtpServer(folder, users=USERS) as running_server:
        yield running_server


def test_email_config_errors_name_the_field_and_its_line(tmp_path: Path):
    text = config_text(tmp_path, "host: mail.example.com, security: none, sender: vigia@x.example, to: [a@x.example]")
    with pytest.raises(ConfigError) as raised:
        parse_config(text)
    assert "email" in str(raised.value) and "line 10" in str(raised.value) and "relay on this machine" in str(raised.value)
    without = config_text(tmp_path, "host: 127.0.0.1, sender: vigia@x.example, to: [a@x.example]").split("email:")[0]
    with pytest.raises(ConfigError, match="needs an `email:` section"):
        parse_config(without)
    with pytest.raises(ConfigError, match="not an email address"):
        parse_config(config_text(tmp_path, "host: 127.0.0.1, sender: vigia@x.example, to: [nobody]"))


def test_an_alert_opening_arrives_as_one_email_with_its_snapshot_over_starttls(tmp_path: Path, server: SmtpServer):
    key = bytes(range(32))
    snapshot = "snapshots/gate/2026-12-03/x.jpg"
    jpeg = b"\xff\xd8\xff\xe0 a JPEG, encrypted at rest \xff\xd9"
    (tmp_path / snapshot).parent.mkdir(parents=True)
    write_encrypted(tmp_path / snapshot, jpeg, key)
    config = parse_config(config_text(tmp_path, server_fields(server)))
    with running(config, media_key=key) as n:
        intrusion, quiet = event("intrusion", snapshot), event("quiet")
        open_and_close(n.sinks, intrusion)
        open_and_close(n.sinks, quiet)  # a rule without `notify`
        assert wait_for(lambda: server.received() and not waiting(config), 30)
        time.sleep(0.5)  # a closing or a second message would be on its way by now
    [received] = server.received()
    assert received.recipients == ["guard@site.example", "boss@site.example"]
    mail = received.message
    assert mail["Subject"] == "[Vigia] ALERT intrusion: person in yard (gate)"
    assert mail["Message-ID"] == message_id(f"{intrusion.id}:open", DEVICE) and mail["X-Vigia-Event"] == intrusion.id
    assert "Alert: intrusion (enter) on camera gate" in mail.get_body(("plain",)).get_content()
    [attachment] = list(mail.iter_attachments())
    assert attachment.get_content_type() == "image/jpeg" and attachment.get_content() == jpeg
    assert server.logins == [("vigia-gate", True)]
    assert [(a.key, a.outcome, a.detail) for a in attempts(config, "email")] == [
        (f"{intrusion.id}:open", "delivered", "sent to 2 of 2")]


def test_a_refused_login_is_retried_and_logged_without_the_password(tmp_path: Path, server: SmtpServer):
    config = parse_config(config_text(tmp_path, server_fields(server, password="not-the-password")))
    with running(config) as n:
        open_and_close(n.sinks, event())
        assert wait_for(lambda: len(attempts(config, "email")) >= 2, 30)
    log = attempts(config, "email")
    assert all(a.outcome == "failed" and a.detail.startswith("SMTP 535") for a in log), log
    assert not any("not-the-password" in a.detail for a in log)
    assert not server.received() and waiting(config) == 1


def test_alerts_raised_while_the_mail_server_is_down_arrive_in_order_once_it_is_back(tmp_path: Path,
                                                                                      server: SmtpServer):
    config = parse_config(config_text(tmp_path, server_fields(server)))
    server.stop()
    with running(config) as n:
        events = [event() for _ in range(3)]
        for e in events:
            open_and_close(n.sinks, e)
        assert wait_for(lambda: any(a.outcome == "failed" for a in attempts(config, "email")), 30)
        server.start()
        assert wait_for(lambda: len(server.received()) == 3, 30)
    assert [r.message["X-Vigia-Event"] for r in server.received()] == [e.id for e in events]
    assert "ConnectionRefusedError" in attempts(config, "email")[0].detail


def test_a_server_whose_certificate_is_not_trusted_gets_nothing(tmp_path: Path):
    folder = tmp_path / "smtp"
    folder.mkdir()
    with SmtpServer(folder, security="tls", users=USERS) as server:
        fields = server_fields(server).replace(f"ca_file: {server.ca_file}, ", "")  # the system's CAs only
        config = parse_config(config_text(tmp_path, fields))
        with running(config) as n:
            open_and_close(n.sinks, event())
            assert wait_for(lambda: attempts(config, "email"), 30)
        assert not server.received() and not server.logins
    assert "CERTIFICATE_VERIFY_FAILED" in attempts(config, "email")[0].detail
