"""The guards' web UI in a real browser: Debian's headless Chromium driven by Playwright, against a
running appliance analysing the demo clip (real detection, real recording, real HTTPS).

The front end must be built (`make ui`, which `make test` runs first). Screenshots of each step are
left in test-artifacts/.
"""
from __future__ import annotations

import datetime as dt
import json
import time
from pathlib import Path

import pytest
from playwright.sync_api import Browser, Page, expect
from support.appliance import running_appliance
from support.browser import chromium
from support.servers import free_port

from vigia.appliance.config import parse_config
from vigia.appliance.demo import demo_config_text
from vigia.local_ui.frontend import dist_dir

pytestmark = pytest.mark.slow

USERS = {"gina": ("guard-pass-1", "guard"), "ian": ("installer-pass-1", "installer"), "ada": ("admin-pass-1", "admin")}

# Every alert banner that appears is stamped with the browser's clock (ms since the epoch).
STAMP_BANNERS = """
window.__bannerSeen = {};
new MutationObserver(() => {
  for (const el of document.querySelectorAll('[data-testid="alert-banner"]')) {
    const id = el.getAttribute('data-event-id');
    if (id && !(id in window.__bannerSeen)) window.__bannerSeen[id] = Date.now();
  }
}).observe(document, {subtree: true, childList: true, attributes: true});
"""


@pytest.fixture(scope="module")
def appliance(tmp_path_factory: pytest.TempPathFactory, demo_clip: Path, default_model: Path):
    assert (dist_dir() / "index.html").is_file(), f"front end not built in {dist_dir()}: run `make ui`"
    data_dir = tmp_path_factory.mktemp("browser")
    text = demo_config_text(demo_clip, data_dir, free_port())
    text = text.replace("    loop: true\n", "    loop: true\n    record: {pre_roll: 2, post_roll: 2, segment_seconds: 2}\n")
    text = text.replace("  model: yolox_nano\n", f"  model: {default_model}\n")
    # Someone entering the centre zone is an alert too: it happens every few seconds in the clip.
    text = text.replace("{name: centre-entry, type: enter, zone: centre}",
                        "{name: centre-entry, type: enter, zone: centre, alert: true}")
    with running_appliance(parse_config(text, source="browser test config"), USERS) as running:
        yield running


@pytest.fixture(scope="module")
def browser() -> Browser:
    with chromium() as browser:
        yield browser


def _page(browser: Browser, locale: str = "en-GB", **options) -> Page:
    context = browser.new_context(ignore_https_errors=True, locale=locale, **options)
    context.add_init_script(STAMP_BANNERS)
    return context.new_page()


def _login(page: Page, base: str, user: str) -> None:
    page.goto(base + "/")
    page.get_by_test_id("login-username").fill(user)
    page.get_by_test_id("login-password").fill(USERS[user][0])
    page.get_by_test_id("login-submit").click()
    expect(page.get_by_test_id("logout")).to_be_visible(timeout=15_000)


def _open_alert_list(page: Page) -> None:
    """Show every unacknowledged alert (the tray shows the newest and a count of the others until opened)."""
    more = page.get_by_test_id("alert-more")
    if more.count() and more.get_attribute("aria-expanded") == "false":
        more.click()


def _unacknowledged_alerts(page: Page) -> int:
    return len(page.evaluate("() => fetch('/api/v1/events?alert=true&acknowledged=false&limit=200')"
                             ".then(r => r.json()).then(p => p.events)"))


@pytest.mark.parametrize("viewport", [{"width": 1440, "height": 900}, {"width": 390, "height": 844}],
                         ids=["desktop", "phone"])
