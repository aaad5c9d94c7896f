"""Rules' notifications by Web Push, to a push service in the tests (tests/support/push_service.py) that checks each
request's VAPID signature and decrypts its payload with the subscription's own keys, as a phone would.

Outages are real (the service stopped, then started on the same port); nothing here asserts how long anything took:
the tests wait for conditions.
"""
from __future__ import annotations

import ssl
import stat
import time
from pathlib import Path

import pytest
import requests
from requests.adapters import HTTPAdapter
from support.appliance import running_appliance
from support.notify import attempts, open_and_close, running, waiting
from support.push_service import PushService
from support.servers import free_port
from support.waiting import wait_for

from vigia.appliance.config import Config, ConfigError, parse_config
from vigia.appliance.notify import push_subscriptions
from vigia.appliance.notify.links import ack_token, check_ack_token, check_link, load_link_key
from vigia.appliance.notify.vapid import load_vapid, vapid_key_file
from vigia.appliance.storage import database
from vigia.kit.vapid import application_server_key
from vigia.local_ui import accounts
from vigia.scene.events import Event, new_event_id

SUBJECT = "mailto:ops@site.example"
USERS = {"gina": ("guard-pass-1", "guard"), "ian": ("installer-pass-1", "installer")}


def config_text(data_dir: Path, push: str = f"subject: '{SUBJECT}'", port: int = 8080) -> str:
    return f"""\
cameras:
  - name: gate
    url: {data_dir}/no-such-clip.mp4
    enabled: false
    zones:
      - {{name: yard, polygon: [[0, 0], [1, 0], [1, 1], [0, 1]]}}
    rules:
      - {{name: intrusion, type: enter, zone: yard, alert: true, notify: [push]}}
      - {{name: passing, type: enter, zone: yard, notify: [push]}}
storage: {{data_dir: {data_dir}, encrypt: false}}
http: {{port: {port}}}
push: {{{push}, retry_initial_s: 0.2, retry_max_s: 0.5, ttl_s: 600}}
"""


def add_users(config: Config) -> None:
    with database(config.storage.database) as db:
        for name, (password, role) in USERS.items():
            accounts.add_user(db, name, password, role, actor=None, remote="test", via="test")


def subscribe(config: Config, username: str, subscription) -> push_subscriptions.Subscription:
    keys = subscription.json()["keys"]
    with database(config.storage.database) as db:
        return push_subscriptions.subscribe(db.conn, username, subscription.endpoint, keys["p256dh"], keys["auth"])


def subscription_ids(config: Config) -> list[int]:
    with database(config.storage.database) as db:
        return [row[0] for row in db.execute("SELECT id FROM push_subscriptions ORDER BY id").fetchall()]


def event(rule: str = "intrusion", snapshot: str | None = "snapshots/x.jpg") -> Event:
    now = time.time()
    return Event(id=new_event_id(now), camera="gate", rule=rule, kind="enter", zone="yard", label="person",
                 track_id=7, start=1.0, started_at=now, max_score=0.87, box=(0.1, 0.2, 0.3, 0.4),
                 alert=rule == "intrusion", snapshot=snapshot)


def all_delivered(config: Config, count: int) -> bool:
    """`count` notifications delivered and none waiting (the writer stores them in a thread of its own)."""
    return sum(a.outcome == "delivered" for a in attempts(config, "push")) == count and waiting(config) == 0


def test_push_config_errors_name_the_field_and_its_line(tmp_path: Path):
    with pytest.raises(ConfigError, match="subject must be mailto:"):
        parse_config(config_text(tmp_path, push="subject: ops@site.example"))
    without = config_text(tmp_path).split("push:")[0]
    with pytest.raises(ConfigError, match=r"line 8: cameras\[0\]\.rules\[0\]\.notify\[0\]: 'push' needs a `push:` section"):
        parse_config(without)
    with pytest.raises(ConfigError, match="each is `mqtt`, `email`, `push` or `webhook:NAME`"):
        parse_config(config_text(tmp_path).replace("notify: [push]}", "notify: [pushover]}", 1))


