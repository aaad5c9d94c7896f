"""The fleet dashboard in a real browser: Debian's headless Chromium driven by Playwright, against the
dashboard over HTTPS on a real PostgreSQL, with two devices' events put there by the real ingest and a
thumbnail in an S3 protocol server.

The front end must be built (`make dashboard`, which `make test` runs first). Screenshots of each step
are left in test-artifacts/dashboard-*.png.
"""
from __future__ import annotations

import dataclasses
import datetime as dt
import time
from pathlib import Path

import psycopg
import pytest
from playwright.sync_api import Browser, Page, expect
from psycopg.types.json import Jsonb
from support.browser import chromium

from tests.test_central_dashboard import (
    USERS,
    FleetCentral,
    events_at,
    fleet_central,
    jpeg,
)
from tests.test_dashboard_models import gate_metrics, register
from vigia.app.modelfleet import edited_model
from vigia.central.alerts import store
from vigia.central.alerts.conditions import Finding
from vigia.central.dashboard.frontend import dist_dir

pytestmark = pytest.mark.slow



@pytest.fixture(scope="module")
def central(tmp_path_factory) -> FleetCentral:
    assert (dist_dir() / "index.html").is_file(), f"dashboard not built in {dist_dir()}: run `make dashboard`"
    with fleet_central(tmp_path_factory.mktemp("dashboard-browser")) as central:
        now = time.time()
        central.enrol("gate-01")
        central.enrol("dock-02")
        gate = events_at(now - 600, 5)
        gate[-1] = dataclasses.replace(gate[-1], snapshot="snapshots/gate.jpg.enc")
        central.send("gate-01", gate, {"gate": "online"})
        central.thumbnail("gate-01", gate[-1], jpeg((40, 200, 40)))
        central.send("dock-02", events_at(now - 300, 4, camera="dock"), {"dock": "reconnecting"})
        yield central


@pytest.fixture(scope="module")
def browser() -> Browser:
    with chromium() as browser:
        yield browser


def _page(browser: Browser, locale: str = "en-GB") -> tuple[Page, list[str]]:
    """A page and the console errors it logs (a CSP violation is one), but for the 401s of logged-out API calls."""
    page = browser.new_context(ignore_https_errors=True, locale=locale, viewport={"width": 1400, "height": 1000}).new_page()
    errors: list[str] = []
    page.on("console", lambda message: errors.append(message.text)
            if message.type == "error" and "status of 401" not in message.text else None)
    return page, errors


def _login(page: Page, central: FleetCentral, user: str) -> None:
    page.goto(central.url + "/")
    page.get_by_test_id("login-username").fill(user)
    page.get_by_test_id("login-password").fill(USERS[user][0])
    page.get_by_test_id("login-submit").click()
    expect(page.get_by_test_id("logout")).to_be_visible(timeout=15_000)


def test_fleet_overview_live_event_filter_and_logout(central, browser: Browser, artifacts_dir: Path):
    """Log in, see both devices and their events, get a new event live, filter by device, log out."""
    page, errors = _page(browser)
    _login(page, central, "vera")
    devices = page.get_by_test_id("device-row")
    expect(devices).to_have_count(2)
    expect(page.locator('[data-testid="device-row"][data-device-id="gate-01"]')).to_have_attribute("data-status", "online")
    expect(page.locator('[data-testid="device-row"][data-device-id="dock-02"]')).to_contain_text("dock: reconnecting")
    rows = page.get_by_test_id("event-row")
    expect(rows).to_have_count(9)
    expect(page.locator('[data-testid="event-row"][data-device-id="gate-01"]')).to_have_count(5)
    expect(page.locator('[data-testid="event-row"][data-device-id="dock-02"]')).to_have_count(4)
    expect(page.get_by_test_id("count-row")).to_have_count(2)
    thumbnail = page.get_by_test_id("event-thumbnail")
    expect(thumbnail).to_have_count(1)
    expect(thumbnail).to_have_js_property("naturalWidth", 160)  # the JPEG from the bucket, decoded
    expect(page.get_by_test_id("live-status")).to_have_attribute("data-state", "open", timeout=10_000)
    page.screenshot(path=str(artifacts_dir / "dashboard-1-fleet.png"), full_page=True)

    fresh = events_at(time.time(), 1, camera="dock")[0]
    sent = time.monotonic()
    central.send("dock-02", [fresh], {"dock": "online"})
    new_row = page.locator(f'[data-testid="event-row"][data-event-id="{fresh.id}"]')
    expect(new_row).to_be_visible(timeout=5_000)
    assert time.monotonic() - sent < 5
    expect(rows.first).to_have_attribute("data-event-id", fresh.id)  # newest first
    expect(page.locator('[data-testid="device-row"][data-device-id="dock-02"]')).to_contain_text("dock: online")
    expect(page.locator('[data-testid="count-row"][data-device-id="dock-02"]')).to_have_attribute("data-events", "5")
    page.screenshot(path=str(artifacts_dir / "dashboard-2-live-event.png"), full_page=True)

    page.get_by_test_id("filter-device").select_option("gate-01")
    expect(page.locator('[data-testid="event-row"][data-device-id="dock-02"]')).to_have_count(0)
    expect(rows).to_have_count(5)
    page.screenshot(path=str(artifacts_dir / "dashboard-3-filtered.png"), full_page=True)

    page.get_by_test_id("logout").click()
    expect(page.get_by_test_id("login-submit")).to_be_visible()
    page.reload()
    expect(page.get_by_test_id("login-submit")).to_be_visible()  # the session is gone, not just hidden
    page.screenshot(path=str(artifacts_dir / "dashboard-4-logged-out.png"))
    assert errors == [], errors