def test_alerts_stack_as_one_bar_events_show_a_picture_and_filters_offer_what_exists(
        appliance, browser: Browser, artifacts_dir: Path, viewport: dict):
    """Unacknowledged alerts: one bar, the newest with the count of the others, which opens the list; every
    visible event row shows its snapshot or a labelled placeholder; the Object and Zone filters list what exists."""
    page = _page(browser, viewport=viewport)
    _login(page, appliance.base, "gina")
    page.goto(appliance.base + "/#/events")
    deadline = time.monotonic() + 90
    while _unacknowledged_alerts(page) < 3:
        assert time.monotonic() < deadline, "fewer than 3 unacknowledged alerts after 90 s of the demo"
        page.wait_for_timeout(1000)
    expect(page.get_by_test_id("alert-more")).to_be_visible(timeout=10_000)
    expect(page.get_by_test_id("alert-banner")).to_have_count(1)
    tray = page.locator("section.alerts").bounding_box()
    assert tray["height"] <= 0.2 * viewport["height"], f"the alert tray takes {tray['height']:.0f} px"
    others = int(page.get_by_test_id("alert-more").inner_text().strip().lstrip("+").split()[0])
    assert others >= 2
    page.screenshot(path=artifacts_dir / f"browser-alert-tray-{viewport['width']}.png")
    page.get_by_test_id("alert-more").click()
    assert (listed := page.get_by_test_id("alert-banner").count()) >= 3
    # the open list grows as alerts arrive; the button that closes it stays where the pointer is
    toggle_at, tray = page.get_by_test_id("alert-more").bounding_box(), page.locator("section.alerts").bounding_box()
    assert toggle_at["y"] + toggle_at["height"] == pytest.approx(tray["y"] + tray["height"], abs=1), \
        "the open list's toggle must sit on the tray's bottom edge (the tray grows upwards)"
    deadline = time.monotonic() + 60
    while page.get_by_test_id("alert-banner").count() <= listed:
        assert time.monotonic() < deadline, "no new alert in 60 s of the demo"
        page.wait_for_timeout(250)
    assert page.get_by_test_id("alert-more").bounding_box() == toggle_at
    page.get_by_test_id("alert-more").click()  # closed again: the newest alone
    expect(page.get_by_test_id("alert-banner")).to_have_count(1)
    expect(page).to_have_url(appliance.base + "/#/events")

    label, zone = page.get_by_test_id("filter-label"), page.get_by_test_id("filter-zone")
    expect(zone.locator("option[value=centre]")).to_have_count(1, timeout=10_000)
    assert {"person", "car"} <= set(label.locator("option").evaluate_all("os => os.map(o => o.value)"))
    assert {"centre", "meeting-point", "hall", "midline"} <= set(zone.locator("option").evaluate_all(
        "os => os.map(o => o.value)"))
    zone.select_option("centre")
    expect(page.get_by_test_id("event-row").first).to_be_visible(timeout=15_000)
    rows = page.get_by_test_id("event-row")
    for index in range(min(3, rows.count())):
        thumb = rows.nth(index).locator(".event-row-thumb")
        # the first load of each snapshot, and the retry of an ongoing event's: given time, never a black box
        deadline = time.monotonic() + 20
        while (shown := thumb.evaluate("""t => {
            const img = t.querySelector('img');
            if (img) return img.complete && img.naturalWidth > 0 ? 'picture' : 'loading';
            const label = t.querySelector('[data-testid=snapshot-placeholder]');
            return label && label.textContent.trim() ? 'placeholder' : 'empty';
        }""")) not in ("picture", "placeholder") and time.monotonic() < deadline:
            page.wait_for_timeout(250)
        assert shown in ("picture", "placeholder"), f"row {index}: {shown}"
    page.screenshot(path=artifacts_dir / f"browser-events-{viewport['width']}.png")
    page.context.close()