def test_an_alert_reaches_every_subscription_signed_and_encrypted_for_it(tmp_path: Path):
    config = parse_config(config_text(tmp_path))
    add_users(config)
    with PushService(free_port()) as service:
        phones = {"gina": [service.new_subscription(), service.new_subscription()], "ian": [service.new_subscription()]}
        stored = {s.endpoint: subscribe(config, user, s) for user, subs in phones.items() for s in subs}
        with running(config) as n:
            service.server_key = application_server_key(load_vapid(tmp_path))
            alert, quiet = event(), event("passing", snapshot=None)
            open_and_close(n.sinks, alert)
            open_and_close(n.sinks, quiet)
            assert wait_for(lambda: len(service.received) == 6 and all_delivered(config, 2), 20), attempts(config, "push")
    assert service.rejected == []
    key_file = vapid_key_file(tmp_path)
    assert stat.S_IMODE(key_file.stat().st_mode) == 0o600 and stat.S_IMODE(key_file.parent.stat().st_mode) == 0o700
    link_key = load_link_key(tmp_path)
    for subscription in [s for subs in phones.values() for s in subs]:
        got = service.to(subscription)
        assert [r.payload["event"] for r in got] == [alert.id, quiet.id]  # openings only, each once, in order
        first, second = got
        assert first.payload["title"] == "ALERT: intrusion" and first.payload["body"] == "person in yard (gate)"
        assert first.payload["alert"] is True and second.payload["alert"] is False
        assert first.payload["camera"] == "gate" and first.payload["url"] == f"/#/events/{alert.id}"
        assert first.headers["urgency"] == "high" and second.headers["urgency"] == "normal"
        assert first.headers["ttl"] == "600" and first.headers["topic"] == alert.id
        assert first.claims["sub"] == SUBJECT and first.claims["aud"] == service.origin
        image = first.payload["image"]
        assert image.startswith(f"/api/v1/links/snapshot/{alert.id}?") and second.payload["image"] is None
        query = dict(part.split("=") for part in image.split("?")[1].split("&"))
        assert check_link(link_key, alert.id, query["expires"], query["sig"]) is None
        ack = first.payload["ack"]
        assert ack["url"] == "/api/v1/push/ack"
        assert check_ack_token(link_key, alert.id, ack["token"]) == (stored[subscription.endpoint].id, None)
        assert check_ack_token(link_key, quiet.id, ack["token"])[1] == "the token's signature does not match"
    details = [a.detail for a in attempts(config, "push")]
    assert details == ["reached 3", "reached 3"]


def test_a_push_service_down_then_back_gets_everything_once(tmp_path: Path):
    """One phone's push service down: the other phone gets the first alert at once and never again; once the service
    is back, every alert reaches both, in order, once each."""
    config = parse_config(config_text(tmp_path))
    add_users(config)
    with PushService(free_port()) as up:
        down = PushService(free_port())
        phone_a, phone_b = up.new_subscription(), down.new_subscription()
        subscribe(config, "gina", phone_a)
        b = subscribe(config, "ian", phone_b)
        with running(config) as n:
            first, second = event(), event()
            open_and_close(n.sinks, first)
            open_and_close(n.sinks, second)
            failed = lambda: sum(a.outcome == "failed" for a in attempts(config, "push"))  # noqa: E731
            assert wait_for(lambda: failed() >= 4, 30), attempts(config, "push")
            assert [r.payload["event"] for r in up.to(phone_a)] == [first.id]  # the second waits behind the first
            with down:
                assert wait_for(lambda: all_delivered(config, 2), 30), attempts(config, "push")
                assert [r.payload["event"] for r in down.to(phone_b)] == [first.id, second.id]
                assert [r.payload["event"] for r in up.to(phone_a)] == [first.id, second.id]
                third = event()
                open_and_close(n.sinks, third)
                assert wait_for(lambda: all_delivered(config, 3), 30), attempts(config, "push")
    assert [r.payload["event"] for r in up.to(phone_a)] == [first.id, second.id, third.id]
    assert up.rejected == down.rejected == []
    log = attempts(config, "push")
    failed = [a for a in log if a.outcome == "failed"]
    assert all(a.key == f"{first.id}:open" and f"subscription {b.id}: ConnectionError" in a.detail for a in failed)
    assert [(a.key, a.detail) for a in log if a.outcome == "delivered"] == [
        (f"{first.id}:open", "reached 1"), (f"{second.id}:open", "reached 2"), (f"{third.id}:open", "reached 2")]
    with database(config.storage.database) as db:  # the marks of rows delivered before the last delivery are gone
        marks = db.execute("SELECT n.key FROM push_sent p JOIN notifications n ON n.id = p.notification_id").fetchall()
    assert marks == [(f"{third.id}:open",)] * 2


def test_an_expired_subscription_is_removed(tmp_path: Path):
    config = parse_config(config_text(tmp_path))
    add_users(config)
    with PushService(free_port()) as service:
        gone, unknown, alive = service.new_subscription(), service.new_subscription(), service.new_subscription()
        service.answer(gone, 410)
        service.answer(unknown, 404)
        subscribe(config, "gina", gone)
        subscribe(config, "gina", unknown)
        kept = subscribe(config, "ian", alive)
        with running(config) as n:
            open_and_close(n.sinks, event())
            assert wait_for(lambda: all_delivered(config, 1), 20), attempts(config, "push")
        assert len(service.to(alive)) == 1 and service.to(gone) == service.to(unknown) == []
    assert subscription_ids(config) == [kept.id]
    assert [(a.outcome, a.detail) for a in attempts(config, "push")] == [("delivered", "reached 1, 2 gone (removed)")]


