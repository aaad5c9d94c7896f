"""Central alerts and escalation (vigia.central.alerts) on a real PostgreSQL, with a webhook receiver process of its
own (tests/support/webhook_receiver.py: it checks the HMAC as the README says), an SMTP server (aiosmtpd, STARTTLS),
a push service that decrypts each payload (tests/support/push_service.py) and the dashboard served over HTTPS.

The evaluator is run at chosen instants (`now`), so minutes of escalation take no waiting; the levels are set in
seconds (0.05 minutes) all the same, as a site could.
"""
from __future__ import annotations

import asyncio
import dataclasses
import datetime as dt
import json
import re
import ssl
import subprocess
import sys
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import psycopg
import pytest
import requests
from aiohttp import web
from psycopg.types.json import Jsonb
from support.push_service import PushService
from support.smtp import SmtpServer
from support.tls import write_tls_files
from support.webhooks import Receiver

from vigia.app.devstack import free_port, temporary_database
from vigia.central.alerts import delivery, store
from vigia.central.alerts.conditions import findings
from vigia.central.alerts.config import AlertsConfig, ConfigError, parse_config
from vigia.central.alerts.links import check_ack_token, stored_key
from vigia.central.alerts.subscriptions import subscriptions
from vigia.central.alerts.watch import Evaluator, try_lock
from vigia.central.dashboard import accounts
from vigia.central.dashboard.app import DashboardSettings, create_app
from vigia.central.migrations import migrate
from vigia.kit.vapid import application_server_key, vapid_from_pem

SECRET = "central-alerts-secret-0123456789"
STEP = dt.timedelta(seconds=3)   # 0.05 minutes: the levels' after_minutes


class Dashboard:
    """The dashboard over HTTPS from a thread of its own."""

    def __init__(self, dsn: str, tls_dir: Path):
        tls_dir.mkdir(exist_ok=True)
        write_tls_files(tls_dir)
        self.tls = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        self.tls.load_cert_chain(tls_dir / "server.pem", tls_dir / "server.key")
        self.ca = str(tls_dir / "ca.pem")
        self.dsn, self.port = dsn, free_port()
        self.url = f"https://127.0.0.1:{self.port}/dashboard"
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, daemon=True)

    def call(self, coroutine, timeout: float = 30):
        return asyncio.run_coroutine_threadsafe(coroutine, self.loop).result(timeout)

    def __enter__(self) -> Dashboard:
        self.thread.start()

        async def start():
            self.runner = web.AppRunner(create_app(DashboardSettings(self.dsn)), access_log=None)
            await self.runner.setup()
            await web.TCPSite(self.runner, "127.0.0.1", self.port, ssl_context=self.tls).start()
        self.call(start())
        return self

    def __exit__(self, *_exc) -> None:
        self.call(self.runner.cleanup())
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(10)

    def login(self, username: str, password: str) -> requests.Session:
        session = requests.Session()
        session.verify, session.trust_env = self.ca, False   # not REQUESTS_CA_BUNDLE over it
        reply = session.post(f"{self.url}/api/v1/login", json={"username": username, "password": password}, timeout=10)
        reply.raise_for_status()
        session.headers["X-CSRF-Token"] = reply.json()["csrf_token"]
        return session


@dataclass
class Central:
    dsn: str
    dashboard: Dashboard
    receiver: Receiver
    smtp: SmtpServer
    push: PushService

    def run(self, work):
        """`work(conn)` on a connection of its own, to its end."""
        async def go():
            async with await psycopg.AsyncConnection.connect(self.dsn, autocommit=True) as conn:
                return await work(conn)
        return asyncio.run(go())

    def sql(self, query: str, params=()) -> list[tuple]:
        with psycopg.connect(self.dsn, autocommit=True) as conn:
            cursor = conn.execute(query, params)
            return cursor.fetchall() if cursor.description else []

    def config(self, **levels) -> AlertsConfig:
        return parse_config({"alerts": {
            "public_url": self.dashboard.url, "retry_s": 1,
            "conditions": {"device_offline_minutes": 1, "camera_offline_minutes": 1},
            "levels": levels,
            "webhooks": {"noc": {"url": self.receiver.url, "secret": SECRET, "timeout_s": 5}},
            "smtp": {"host": "127.0.0.1", "port": self.smtp.port, "security": "starttls", "ca_file": str(self.smtp.ca_file),
                     "sender": "vigia@example.org", "timeout_s": 5},
            "email": {"oncall": {"to": ["oncall@example.org"]}},
            "push": {"subject": "mailto:noc@example.org", "timeout_s": 5}}}, Path("."))

    def evaluate(self, config: AlertsConfig, now: dt.datetime):
        async def work(conn):
            return await (await Evaluator.create(conn, config)).evaluate(conn, now)
        return self.run(work)

    def alert(self, kind: str, subject: str) -> store.Alert:
        return next(a for a in self.run(lambda conn: store.list_alerts(conn, True, 100))
                    if a.kind == kind and a.subject == subject)

    def deliveries(self, alert_id: int) -> list[dict]:
        return self.run(lambda conn: delivery.deliveries(conn, alert_id))

    def audit(self, alert_id: int) -> list[dict]:
        return self.run(lambda conn: store.audit_trail(conn, alert_id))