def test_a_guards_shift(appliance, browser: Browser, artifacts_dir: Path):
    """Log in, watch a live tile update, get an alert within a second, acknowledge it, play its clip, log out."""
    page = _page(browser)
    shots = artifacts_dir / "browser"
    shots.mkdir(exist_ok=True)
    _login(page, appliance.base, "gina")
    page.screenshot(path=shots / "1-logged-in.png")

    page.goto(appliance.base + "/#/live")
    tile = page.locator('[data-testid="live-tile"][data-camera="concourse"]')
    expect(tile).to_be_visible(timeout=15_000)
    page.wait_for_function("""() => {
        const tile = document.querySelector('[data-testid="live-tile"][data-camera="concourse"]');
        return tile && Number(tile.dataset.frames) >= 5;
    }""", timeout=30_000)
    first = int(tile.get_attribute("data-frames"))
    time.sleep(1.0)
    assert int(tile.get_attribute("data-frames")) >= first + 2  # the detect rate is 5 frames a second
    assert tile.get_attribute("data-state") == "online"
    page.screenshot(path=shots / "2-live.png")

    # Banners of alerts from before this page connected come from the catch-up on connect: the first alert
    # raised since counts.
    connected = time.time()
    deadline = time.monotonic() + 90
    checked: set[str] = set()
    event = None
    while event is None:
        assert time.monotonic() < deadline, "no new alert reached the page in 90 s"
        page.wait_for_timeout(200)
        for event_id in set(page.evaluate("() => Object.keys(window.__bannerSeen)")) - checked:
            checked.add(event_id)
            found = page.evaluate("id => fetch('/api/v1/events/' + id).then(r => r.json())", event_id)
            if found["started_at"] > connected:
                event = found
                break
    event_id = event["id"]
    _open_alert_list(page)  # a newer alert may have come since: the bar shows the newest alone
    banner = page.locator(f'[data-testid="alert-banner"][data-event-id="{event_id}"]')
    expect(banner).to_be_visible()
    page.screenshot(path=shots / "3-alert.png")
    assert event["alert"] is True  # how soon it is shown is `vigia bench ui`'s alert_latency_p95_ms

    banner.get_by_test_id("alert-ack").click()
    page.get_by_test_id("ack-comment").fill("seen on camera, guard sent")
    page.get_by_test_id("ack-submit").click()
    expect(page.locator(f'[data-testid="alert-banner"][data-event-id="{event_id}"]')).to_have_count(0, timeout=5_000)
    acknowledged = page.evaluate("id => fetch('/api/v1/events/' + id).then(r => r.json())", event_id)
    assert acknowledged["acknowledged_by"] == "gina"
    assert [c["text"] for c in acknowledged["comments"] if c["kind"] == "ack"] == ["seen on camera, guard sent"]

    # Its clip: footage of an open event is assembled up to now, once a segment is complete.
    page.goto(f"{appliance.base}/#/events/{event_id}")
    expect(page.get_by_test_id("event-detail")).to_be_visible(timeout=10_000)
    video = page.get_by_test_id("clip-video")
    deadline = time.monotonic() + 40
    while True:
        page.reload()
        expect(page.get_by_test_id("event-detail")).to_be_visible(timeout=10_000)
        try:
            page.wait_for_function("""() => {
                const v = document.querySelector('[data-testid="clip-video"]');
                return v && v.readyState >= 2 && v.duration > 1;
            }""", timeout=5_000)
            break
        except Exception:
            assert time.monotonic() < deadline, "the clip never became playable"
    video.evaluate("v => { v.muted = true; return v.play(); }")
    page.wait_for_function("() => document.querySelector('[data-testid=\"clip-video\"]').currentTime > 0.5",
                           timeout=10_000)
    video.evaluate("v => { v.currentTime = 0.2; }")  # seeking: range requests
    page.wait_for_function("() => { const v = document.querySelector('[data-testid=\"clip-video\"]');"
                           " return !v.seeking && v.currentTime < 1.5; }", timeout=10_000)
    assert page.get_by_test_id("clip-download").get_attribute("href").endswith("download=true")
    page.screenshot(path=shots / "4-event.png")

    page.get_by_test_id("logout").click()
    expect(page.get_by_test_id("login-submit")).to_be_visible(timeout=10_000)
    assert page.evaluate("() => fetch('/api/v1/me').then(r => r.status)") == 401
    page.screenshot(path=shots / "5-logged-out.png")
    page.context.close()


def test_portuguese_phone_and_roles(appliance, browser: Browser, artifacts_dir: Path):
    """pt-BR from the browser's language on a phone-sized screen; a guard has no zone editor, an installer does."""
    page = _page(browser, locale="pt-BR", viewport={"width": 390, "height": 844}, is_mobile=True, has_touch=True)
    page.goto(appliance.base + "/")
    expect(page.get_by_test_id("login-submit")).to_be_visible(timeout=15_000)
    assert page.evaluate("() => document.documentElement.lang") == "pt-BR"
    assert page.get_by_test_id("login-submit").inner_text().strip().lower() in ("entrar", "acessar", "fazer login")
    page.get_by_test_id("login-username").fill("gina")
    page.get_by_test_id("login-password").fill("wrong-password")
    page.get_by_test_id("login-submit").click()
    expect(page.get_by_test_id("login-error")).to_be_visible(timeout=10_000)
    page.get_by_test_id("login-password").fill(USERS["gina"][0])
    page.get_by_test_id("login-submit").click()
    expect(page.get_by_test_id("logout")).to_be_visible(timeout=15_000)
    expect(page.get_by_test_id("nav-zones")).to_have_count(0)
    width = page.evaluate("() => document.documentElement.scrollWidth")
    assert width <= 390, f"the page is {width} px wide on a 390 px phone"
    page.screenshot(path=artifacts_dir / "browser-phone-pt-BR.png")
    manifest = page.evaluate("() => fetch('/manifest.webmanifest').then(r => r.json())")
    assert manifest["display"] == "standalone" and manifest["icons"]
    page.context.close()