def test_no_subscription_yet_is_delivered_to_nobody(tmp_path: Path):
    config = parse_config(config_text(tmp_path))
    with running(config) as n:
        open_and_close(n.sinks, event())
        assert wait_for(lambda: all_delivered(config, 1), 20), attempts(config, "push")
    assert [(a.outcome, a.detail) for a in attempts(config, "push")] == [("delivered", "reached 0")]


def test_a_subscription_must_be_a_push_services_with_a_browsers_keys(tmp_path: Path):
    config = parse_config(config_text(tmp_path))
    add_users(config)
    with PushService(free_port()) as service:
        good = service.new_subscription().json()
    keys = good["keys"]
    cases = [("http://push.example.com/x", keys["p256dh"], keys["auth"], "https:// URL"),
             ("ftp://127.0.0.1/x", keys["p256dh"], keys["auth"], "https:// URL"),
             (good["endpoint"], keys["p256dh"][:-4], keys["auth"], "keys.p256dh must be 65 bytes"),
             (good["endpoint"], keys["p256dh"], keys["auth"] + "AA", "keys.auth must be 16 bytes"),
             (good["endpoint"], "not base64 !", keys["auth"], "keys.p256dh is not base64url"),
             (good["endpoint"], keys["p256dh"], None, "keys.auth must be a base64url string")]
    with database(config.storage.database) as db:
        for endpoint, p256dh, auth, message in cases:
            with pytest.raises(push_subscriptions.SubscriptionError, match=message):
                push_subscriptions.subscribe(db.conn, "gina", endpoint, p256dh, auth)
        first = push_subscriptions.subscribe(db.conn, "gina", good["endpoint"], keys["p256dh"], keys["auth"])
        again = push_subscriptions.subscribe(db.conn, "ian", good["endpoint"], keys["p256dh"], keys["auth"])
        assert [s.id for s in push_subscriptions.user_subscriptions(db.conn, "gina")] == []  # the phone changed hands
        assert [s.id for s in push_subscriptions.user_subscriptions(db.conn, "ian")] == [again.id] != [first.id]


# -- through the appliance's API --------------------------------------------------------------------------------------


class _Trusting(HTTPAdapter):
    """HTTPS with the given TLS context (the appliance's self-signed certificate, and nothing else, trusted)."""

    def __init__(self, tls: ssl.SSLContext):
        self._tls = tls
        super().__init__()

    def init_poolmanager(self, *args, **kwargs):
        return super().init_poolmanager(*args, **kwargs, ssl_context=self._tls)


class Client:
    """A browser's session with the appliance's API (requests, trusting only the appliance's certificate)."""

    def __init__(self, appliance):
        self.base, self.http = appliance.base, requests.Session()
        self.http.mount(appliance.base, _Trusting(appliance.tls))
        self.csrf = ""

    def login(self, user: str) -> None:
        reply = self.http.post(f"{self.base}/api/v1/login", json={"username": user, "password": USERS[user][0]})
        assert reply.status_code == 200, reply.text
        self.csrf = reply.json()["csrf_token"]

    def call(self, method: str, path: str, body: dict | None = None, csrf: bool = True) -> requests.Response:
        headers = {"X-CSRF-Token": self.csrf} if csrf else {}
        return self.http.request(method, self.base + path, json=body, headers=headers)


def audit(config: Config, action: str) -> list[dict]:
    with database(config.storage.database) as db:
        return [e for e in accounts.audit_entries(db, limit=500) if e["action"] == action]