@pytest.fixture()
def dsn() -> Iterator[str]:
    """A new database, migrated, with an operator and a viewer."""
    with temporary_database() as dsn:
        async def prepare():
            async with await psycopg.AsyncConnection.connect(dsn, autocommit=True) as conn:
                await migrate(conn)
                await accounts.add_user(conn, "otto", "operator-pass-1", "operator")
                await accounts.add_user(conn, "vera", "viewer-pass-1", "viewer")
        asyncio.run(prepare())
        yield dsn


@pytest.fixture()
def central(dsn: str, tmp_path: Path) -> Iterator[Central]:
    smtp_dir = tmp_path / "smtp"
    smtp_dir.mkdir()
    with (Dashboard(dsn, tmp_path / "tls") as dashboard, Receiver(tmp_path / "hooks.jsonl", SECRET, (500,)) as receiver,
          SmtpServer(smtp_dir) as smtp, PushService(free_port()) as push):
        yield Central(dsn, dashboard, receiver, smtp, push)


def _enrol(c: Central, device: str, last_seen: dt.datetime) -> None:
    c.sql("INSERT INTO devices (device_id, cert_serial, enrolled_at, last_seen_at) VALUES (%s, '1', %s, %s)",
          [device, last_seen - dt.timedelta(days=1), last_seen])


def _camera(c: Central, device: str, camera: str, state: str, since: dt.datetime) -> None:
    c.sql("INSERT INTO device_records (device_id, kind, key, seq, body) VALUES (%s, 'camera_health', %s, 1, %s) "
          "ON CONFLICT (device_id, kind, key) DO UPDATE SET body = EXCLUDED.body",
          [device, camera, Jsonb({"camera": camera, "state": state, "since": since.timestamp(), "last_error": "timeout"})])