def test_installer_draws_a_zone_that_applies_without_restart(appliance, browser: Browser, artifacts_dir: Path):
    page = _page(browser)
    _login(page, appliance.base, "ian")
    page.goto(appliance.base + "/#/zones/concourse")
    canvas = page.get_by_test_id("zone-canvas")
    expect(canvas).to_be_visible(timeout=15_000)
    before = page.evaluate("() => fetch('/api/v1/cameras/concourse/layout').then(r => r.json())")
    page.get_by_role("button", name="Add zone").click()
    box = canvas.bounding_box()
    for fx, fy in ((0.70, 0.10), (0.95, 0.10), (0.95, 0.40), (0.70, 0.40)):
        page.mouse.click(box["x"] + fx * box["width"], box["y"] + fy * box["height"])
    page.mouse.click(box["x"] + 0.70 * box["width"], box["y"] + 0.10 * box["height"])  # back to the first point
    page.get_by_test_id("zone-save").click()
    expect(page.get_by_test_id("zone-saved")).to_be_visible(timeout=10_000)
    after = page.evaluate("() => fetch('/api/v1/cameras/concourse/layout').then(r => r.json())")
    assert len(after["zones"]) == len(before["zones"]) + 1
    added = next(z for z in after["zones"] if z["name"] not in {b["name"] for b in before["zones"]})
    xs, ys = [p[0] for p in added["polygon"]], [p[1] for p in added["polygon"]]
    assert abs(min(xs) - 0.70) < 0.03 and abs(max(xs) - 0.95) < 0.03 and abs(min(ys) - 0.10) < 0.03
    assert [z.name for z in appliance.appliance.config.cameras[0].zones][-1] == added["name"]  # applied, no restart
    page.screenshot(path=artifacts_dir / "browser-zone-editor.png")
    # A broken layout is refused with the server's message, and nothing changes.
    page.evaluate("""(csrf) => fetch('/api/v1/cameras/concourse/layout', {method: 'PUT',
        headers: {'Content-Type': 'application/json', 'X-CSRF-Token': csrf},
        body: JSON.stringify({zones: [{name: 'x', polygon: [[0, 0], [1, 1]]}], lines: [], rules: []})})""",
                  page.evaluate("() => fetch('/api/v1/me').then(r => r.json()).then(m => m.csrf_token)"))
    assert json.dumps(page.evaluate("() => fetch('/api/v1/cameras/concourse/layout').then(r => r.json())")) == json.dumps(after)
    page.context.close()


def test_the_outbox_backlog_shows_in_the_top_bar(appliance, browser: Browser):
    """An enrolled appliance shows what waits for central (sync/identity.py's central.json marks enrolment)."""
    data_dir = appliance.appliance.config.storage.data_dir
    page = _page(browser)
    _login(page, appliance.base, "gina")
    expect(page.get_by_test_id("sync-status")).to_have_count(0)  # not enrolled: nothing to say
    (data_dir / "sync").mkdir(exist_ok=True)
    (data_dir / "sync" / "central.json").write_text(json.dumps({"device_id": "dev-test", "central_url": "https://c"}))
    try:
        waiting = page.evaluate("() => fetch('/api/v1/sync').then(r => r.json())")["backlog"]
        page.reload()
        status = page.get_by_test_id("sync-status")
        expect(status).to_have_attribute("data-backlog", str(waiting), timeout=10_000)
        assert (f"{waiting} waiting" if waiting else "up to date") in status.inner_text()
    finally:
        (data_dir / "sync" / "central.json").unlink()
    page.context.close()


def _local(epoch: float) -> str:
    """A time as a datetime-local field takes it (the browser runs in this machine's time zone)."""
    return dt.datetime.fromtimestamp(epoch).strftime("%Y-%m-%dT%H:%M:%S")