def test_wrong_password_and_portuguese(central, browser: Browser, artifacts_dir: Path):
    page, errors = _page(browser, locale="pt-BR")
    page.goto(central.url + "/")
    expect(page.get_by_test_id("login-submit")).to_have_text("Entrar")
    page.get_by_test_id("login-username").fill("vera")
    page.get_by_test_id("login-password").fill("not-the-password")
    page.get_by_test_id("login-submit").click()
    expect(page.get_by_test_id("login-error")).to_have_text("wrong username or password")
    page.get_by_test_id("login-password").fill(USERS["vera"][0])
    page.get_by_test_id("login-submit").click()
    expect(page.get_by_role("heading", name="Dispositivos")).to_be_visible(timeout=15_000)
    page.screenshot(path=str(artifacts_dir / "dashboard-5-pt-BR.png"), full_page=True)
    assert errors == [], errors


def test_alerts_page_lists_open_alerts_and_an_operator_acknowledges_one(central, browser: Browser, artifacts_dir: Path):
    """Central alerts (vigia.central.alerts) as the evaluator leaves them: open on the Alerts page; a viewer cannot
    acknowledge, an operator can, and the row says who."""
    async def raise_alert():
        async with await psycopg.AsyncConnection.connect(central.dsn, autocommit=True) as conn:
            await store.sync(conn, [Finding("device_offline", "dock-02", "dock-02", None, "device dock-02: no batch for 12 min",
                                            {"last_batch_age_s": 720.0})], dt.datetime.now(dt.timezone.utc))
    central.call(raise_alert())   # on the dashboard's loop: Playwright runs one in this thread

    page, errors = _page(browser)
    _login(page, central, "vera")
    page.get_by_test_id("nav-alerts").click()
    row = page.get_by_test_id("alert-row").filter(has_text="dock-02")
    expect(row).to_have_attribute("data-state", "open")
    expect(row).to_contain_text("Device offline")
    expect(row.get_by_test_id("alert-ack")).to_have_count(0)   # a viewer's page has no Acknowledge
    page.get_by_test_id("logout").click()

    _login(page, central, "otto")
    page.goto(central.url + "/#/alerts")
    row = page.get_by_test_id("alert-row").filter(has_text="dock-02")
    row.get_by_test_id("alert-ack").click()
    expect(row).to_have_attribute("data-state", "acknowledged")
    expect(row).to_contain_text("Acknowledged by otto")
    page.screenshot(path=str(artifacts_dir / "dashboard-6-alerts.png"), full_page=True)
    assert errors == []