def test_device_offline_escalates_to_email_until_acknowledged_through_its_link_then_resolves(central: Central):
    c = central
    t0 = dt.datetime.now(dt.timezone.utc).replace(microsecond=0)
    _enrol(c, "dev-a", t0 - dt.timedelta(minutes=10))
    _camera(c, "dev-a", "gate", "offline", t0 - dt.timedelta(minutes=11))   # judged with its device: no alert of its own
    _enrol(c, "dev-ok", t0)
    config = c.config(default=[{"notify": ["webhook:noc"]}, {"after_minutes": 0.05, "notify": ["email:oncall"]},
                               {"after_minutes": 0.05, "notify": ["webhook:noc"]}])

    first = c.evaluate(config, t0)   # the receiver answers 500 to the first request: tried again later
    assert (first.opened, first.delivered, first.failed) == (1, 0, 1)
    assert c.evaluate(config, t0).opened == 0   # idempotent: one open alert per kind and subject
    assert c.evaluate(config, t0 + dt.timedelta(seconds=1.5)).delivered == 1   # retry_s 1
    alert = c.alert("device_offline", "dev-a")
    assert alert.level == 1 and alert.summary == "device dev-a: no batch for 10 min"
    [refused, hook] = c.receiver.requests()
    assert refused["status"] == 500 and hook["status"] == 200 and hook["verified"]   # HMAC checked by the receiver
    assert refused["headers"]["Idempotency-Key"] == hook["headers"]["Idempotency-Key"] == f"alert-{alert.id}-1-raised"
    body = json.loads(hook["body"])
    assert body["change"] == "raised" and body["level"] == 1 and body["alert"]["subject"] == "dev-a"
    assert body["ack"]["url"].startswith(f"{c.dashboard.url}/api/v1/alerts/ack?token=")
    assert c.smtp.received() == []

    assert c.evaluate(config, t0 + STEP).escalated == 1   # not acknowledged 3 s after level 1: level 2, email
    [mail] = c.smtp.received()
    assert mail.recipients == ["oncall@example.org"] and "[level 2] Device offline: dev-a" in mail.message["Subject"]
    link = re.search(r"https://\S+", mail.message.get_content())[0]

    page = requests.get(link, verify=c.dashboard.ca, timeout=10)   # a mail scanner fetching the link acknowledges nothing
    assert page.status_code == 200 and "Acknowledge</button>" in page.text
    assert c.alert("device_offline", "dev-a").acked_at is None
    token = re.search(r'name="token" value="([^"]+)"', page.text)[1]
    done = requests.post(link.split("?")[0], data={"token": token}, verify=c.dashboard.ca, timeout=10)
    assert done.status_code == 200 and "acknowledged." in done.text
    alert = c.alert("device_offline", "dev-a")
    assert alert.acked_by == "link" and alert.level == 2

    for seconds in (7, 20, 50):   # level 3 would be due from 6 s: acknowledged, it never comes
        assert c.evaluate(config, t0 + dt.timedelta(seconds=seconds)).escalated == 0
    assert [(d["level"], d["channel"], d["state"]) for d in c.deliveries(alert.id)] == [
        (1, "webhook:noc", "delivered"), (2, "email:oncall", "delivered")]

    c.sql("UPDATE devices SET last_seen_at = %s", [t0 + dt.timedelta(seconds=61)])   # both send batches
    back = c.evaluate(config, t0 + dt.timedelta(seconds=62))
    assert (back.resolved, back.opened) == (1, 1)   # the device is back; its camera, still offline, has its own alert now
    assert c.alert("device_offline", "dev-a").resolved_at is not None
    assert [(b["change"], b["alert"]["subject"]) for b in c.receiver.delivered()] == [
        ("raised", "dev-a"), ("raised", "dev-a/gate"), ("resolved", "dev-a")]   # the resolution to the channels told
    assert "RESOLVED: Device offline: dev-a" in c.smtp.received()[-1].message["Subject"]
    assert [(a["action"], a["actor"], a["via"]) for a in c.audit(alert.id)] == [
        ("opened", "central", "evaluator"), ("escalated", "central", "evaluator"), ("acknowledged", "link", "email"),
        ("resolved", "central", "evaluator")]
    _camera(c, "dev-a", "gate", "online", t0 + dt.timedelta(seconds=62))
    assert c.evaluate(config, t0 + dt.timedelta(seconds=63)).open == 0


def test_camera_offline_pushed_to_a_dashboard_users_browser_and_acknowledged_in_the_dashboard(central: Central):
    c = central
    t0 = dt.datetime.now(dt.timezone.utc).replace(microsecond=0)
    _enrol(c, "dev-b", t0)
    _camera(c, "dev-b", "gate", "offline", t0 - dt.timedelta(minutes=2))
    _camera(c, "dev-b", "yard", "online", t0 - dt.timedelta(hours=1))
    otto = c.dashboard.login("otto", "operator-pass-1")
    key = otto.get(f"{c.dashboard.url}/api/v1/alerts/push/key", timeout=10).json()["application_server_key"]
    assert key == application_server_key(vapid_from_pem(c.run(lambda conn: stored_key(conn, "vapid")), "test"))
    c.push.server_key = key
    browser = c.push.new_subscription()
    assert otto.post(f"{c.dashboard.url}/api/v1/alerts/push/subscriptions", json=browser.json(), timeout=10).status_code == 201
    config = c.config(camera_offline=[{"notify": ["push:otto"]}, {"after_minutes": 0.05, "notify": ["webhook:noc"]}],
                      default=[{"notify": []}])   # default: the dashboard only

    assert c.evaluate(config, t0).delivered == 1
    [pushed] = c.push.to(browser)
    assert pushed.payload["alert"]["subject"] == "dev-b/gate" and pushed.payload["level"] == 1
    assert pushed.claims["sub"] == "mailto:noc@example.org" and c.push.rejected == []

    vera = c.dashboard.login("vera", "viewer-pass-1")
    [listed] = vera.get(f"{c.dashboard.url}/api/v1/alerts", timeout=10).json()["alerts"]
    assert listed["kind"] == "camera_offline" and listed["deliveries"][0]["channel"] == "push:otto"
    assert vera.post(f"{c.dashboard.url}/api/v1/alerts/{listed['id']}/ack", timeout=10).status_code == 403   # operator
    no_csrf = requests.post(f"{c.dashboard.url}/api/v1/alerts/{listed['id']}/ack", cookies=otto.cookies,
                            verify=c.dashboard.ca, timeout=10)
    assert no_csrf.status_code == 403
    acked = otto.post(f"{c.dashboard.url}/api/v1/alerts/{listed['id']}/ack", timeout=10).json()
    assert acked["acknowledged"] and acked["alert"]["acked_by"] == "otto"

    late = requests.post(f"{c.dashboard.url}/api/v1/alerts/ack", json={"token": pushed.payload["ack"]["token"]},
                         verify=c.dashboard.ca, timeout=10)   # the notification's action after the dashboard's
    assert late.status_code == 200 and late.json()["acknowledged"] is False
    assert c.evaluate(config, t0 + 2 * STEP).escalated == 0 and c.receiver.requests() == []
    assert [(a["action"], a["actor"], a["via"]) for a in c.audit(listed["id"])][1] == ("acknowledged", "otto", "dashboard")

    _camera(c, "dev-b", "gate", "online", t0 + STEP)
    assert c.evaluate(config, t0 + 3 * STEP).resolved == 1
    assert [r.payload["change"] for r in c.push.to(browser)] == ["raised", "resolved"]


