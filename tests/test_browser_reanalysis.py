"""The dashboard's re-analysis, event and device views in a real browser: Debian's headless Chromium driven by
Playwright, against the dashboard over HTTPS on a real PostgreSQL, with the devices' events put there by the real
ingest, the re-analysis tables as workers leave them (tests/test_central_dashboard_reanalysis.seed), and a real
H.264 clip and its thumbnail in an S3 protocol server.

The front end must be built (`make dashboard`). Screenshots of each step are left in test-artifacts/reanalysis-*.png.
"""
from __future__ import annotations

import re
from pathlib import Path

import pytest
from playwright.sync_api import Browser, Page, expect
from support.browser import chromium

from tests.test_browser_dashboard import _login, _page
from tests.test_central_dashboard import FleetCentral, fleet_central
from tests.test_central_dashboard_reanalysis import Seeded, mp4_clip, seed, send_history, sql
from vigia.central.dashboard.frontend import dist_dir

pytestmark = pytest.mark.slow

HUMAN_BYTES = re.compile(r"^\d+([.,]\d)? (B|KiB|MiB|GiB|TiB|PiB)$")


@pytest.fixture(scope="module")
def seeded(tmp_path_factory, demo_clip) -> tuple[FleetCentral, Seeded]:
    assert (dist_dir() / "index.html").is_file(), f"dashboard not built in {dist_dir()}: run `make dashboard`"
    with fleet_central(tmp_path_factory.mktemp("reanalysis-browser")) as central:
        s = seed(central, mp4_clip(demo_clip))
        send_history(central, "gate-01", "gate", s.t0, tmp_path_factory.mktemp("device"))
        yield central, s


@pytest.fixture(scope="module")
def browser() -> Browser:
    with chromium() as browser:
        yield browser


def _event(page: Page, central: FleetCentral, device_id: str, event_id: str) -> None:
    page.goto(f"{central.url}/#/events/{device_id}/{event_id}")
    expect(page.get_by_test_id("event-page")).to_be_visible(timeout=15_000)


def test_an_event_shows_both_boxes_plays_its_clip_and_is_reanalysed(seeded, browser: Browser, artifacts_dir: Path):
    central, s = seeded
    page, errors = _page(browser)
    _login(page, central, "otto")
    e1, e3 = s.events["e1"], s.events["e3"]
    row = page.locator(f'[data-testid="event-row"][data-event-id="{e1.id}"]')
    expect(row.get_by_test_id("event-has-clip")).to_be_visible()
    disk = page.locator('[data-testid="device-row"][data-device-id="gate-01"] [data-testid="device-disk"]')
    expect(disk).to_have_text(HUMAN_BYTES)  # "76.3 GiB", not 81939927040
    expect(page.locator('[data-testid="site-chart"][data-site="North Gate"]')).to_have_attribute("data-events", "4")
    page.screenshot(path=str(artifacts_dir / "reanalysis-1-fleet.png"), full_page=True)

    row.click()  # the row opens the event
    expect(page.get_by_test_id("event-page")).to_be_visible()
    expect(page.get_by_test_id("verdict")).to_have_attribute("data-verdict", "confirmed")
    expect(page.get_by_test_id("edge-frame-image")).to_have_js_property("naturalWidth", 640)  # the thumbnail, decoded
    expect(page.get_by_test_id("central-frame-image")).to_have_js_property("naturalWidth", 640)
    expect(page.locator('[data-testid="edge-frame"] [data-testid="edge-box"]')).to_have_count(1)
    central_boxes = page.locator('[data-testid="central-frame"] [data-testid="central-box"]')
    expect(central_boxes).to_have_count(2)
    assert sorted(central_boxes.evaluate_all("boxes => boxes.map(b => b.dataset.tone)")) == ["matched", "missed"]
    expect(page.get_by_test_id("central-event-row")).to_have_count(2)
    expect(page.get_by_test_id("reanalyse")).to_be_disabled()  # job G is queued for this event
    page.get_by_test_id("clip-play").click()
    clip = page.get_by_test_id("event-clip")
    expect(clip).to_be_visible()
    # a function, not an expression: the page's policy forbids eval
    page.wait_for_function("() => document.querySelector('[data-testid=event-clip]').readyState >= 2", timeout=15_000)
    assert clip.evaluate("video => video.duration") == pytest.approx(2.0, abs=0.2)  # the H.264 clip, from the bucket
    assert clip.evaluate("video => video.src").startswith(central.media.endpoint)  # straight from it, presigned
    page.screenshot(path=str(artifacts_dir / "reanalysis-2-event-side-by-side.png"), full_page=True)

    _event(page, central, "gate-01", e3.id)
    expect(page.get_by_test_id("verdict")).to_have_attribute("data-verdict", "label_differs")
    expect(page.get_by_test_id("job-row")).to_have_count(1)
    page.get_by_test_id("reanalyse").click()
    expect(page.get_by_test_id("reanalyse-result")).to_be_visible()
    expect(page.get_by_test_id("job-row")).to_have_count(2)
    expect(page.get_by_test_id("job-row").first).to_have_attribute("data-state", "waiting_clip")
    expect(page.get_by_test_id("reanalyse")).to_be_disabled()
    assert sql(central, "SELECT requested_by, reason FROM reanalysis_jobs WHERE event_id = %s AND state = 'waiting_clip'",
               [e3.id]) == [("otto", "requested")]
    page.screenshot(path=str(artifacts_dir / "reanalysis-3-requested.png"), full_page=True)
    assert errors == [], errors


