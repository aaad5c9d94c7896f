"""Web Push in the guards' PWA, in Debian's headless Chromium (Playwright): the service worker shows a pushed alert
with its snapshot and Acknowledge action, and acknowledging from the notification acknowledges the event, with no
session in the request.

Headless Chromium cannot subscribe to a real push service here (no network), so the browser's subscription is
registered through the API with keys of the test push service (tests/support/push_service.py): the appliance
encrypts and signs the alert for it as for a phone, the test service checks and decrypts it, and the test hands the
payload to the page's service worker as a real push event (CDP `ServiceWorker.deliverPushMessage`). CDP cannot click
a notification: the test calls the click handler's function in the service worker with the Acknowledge action.

Chromium registers no service worker from a server whose certificate it does not trust, whatever Playwright's
ignore_https_errors says: this browser is started with --ignore-certificate-errors (the appliance's is self-signed).

The front end must be built (`make ui`).
"""
from __future__ import annotations

import json
import time
from pathlib import Path

import pytest
from playwright.sync_api import expect
from support.appliance import running_appliance
from support.browser import chromium
from support.push_service import PushService
from support.servers import free_port
from support.waiting import wait_for

from vigia.appliance.config import parse_config
from vigia.appliance.storage import database
from vigia.local_ui import accounts
from vigia.local_ui.frontend import dist_dir
from vigia.scene.events import Event, EventChange, new_event_id

pytestmark = pytest.mark.slow

USERS = {"gina": ("guard-pass-1", "guard")}

CONFIG = """\
cameras:
  - name: gate
    url: {data_dir}/no-such-clip.mp4
    enabled: false
    zones:
      - {{name: yard, polygon: [[0, 0], [1, 0], [1, 1], [0, 1]]}}
    rules:
      - {{name: intrusion, type: enter, zone: yard, alert: true, notify: [push]}}
storage: {{data_dir: {data_dir}, encrypt: false}}
http: {{port: {port}}}
push: {{subject: 'mailto:ops@site.example', retry_initial_s: 0.2, retry_max_s: 1}}
"""

# In the page: the session's CSRF token, then a write with it.
API_CALL = """async ([method, path, body]) => {
  const me = await (await fetch('/api/v1/me')).json();
  const reply = await fetch(path, {method, headers: {'Content-Type': 'application/json', 'X-CSRF-Token': me.csrf_token},
                                   body: body === null ? undefined : JSON.stringify(body)});
  return {status: reply.status, body: await reply.json()};
}"""
NOTIFICATIONS = """async () => (await navigator.serviceWorker.ready).getNotifications().then((shown) => shown.map((n) => (
  {title: n.title, body: n.body, tag: n.tag, image: n.image, actions: n.actions.map((a) => a.action)})))"""


def test_a_pushed_alert_is_shown_by_the_service_worker_and_acknowledged_from_it(tmp_path: Path, artifacts_dir: Path):
    assert (dist_dir() / "index.html").is_file(), f"front end not built in {dist_dir()}: run `make ui`"
    config = parse_config(CONFIG.format(data_dir=tmp_path, port=free_port()), source="browser push test config")
    with PushService(free_port()) as service, running_appliance(config, USERS) as appliance, \
            chromium(("--ignore-certificate-errors",)) as browser:  # a service worker needs a certificate it trusts
        base = appliance.base
        context = browser.new_context(ignore_https_errors=True, locale="en-GB")
        context.grant_permissions(["notifications"], origin=base)
        page = context.new_page()
        page.goto(base + "/")
        page.get_by_test_id("login-username").fill("gina")
        page.get_by_test_id("login-password").fill(USERS["gina"][0])
        page.get_by_test_id("login-submit").click()
        expect(page.get_by_test_id("logout")).to_be_visible(timeout=15_000)
        assert page.evaluate("navigator.serviceWorker.ready.then((r) => r.active.scriptURL)") == base + "/sw.js"
        # The toggle shows where the browser and the appliance can push (off: this browser has no subscription).
        expect(page.get_by_test_id("push-toggle")).to_be_visible()
        expect(page.get_by_test_id("push-toggle")).not_to_be_checked()
        page.screenshot(path=str(artifacts_dir / "push-1-toggle.png"))

        phone = service.new_subscription()
        added = page.evaluate(API_CALL, ["POST", "/api/v1/push/subscriptions", phone.json()])
        assert added["status"] == 201, added

        now = time.time()
        alert = Event(id=new_event_id(now), camera="gate", rule="intrusion", kind="enter", zone="yard", label="person",
                      track_id=3, start=1.0, started_at=now, max_score=0.9, box=(0.1, 0.2, 0.3, 0.4), alert=True,
                      snapshot="snapshots/none.jpg")
        for sink in appliance.appliance.sinks:
            sink.on_change(EventChange("open", alert))
        assert wait_for(lambda: len(service.to(phone)) == 1, 20), service.rejected
        payload = service.to(phone)[0].payload

        cdp = context.new_cdp_session(page)
        registrations: list[dict] = []
        cdp.on("ServiceWorker.workerRegistrationUpdated", lambda event: registrations.extend(event["registrations"]))
        cdp.send("ServiceWorker.enable")
        for _ in range(100):  # Playwright hands over CDP events while it is called: waiting in it, not in time.sleep
            if any(r["scopeURL"] == base + "/" for r in registrations):
                break
            page.wait_for_timeout(100)
        registration = next(r for r in registrations if r["scopeURL"] == base + "/")
        cdp.send("ServiceWorker.deliverPushMessage", {"origin": base, "registrationId": registration["registrationId"],
                                                      "data": json.dumps(payload)})
        shown = []
        assert wait_for(lambda: shown.extend(page.evaluate(NOTIFICATIONS)) or shown, 10), "no notification shown"
        assert shown == [{"title": "ALERT: intrusion", "body": "person in yard (gate)", "tag": alert.id,
                          "image": base + payload["image"], "actions": ["ack"]}]

        worker = next(w for w in context.service_workers if w.url == base + "/sw.js")
        worker.evaluate("self.registration.getNotifications().then(([shown]) => onNotificationClick(shown, 'ack'))")
        acknowledged = page.evaluate(API_CALL, ["GET", f"/api/v1/events/{alert.id}", None])
        assert acknowledged["status"] == 200 and acknowledged["body"]["acknowledged_by"] == "gina", acknowledged
        assert page.evaluate(NOTIFICATIONS) == []  # the notification closed
        page.screenshot(path=str(artifacts_dir / "push-2-acknowledged.png"))
        context.close()
    with database(config.storage.database) as db:  # through the notification's token, as its user
        acks = [e for e in accounts.audit_entries(db) if e["action"] == "event_ack"]
    assert [(e["username"], e["target"], e["details"]["via"]) for e in acks] == [("gina", alert.id, "push")]