def test_acknowledge_tokens_are_signed_expiring_and_bound_to_their_alert(central: Central):
    c = central
    t0 = dt.datetime.now(dt.timezone.utc).replace(microsecond=0)
    _enrol(c, "dev-c", t0 - dt.timedelta(minutes=5))
    config = c.config(default=[{"notify": ["webhook:noc"]}])
    c.evaluate(config, t0)
    c.evaluate(config, t0 + dt.timedelta(seconds=2))
    token = c.receiver.delivered()[0]["ack"]["token"]
    key = c.run(lambda conn: stored_key(conn, "ack"))
    alert_id = c.alert("device_offline", "dev-c").id
    assert check_ack_token(key, token)[:2] == (alert_id, "webhook")
    forged = re.sub(r"^\d+", str(alert_id + 1), token)
    expired = check_ack_token(key, token, now=t0.timestamp() + config.ack_ttl_minutes * 60 + 10)
    assert check_ack_token(key, forged)[2] == "the token's signature does not match"
    assert expired[2] == "the token has expired"
    url = f"{c.dashboard.url}/api/v1/alerts/ack"
    for bad, why in ((forged, "signature"), ("1.2.x", "not an acknowledge token"), (None, "not an acknowledge token")):
        reply = requests.post(url, json={"token": bad}, verify=c.dashboard.ca, timeout=10)
        assert reply.status_code == 403 and why in reply.json()["error"]
    assert c.alert("device_offline", "dev-c").acked_at is None


def test_one_evaluator_at_a_time(dsn: str, tmp_path: Path):
    config_file = tmp_path / "alerts.yaml"
    config_file.write_text("alerts:\n  public_url: https://central.example/dashboard\n"
                           "  conditions: {device_offline_minutes: 5}\n  levels: {default: [{notify: []}]}\n")

    async def work(conn):
        assert await try_lock(conn)
        other = subprocess.run([sys.executable, "-m", "vigia.app.cli.main", "central", "alerts-watch", "--once",
                                "--database", dsn, "--config", str(config_file)], capture_output=True, text=True, timeout=60)
        assert other.returncode != 0 and "another evaluator holds the lock" in other.stderr
        async with await psycopg.AsyncConnection.connect(dsn, autocommit=True) as second:
            assert not await try_lock(second)
            await conn.close()   # the holder gone (stopped, died, lost the database): the next one takes over
            for _ in range(100):   # once the server has ended the holder's session
                if await try_lock(second):
                    break
                await asyncio.sleep(0.05)
            else:
                pytest.fail("the lock was not released with its session")

    async def run():
        await work(await psycopg.AsyncConnection.connect(dsn, autocommit=True))
    asyncio.run(run())