def test_disagreements_rates_and_queue(seeded, browser: Browser, artifacts_dir: Path):
    central, s = seeded
    page, errors = _page(browser)
    _login(page, central, "vera")
    page.get_by_test_id("nav-reanalysis").click()
    expect(page.get_by_test_id("reanalysis-page")).to_be_visible()
    failed = page.locator('[data-testid="queue-state"][data-state="failed"]')
    expect(failed).to_have_attribute("data-count", "1")
    expect(page.locator('[data-testid="queue-state"][data-state="done"]')).to_have_attribute("data-count", "4")
    expect(page.get_by_test_id("queue-failed")).to_contain_text("cannot decode the clip: Invalid data found")
    expect(page.get_by_test_id("queue-oldest")).to_contain_text(re.compile(r"\d+ (min|h)"))

    gate = page.locator('[data-testid="rate-row"][data-camera="gate"]')
    expect(gate).to_have_attribute("data-false-alarm-rate", "0.25")
    expect(gate).to_contain_text("25%")
    expect(page.locator('[data-testid="rate-row"][data-camera="dock"]')).to_have_attribute("data-missed-rate", "1")

    rows = page.get_by_test_id("disagreement-row")
    expect(rows).to_have_count(5)
    page.screenshot(path=str(artifacts_dir / "reanalysis-4-disagreements.png"), full_page=True)
    page.get_by_test_id("dis-kind").select_option("missed")
    expect(rows).to_have_count(2)
    expect(page.locator('[data-testid="disagreement-row"][data-kind="missed"]')).to_have_count(2)
    page.get_by_test_id("dis-device").select_option("dock-02")
    expect(rows).to_have_count(1)
    page.get_by_test_id("dis-clear").click()
    page.get_by_test_id("dis-site").select_option("North Gate")
    expect(rows).to_have_count(3)
    page.get_by_test_id("dis-label").fill("car")
    expect(rows).to_have_count(2)
    page.screenshot(path=str(artifacts_dir / "reanalysis-5-filtered.png"), full_page=True)

    page.locator('[data-testid="disagreement-row"][data-kind="label_differs"]').click()
    expect(page.get_by_test_id("event-page")).to_be_visible()
    expect(page.get_by_test_id("verdict")).to_have_attribute("data-verdict", "label_differs")
    expect(page.get_by_test_id("reanalyse")).to_have_count(0)  # a viewer may not ask
    assert page.url.endswith(f"#/events/gate-01/{s.events['e3'].id}")
    assert errors == [], errors