def test_an_admin_finds_a_data_subjects_events_on_the_privacy_page(appliance, browser: Browser):
    page = _page(browser)
    _login(page, appliance.base, "ada")
    page.get_by_test_id("nav-privacy").click()
    expect(page.get_by_test_id("audit-chain")).to_contain_text("hash chain holds", timeout=10_000)
    deadline = time.monotonic() + 60
    while not (found := page.evaluate("() => fetch('/api/v1/events?limit=1').then(r => r.json()).then(p => p.events)")):
        assert time.monotonic() < deadline, "no event in 60 s"
        page.wait_for_timeout(500)
    event = found[0]
    page.get_by_test_id("privacy-camera").select_option(event["camera"])
    page.get_by_test_id("privacy-from").fill(_local(event["started_at"] - 60))
    page.get_by_test_id("privacy-to").fill(_local(event["started_at"] + 60))
    page.get_by_test_id("privacy-find").click()
    expect(page.get_by_test_id("privacy-result")).to_contain_text(event["id"], timeout=10_000)
    expect(page.get_by_test_id("privacy-request").first).to_contain_text("find")
    page.context.close()
    guard = _page(browser)   # a guard sees the retention and the notice, not the requests nor the exports
    _login(guard, appliance.base, "gina")
    guard.get_by_test_id("nav-privacy").click()
    expect(guard.get_by_test_id("retention")).to_be_visible(timeout=10_000)
    expect(guard.get_by_test_id("privacy-find")).to_have_count(0)
    expect(guard.get_by_test_id("audit-chain")).to_have_count(0)
    guard.context.close()


def test_installer_draws_a_privacy_mask_that_blacks_out_the_camera_and_everyone_sees_retention(
        appliance, browser: Browser, artifacts_dir: Path):
    import cv2
    import numpy as np

    page = _page(browser)
    _login(page, appliance.base, "ian")
    page.goto(appliance.base + "/#/zones/concourse")
    canvas = page.get_by_test_id("zone-canvas")
    expect(canvas).to_be_visible(timeout=15_000)
    page.get_by_test_id("add-mask").click()
    box = canvas.bounding_box()
    corners = ((0.70, 0.05), (0.95, 0.05), (0.95, 0.35), (0.70, 0.35))
    for fx, fy in corners:
        page.mouse.click(box["x"] + fx * box["width"], box["y"] + fy * box["height"])
    page.get_by_role("button", name="Finish zone").click()
    expect(page.get_by_test_id("mask-shape")).to_have_count(1)
    page.get_by_test_id("zone-save").click()
    expect(page.get_by_test_id("zone-saved")).to_be_visible(timeout=10_000)
    layout = page.evaluate("() => fetch('/api/v1/cameras/concourse/layout').then(r => r.json())")
    assert [m["name"] for m in layout["privacy_masks"]] == ["mask-1"]
    assert appliance.appliance.config.cameras[0].privacy_masks[0].name == "mask-1"  # applied, no restart

    def inside_mask() -> np.ndarray:
        jpeg = page.request.get(appliance.base + "/api/v1/cameras/concourse/frame").body()
        image = cv2.imdecode(np.frombuffer(jpeg, np.uint8), cv2.IMREAD_COLOR)
        h, w = image.shape[:2]
        return image[round(0.08 * h):round(0.32 * h), round(0.73 * w):round(0.92 * w)]

    deadline = time.monotonic() + 15
    while inside_mask().max() > 30 and time.monotonic() < deadline:
        time.sleep(0.3)
    assert inside_mask().max() <= 30, "the zone editor's frame (the live view's) is black in the mask"
    page.screenshot(path=artifacts_dir / "browser-privacy-mask.png")
    page.get_by_test_id("nav-privacy").click()
    retention = page.get_by_test_id("retention")
    expect(retention).to_contain_text("concourse")
    expect(retention).to_contain_text("30 days")
    expect(page.get_by_test_id("notice-pt")).to_be_visible()
    expect(page.get_by_test_id("export-start")).to_have_count(0)  # exports are for admins
    csrf = page.evaluate("() => fetch('/api/v1/me').then(r => r.json()).then(m => m.csrf_token)")
    page.evaluate("""([csrf, layout]) => fetch('/api/v1/cameras/concourse/layout', {method: 'PUT',
        headers: {'Content-Type': 'application/json', 'X-CSRF-Token': csrf},
        body: JSON.stringify({zones: layout.zones, lines: layout.lines, rules: layout.rules, privacy_masks: []})})""",
                  [csrf, layout])
    assert appliance.appliance.config.cameras[0].privacy_masks == []
    page.context.close()