def test_backlog_disk_and_false_alarm_conditions(dsn: str):
    c = Central(dsn, None, None, None, None)
    t0 = dt.datetime.now(dt.timezone.utc)
    _enrol(c, "dev-d", t0)
    c.sql("INSERT INTO device_records (device_id, kind, key, seq, body) VALUES ('dev-d', 'metrics', '2026-12-03T10', 1, %s)",
          [Jsonb({"backlog": 25000, "disk_free_bytes": 5 * 2**30, "disk_total_bytes": 100 * 2**30})])
    for i, verdict in enumerate(["not_confirmed"] * 3 + ["confirmed"] * 2):
        [(job,)] = c.sql("INSERT INTO reanalysis_jobs (device_id, event_id, camera, reason, priority, state) "
                         "VALUES ('dev-d', %s, 'gate', 'sample', 'normal', 'done') RETURNING job_id", [f"E{i}"])
        c.sql("INSERT INTO reanalysis_results (job_id, device_id, camera, frames, duration_s, model, detector_share, cpu_s, "
              "worker) VALUES (%s, 'dev-d', 'gate', 10, 1, 'm', 0.5, 1, 'w')", [job])
        c.sql("INSERT INTO reanalysis_verdicts (job_id, device_id, event_id, camera, rule, edge_label, verdict, agreement, "
              "started_at) VALUES (%s, 'dev-d', %s, 'gate', 'r', 'person', %s, 0.5, %s)", [job, f"E{i}", verdict, t0])
    limits = parse_config({"alerts": {"public_url": "https://c.example/dashboard", "conditions": {
        "backlog_records": 10000, "disk_free_ratio": 0.1, "false_alarm_rate": 0.5, "false_alarm_min_verdicts": 5},
        "levels": {"default": [{"notify": []}]}}}, Path(".")).conditions
    found = {f.kind: f for f in c.run(lambda conn: findings(conn, limits, t0))}
    assert set(found) == {"backlog", "disk_low", "false_alarms"}
    assert found["backlog"].detail["backlog"] == 25000 and found["disk_low"].detail["free_ratio"] == 0.05
    assert found["false_alarms"].subject == "dev-d/gate" and found["false_alarms"].detail["rate"] == 0.6
    stricter = dataclasses.replace(limits, false_alarm_min_verdicts=6)   # too few verdicts to judge
    assert "false_alarms" not in {f.kind for f in c.run(lambda conn: findings(conn, stricter, t0))}


@pytest.mark.parametrize(("change", "field"), [
    ({"public_url": "ftp://x"}, "alerts.public_url"),
    ({"levels": {"default": [{"notify": ["webhook:nobody"]}]}}, "alerts.levels.default[0].notify"),
    ({"levels": {"default": [{"notify": []}, {"notify": []}]}}, "alerts.levels.default[1].after_minutes"),
    ({"levels": {"default": [{"after_minutes": 5, "notify": []}]}}, "alerts.levels.default[0].after_minutes"),
    ({"levels": {}}, "alerts.levels.device_offline"),
    ({"conditions": {"disk_free_ratio": 3}}, "alerts.conditions.disk_free_ratio"),
    ({"conditions": {"device_offline_minute": 3}}, "alerts.conditions.device_offline_minute"),
    ({"webhooks": {"noc": {"url": "https://x.example", "secret": "short"}}}, "alerts.webhooks.noc.secret"),
    ({"smtp": {"host": "mail.example.org", "security": "none", "sender": "a@b"}}, "alerts.smtp.security"),
])
def test_bad_settings_name_their_field(change: dict, field: str):
    alerts = {"public_url": "https://c.example/dashboard", "conditions": {"device_offline_minutes": 5},
              "levels": {"default": [{"notify": []}]}} | change
    with pytest.raises(ConfigError, match=re.escape(field)):
        parse_config({"alerts": alerts}, Path("."))



def test_a_logout_or_a_password_change_ends_the_users_push_subscriptions(central: Central):
    c = central
    url = f"{c.dashboard.url}/api/v1/alerts/push/subscriptions"

    def owners() -> list[str]:
        return [s.username for s in c.run(lambda conn: subscriptions(conn, None))]

    otto, vera = c.dashboard.login("otto", "operator-pass-1"), c.dashboard.login("vera", "viewer-pass-1")
    for user in (otto, vera):
        assert user.post(url, json=c.push.new_subscription().json(), timeout=10).status_code == 201
    assert sorted(owners()) == ["otto", "vera"]
    assert otto.post(f"{c.dashboard.url}/api/v1/logout", timeout=10).status_code == 200
    assert owners() == ["vera"]   # otto's browser hears no more alerts; vera's, logged in, still does

    otto = c.dashboard.login("otto", "operator-pass-1")
    assert otto.post(url, json=c.push.new_subscription().json(), timeout=10).status_code == 201
    vigia = [sys.executable, "-m", "vigia.app.cli.main", "central", "user-password", "otto", "--database", c.dsn]
    changed = subprocess.run(vigia, input="operator-pass-2\n", capture_output=True, text=True, timeout=60)
    assert changed.returncode == 0, changed.stderr
    assert "1 sessions ended, 1 push subscriptions removed" in changed.stdout and "operator-pass-2" not in changed.stdout
    assert owners() == ["vera"]
    assert otto.get(f"{c.dashboard.url}/api/v1/me", timeout=10).status_code == 401   # that session ended too
    c.dashboard.login("otto", "operator-pass-2")

    refused = subprocess.run([*vigia[:-3], "nobody", "--database", c.dsn], input="operator-pass-3\n",
                             capture_output=True, text=True, timeout=60)
    assert refused.returncode == 2 and "no user 'nobody'" in refused.stderr