def test_a_device_page_shows_health_over_time_and_commands(seeded, browser: Browser, artifacts_dir: Path):
    central, _ = seeded
    page, errors = _page(browser)
    _login(page, central, "vera")
    page.locator('[data-testid="device-row"][data-device-id="gate-01"] [data-testid="device-open"]').click()
    expect(page.get_by_test_id("device-page")).to_have_attribute("data-device-id", "gate-01")
    expect(page.get_by_test_id("device-disk")).to_have_text(HUMAN_BYTES)
    expect(page.get_by_test_id("device-model")).to_have_text("yolox_nano")
    history = page.locator('[data-testid="camera-history"][data-camera="gate"] [data-testid="bar"]')
    expect(history).to_have_count(2)  # the two roll-ups of the last 7 days
    expect(page.locator('[data-testid="disk-history"] [data-testid="bar"]')).to_have_count(2)
    expect(page.get_by_test_id("command-row")).to_have_count(2)
    expect(page.locator('[data-testid="command-row"][data-state="done"]')).to_contain_text('{"uploaded":true}')
    expect(page.get_by_test_id("layout-row")).to_contain_text("person, car")
    expect(page.get_by_test_id("event-row")).to_have_count(4)
    page.screenshot(path=str(artifacts_dir / "reanalysis-6-device.png"), full_page=True)
    page.get_by_test_id("history-days").select_option("31")
    expect(history).to_have_count(3)
    assert errors == [], errors


def test_an_operator_reviews_hard_examples_on_their_frames(seeded, browser: Browser, artifacts_dir: Path):
    """Accept one frame, fix another (relabel a box, remove one, drag a new one), reject a third."""
    central, s = seeded
    x1, x2, x3 = (s.examples[name] for name in ("x1", "x2", "x3"))
    page, errors = _page(browser)
    _login(page, central, "otto")
    page.get_by_test_id("nav-hard-examples").click()
    expect(page.get_by_test_id("hard-examples-page")).to_be_visible()
    cards = page.get_by_test_id("hard-example")
    expect(cards).to_have_count(3)  # the unreviewed ones
    card = {x: page.locator(f'[data-testid="hard-example"][data-id="{x}"]') for x in (x1, x2, x3)}
    expect(card[x2].get_by_test_id("hard-frame-image")).to_have_js_property("naturalWidth", 640)  # from the bucket
    expect(card[x2].get_by_test_id("hard-box")).to_have_count(2)
    page.screenshot(path=str(artifacts_dir / "reanalysis-7-hard-examples.png"), full_page=True)

    card[x1].get_by_test_id("hard-accept").click()
    expect(card[x1]).to_have_attribute("data-review", "accepted")

    card[x2].get_by_test_id("hard-fix").click()
    card[x2].get_by_test_id("hard-label").first.fill("truck")   # central's car is a truck
    card[x2].get_by_test_id("hard-remove").nth(1).click()       # its person is not there
    frame = card[x2].get_by_test_id("hard-drawer").locator(".frame__media").bounding_box()
    page.mouse.move(frame["x"] + frame["width"] * 0.1, frame["y"] + frame["height"] * 0.1)
    page.mouse.down()
    page.mouse.move(frame["x"] + frame["width"] * 0.2, frame["y"] + frame["height"] * 0.3, steps=4)
    page.mouse.up()
    expect(card[x2].get_by_test_id("hard-box")).to_have_count(2)
    page.screenshot(path=str(artifacts_dir / "reanalysis-8-hard-example-fix.png"), full_page=True)
    card[x2].get_by_test_id("hard-save").click()
    expect(card[x2]).to_have_attribute("data-review", "fixed")
    card[x3].get_by_test_id("hard-reject").click()
    expect(card[x3]).to_have_attribute("data-review", "rejected")

    [(labels, by)] = sql(central, "SELECT reviewed_labels, reviewed_by FROM hard_examples WHERE id = %s", [x2])
    assert by == "otto" and [label["label"] for label in labels] == ["truck", "truck"]
    assert labels[0]["box"] == [0.5, 0.5, 0.7, 0.9]
    assert labels[1]["box"] == pytest.approx([0.1, 0.1, 0.2, 0.3], abs=0.01)  # the box dragged on the frame
    assert sql(central, "SELECT id, review FROM hard_examples ORDER BY id") == [
        (x1, "accepted"), (x2, "fixed"), (x3, "rejected")]
    page.reload()
    expect(cards).to_have_count(0)  # none left to review
    expect(page.get_by_test_id("hard-none")).to_be_visible()
    assert errors == [], errors