def test_models_and_rollout_pages(central, browser: Browser, default_model: Path, tmp_path: Path, artifacts_dir: Path):
    """An admin sees the registry (state, sha256, size, dataset, gate), approves a gate-rejected candidate only by
    ticking the override, approves a good one and starts a rollout from its page; the rollout's page shows each
    device's stage and state, the canary's health against its baseline, and pauses and resumes it; a viewer sees
    no admin buttons."""
    good = register(central, edited_model(default_model, tmp_path / "better.onnx", class_scale=1.0),
                    gate_metrics(True, 0.41, 0.47))
    rejected = register(central, edited_model(default_model, tmp_path / "worse.onnx", class_scale=0.5),
                        gate_metrics(False, 0.41, 0.12))
    page, errors = _page(browser)
    _login(page, central, "ada")
    page.get_by_test_id("nav-models").click()
    row = page.locator(f'[data-testid="model-row"][data-model-id="{rejected}"]')
    expect(row).to_have_attribute("data-gate", "rejected")
    expect(row).to_contain_text("Candidate")
    expect(row).to_contain_text("hard@3")
    expect(row).to_contain_text("mAP@0.5 0.410 → 0.120")
    expect(row).to_contain_text(" MiB")
    page.screenshot(path=str(artifacts_dir / "dashboard-7-models.png"), full_page=True)

    row.click()
    expect(page.get_by_test_id("gate-verdict")).to_have_attribute("data-passed", "false")
    expect(page.locator('[data-testid="gate-row"][data-split="heldout"][data-measure="map50"]')).to_contain_text("0.120")
    expect(page.locator('[data-testid="gate-row"][data-measure="recall:person"]')).to_have_count(2)
    expect(page.get_by_test_id("model-approve")).to_be_disabled()
    page.get_by_test_id("approve-override").check()
    page.get_by_test_id("model-approve").click()
    expect(page.get_by_test_id("model-page")).to_have_attribute("data-state", "approved")
    approved = page.locator('[data-testid="audit-row"][data-action="approved"]')
    expect(approved).to_contain_text("dashboard:ada")
    expect(approved).to_contain_text('"override":true')

    page.goto(central.url + f"/#/models/{good}")
    page.get_by_test_id("model-approve").click()
    expect(page.get_by_test_id("model-page")).to_have_attribute("data-state", "approved")
    page.get_by_test_id("rollout-target-value").fill("gate-01, dock-02")
    page.get_by_test_id("rollout-canaries").fill("gate-01")
    page.get_by_test_id("rollout-wave-size").fill("1")
    page.screenshot(path=str(artifacts_dir / "dashboard-9-model.png"), full_page=True)
    page.get_by_test_id("rollout-submit").click()
    expect(page.get_by_test_id("rollout-page")).to_have_attribute("data-state", "running")
    canary = page.locator('[data-testid="rollout-device"][data-device-id="gate-01"]')
    expect(canary).to_have_attribute("data-stage", "0")
    expect(canary).to_contain_text("Pending")
    rollout_id = int(page.url.rsplit("/", 1)[1])

    # what the rollout driver leaves once the canary installed the model and sent roll-ups under it
    with psycopg.connect(central.dsn) as conn:
        conn.execute("UPDATE rollout_devices SET state = 'watching', baseline = %s, health = %s WHERE rollout_id = %s "
                     "AND device_id = 'gate-01'",
                     [Jsonb({"seq": 3, "health": {"per_hour": {"person": 120.0}, "inference_ms": 21.5, "errors": 0,
                                                  "seconds": 60.0, "rollups": 2}}),
                      Jsonb({"per_hour": {"person": 80.0}, "inference_ms": 22.0, "errors": 0, "seconds": 30.0,
                             "rollups": 2}), rollout_id])
    expect(canary).to_contain_text("Installed (watched)", timeout=10_000)
    expect(canary.locator('[data-testid="health-label"][data-label="person"]')).to_have_text("person: 80/h (120/h)")
    page.get_by_test_id("rollout-pause").click()
    expect(page.get_by_test_id("rollout-page")).to_have_attribute("data-state", "paused")
    expect(page.get_by_test_id("rollout-reason")).to_have_text("paused by dashboard:ada")
    page.screenshot(path=str(artifacts_dir / "dashboard-8-rollout.png"), full_page=True)
    page.get_by_test_id("rollout-resume").click()
    expect(page.get_by_test_id("rollout-page")).to_have_attribute("data-state", "running")
    expect(page.locator('[data-testid="audit-row"][data-action="rollout_resumed"]')).to_have_count(1)
    page.get_by_test_id("logout").click()

    _login(page, central, "vera")
    page.goto(central.url + f"/#/rollouts/{rollout_id}")
    expect(page.get_by_test_id("rollout-device")).to_have_count(2)
    expect(page.get_by_test_id("rollout-pause")).to_have_count(0)
    page.goto(central.url + f"/#/models/{good}")
    expect(page.get_by_test_id("model-page")).to_have_attribute("data-state", "rolling_out")
    expect(page.get_by_test_id("model-actions")).to_have_count(0)
    assert errors == [], errors