def test_subscriptions_belong_to_users_and_end_with_logout_and_password_change(tmp_path: Path):
    config = parse_config(config_text(tmp_path, port=free_port()))
    with PushService(free_port()) as service, running_appliance(config, USERS) as appliance:
        gina, ian = (Client(appliance) for _ in range(2))
        gina.login("gina")
        ian.login("ian")
        key = gina.call("GET", "/api/v1/push/key").json()["application_server_key"]
        assert key == application_server_key(load_vapid(tmp_path))
        phone, laptop, ians = service.new_subscription(), service.new_subscription(), service.new_subscription()
        assert gina.call("POST", "/api/v1/push/subscriptions", phone.json(), csrf=False).status_code == 403
        bad = gina.call("POST", "/api/v1/push/subscriptions", {**phone.json(), "keys": {"p256dh": "AAAA", "auth": "x"}})
        assert bad.status_code == 400 and "keys.p256dh" in bad.json()["error"]
        for client, sub in ((gina, phone), (gina, laptop), (ian, ians)):
            reply = client.call("POST", "/api/v1/push/subscriptions", sub.json())
            assert reply.status_code == 201 and reply.json()["endpoint"] == sub.endpoint
        listed = gina.call("GET", "/api/v1/push/subscriptions").json()["subscriptions"]
        assert [s["endpoint"] for s in listed] == [phone.endpoint, laptop.endpoint]
        # Nobody removes another user's subscription.
        assert ian.call("DELETE", "/api/v1/push/subscriptions", {"endpoint": phone.endpoint}).json() == {"removed": False}
        assert gina.call("DELETE", "/api/v1/push/subscriptions", {"endpoint": laptop.endpoint}).json() == {"removed": True}
        assert gina.call("POST", "/api/v1/logout").status_code == 200
        with database(config.storage.database) as db:
            assert push_subscriptions.user_subscriptions(db.conn, "gina") == []
            assert [s.endpoint for s in push_subscriptions.user_subscriptions(db.conn, "ian")] == [ians.endpoint]
            accounts.set_password(db, "ian", "installer-pass-2", actor="ian", remote="test")
            assert push_subscriptions.user_subscriptions(db.conn, "ian") == []
    assert [e["details"]["push_subscriptions_removed"] for e in audit(config, "password_changed")] == [1]
    assert [e["details"] for e in audit(config, "logout")] == [{"push_subscriptions_removed": 1}]
    assert len(audit(config, "push_subscribed")) == 3 and len(audit(config, "push_unsubscribed")) == 1


def test_acknowledge_from_a_notification_without_a_session(tmp_path: Path):
    """The token a notification carries acknowledges its event as the subscription's user, with no cookie; a forged
    one, another event's, or one whose subscription ended with a logout does nothing."""
    config = parse_config(config_text(tmp_path, port=free_port()))
    with PushService(free_port()) as service, running_appliance(config, USERS) as appliance:
        gina = Client(appliance)
        gina.login("gina")
        phone = service.new_subscription()
        assert gina.call("POST", "/api/v1/push/subscriptions", phone.json()).status_code == 201
        first, second = event(), event()
        open_and_close(appliance.appliance.sinks, first)
        open_and_close(appliance.appliance.sinks, second)
        assert wait_for(lambda: len(service.to(phone)) == 2, 20), attempts(config, "push")
        ack = service.to(phone)[0].payload["ack"]
        stranger = Client(appliance)  # no session: the service worker's fetch
        forged = ack["token"][:-1] + ("0" if ack["token"][-1] != "0" else "1")
        assert stranger.call("POST", ack["url"], {"event": first.id, "token": forged}).status_code == 403
        assert stranger.call("POST", ack["url"], {"event": second.id, "token": ack["token"]}).status_code == 403
        assert stranger.call("POST", ack["url"], {"event": first.id}).status_code == 403
        done = stranger.call("POST", ack["url"], {"event": first.id, "token": ack["token"]})
        assert done.status_code == 200, done.text
        assert done.json()["acknowledged_by"] == "gina" and done.json()["id"] == first.id
        assert gina.call("GET", f"/api/v1/events/{first.id}").json()["acknowledged_by"] == "gina"
        assert gina.call("POST", "/api/v1/logout").status_code == 200
        later = service.to(phone)[1].payload["ack"]
        refused = stranger.call("POST", later["url"], {"event": second.id, "token": later["token"]})
        assert refused.status_code == 403 and "subscription has ended" in refused.json()["error"]
    acks = audit(config, "event_ack")
    assert [(e["username"], e["target"], e["details"]) for e in acks] == [("gina", first.id, {"comment": False, "via": "push"})]


def test_an_acknowledge_token_is_for_its_event_and_subscription_until_it_expires(tmp_path: Path):
    key, other_key = load_link_key(tmp_path), load_link_key(tmp_path / "other")
    event_id = new_event_id(time.time())
    token = ack_token(key, event_id, 5, ttl_s=60, now=1000.0)
    assert check_ack_token(key, event_id, token, now=1059.0) == (5, None)
    assert check_ack_token(key, event_id, token, now=1061.0) == (None, "the token has expired")
    assert check_ack_token(other_key, event_id, token, now=1000.0)[1] == "the token's signature does not match"
    as_another = "6" + token[1:]  # the same signature claimed for another subscription
    assert check_ack_token(key, event_id, as_another, now=1000.0)[1] == "the token's signature does not match"
    for bad in (None, "", "5.1060", "x.1060.abc", token + "0"):
        assert check_ack_token(key, event_id, bad, now=1000.0) == (None, "not an acknowledge token")
