"""The setup wizard end to end in a real browser (Debian's Chromium driven by Playwright): a fresh
appliance (no users, no cameras), found on the LAN by `vigia discover` (mDNS), is claimed with the code
`vigia status` shows, then one camera, the
demo clip over RTSP from GStreamer's server, is found by ONVIF WS-Discovery (a protocol-level
responder whose media profile points at that stream), tested, added, given a zone, and setup is
finished offline, until the first event from that camera shows in the wizard. Then the wizard is
opened again later, from a browser whose clock is off, which it warns about.

The test reads from the page the steps the wizard lists and the form fields it shows on the way, counts
its own clicks, prints them, and holds them to the target: at most 6 screens and at most 30 clicks and
fields, from `vigia discover` to the first event.
Screenshots go to test-artifacts/wizard/.
"""
from __future__ import annotations

import json
import subprocess
import sys
import time
from pathlib import Path

import pytest
from playwright.sync_api import Browser, Locator, Page, expect, sync_playwright
from support.appliance import running_appliance
from support.browser import CHROMIUM, CHROMIUM_FLAGS
from support.onvif_responder import OnvifResponder, Profile
from support.servers import free_port, start_rtsp_server

from vigia.appliance.config import parse_config
from vigia.local_ui.frontend import dist_dir
from vigia.provisioning.presence import LanPresence

pytestmark = pytest.mark.slow

MAX_SCREENS, MAX_ACTIONS = 6, 30


# The form fields the wizard shows now, each as "step:name" (a group of radio buttons is one field).
SHOWN_FIELDS = """() => [...document.querySelectorAll('[data-testid=setup-step] :is(input, select, textarea)')]
    .filter(el => el.type !== 'hidden' && el.getClientRects().length > 0)
    .map(el => el.closest('[data-step]').dataset.step + ':' + (el.type === 'radio' ? 'radio ' + el.name
         : el.dataset.testid || el.name || el.getAttribute('aria-label') || el.outerHTML.slice(0, 80)))"""


class Counted:
    """The page, with what the wizard shows recorded (its screens and the form fields on each, read from the
    page before and after every action) and the clicks the walk takes counted."""

    def __init__(self, page: Page, shots: Path):
        self.page, self.shots = page, shots
        self.clicks = 0
        self.screens: list[str] = []
        self.fields: set[str] = set()

    def seen(self) -> None:
        step = self.page.get_by_test_id("setup-step").get_attribute("data-step")
        if step not in self.screens:
            self.screens.append(step)
            self.page.screenshot(path=self.shots / f"{len(self.screens)}-{step}.png", full_page=True)
        self.note_fields()

    def note_fields(self) -> None:
        self.fields.update(self.page.evaluate(SHOWN_FIELDS))

    def steps_listed(self) -> int:
        """The steps the wizard's progress list names."""
        return self.page.get_by_test_id("setup-step").locator(".setup-progress li").count()

    def click(self, target: Locator) -> None:
        self.note_fields()
        target.click()
        self.clicks += 1

    def click_at(self, x: float, y: float) -> None:
        self.page.mouse.click(x, y)
        self.clicks += 1

    def fill(self, target: Locator, text: str) -> None:
        self.note_fields()
        target.fill(text)


def status_of(config_file: Path) -> dict:
    """`vigia status --json` on the appliance."""
    out = subprocess.run([sys.executable, "-m", "vigia.app.cli.main", "status", "--json", "-c", str(config_file)],
                         capture_output=True, text=True, timeout=60, check=True)
    return json.loads(out.stdout)


def test_the_wizard_from_a_fresh_appliance_to_the_first_event(tmp_path: Path, demo_clip: Path, default_model: Path,
                                                              artifacts_dir: Path):
    assert (dist_dir() / "index.html").is_file(), f"front end not built in {dist_dir()}: run `make ui`"
    assert Path(CHROMIUM).exists(), "Debian's chromium is not installed (make setup installs it)"
    config_file = tmp_path / "config.yml"
    config_file.write_text(f"detector:\n  model: {default_model}\nstorage:\n  data_dir: {tmp_path}\n"
                           f"http:\n  port: {free_port()}\n")
    config = parse_config(config_file.read_text(), source=str(config_file))
    shots = artifacts_dir / "wizard"
    shots.mkdir(exist_ok=True)
    rtsp = start_rtsp_server(demo_clip)
    camera = OnvifResponder("admin", "cam-pass-7", rtsp_port=rtsp.port,
                            profiles=[Profile("main", "mainStream", 1280, 720, "/demo")])
    try:
        with running_appliance(config) as running:
            status = status_of(config_file)  # the claim code, as the appliance's console shows it
            presence = LanPresence(tmp_path, port=running.port, addresses=["127.0.0.1"], interval=0.2)
            started = time.monotonic()
            try:  # the installer's laptop finds the appliance on the LAN
                found = subprocess.run([sys.executable, "-m", "vigia.app.cli.main", "discover", "--json",
                                        "--timeout", "2.5", "--interface", "127.0.0.1"],
                                       capture_output=True, text=True, timeout=60, check=True)
            finally:
                presence.close()
            appliance = next(a for a in json.loads(found.stdout) if a["device_id"] == status["device_id"])
            assert appliance["state"] == "unclaimed"
            url = f"https://{appliance['addresses'][0]}:{appliance['port']}/"
            with sync_playwright() as playwright:  # after the mDNS part: zeroconf's blocking calls refuse a running loop
                browser: Browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_FLAGS, headless=True)
                page = browser.new_context(ignore_https_errors=True, locale="en-GB").new_page()
                wizard = Counted(page, shots)
                page.goto(url)

                # 1. Claim and the first admin: an unclaimed appliance serves only the wizard.
                expect(page.get_by_test_id("setup-claim-code")).to_be_visible(timeout=15_000)
                assert page.evaluate("() => location.hash") == "#/setup"
                wizard.seen()
                listed = wizard.steps_listed()
                wizard.fill(page.get_by_test_id("setup-claim-code"), status["claim_code"])
                wizard.fill(page.get_by_test_id("setup-admin-username"), "owner")
                wizard.fill(page.get_by_test_id("setup-admin-password"), "owner-pass-123")
                wizard.click(page.get_by_test_id("setup-claim-submit"))

                # 2. Clock and time zone: the browser's zone is proposed; the clocks agree, so no warning.
                expect(page.get_by_test_id("setup-timezone")).to_be_visible(timeout=15_000)
                wizard.seen()
                assert page.get_by_test_id("setup-timezone").input_value() == page.evaluate(
                    "() => Intl.DateTimeFormat().resolvedOptions().timeZone")
                # the offset is estimated from one request's round trip: a loaded machine's slow answer moves it by
                # seconds, well within the warning's tolerance (60 s)
                assert abs(int(page.get_by_test_id("setup-clock-offset").get_attribute("data-offset"))) <= 30
                expect(page.get_by_test_id("setup-clock-warning")).to_have_count(0)
                wizard.click(page.get_by_test_id("setup-clock-next"))

                # 3. The camera: WS-Discovery, its credentials, a stream test with preview, then add it.
                expect(page.get_by_test_id("setup-discover")).to_be_visible(timeout=10_000)
                wizard.seen()
                wizard.click(page.get_by_test_id("setup-discover"))
                found = page.locator(f'[data-testid="setup-device"][data-endpoint="{camera.endpoint}"]')
                expect(found).to_be_visible(timeout=15_000)
                wizard.click(found)
                wizard.fill(page.get_by_test_id("setup-camera-username"), "admin")
                wizard.fill(page.get_by_test_id("setup-camera-password"), "cam-pass-7")
                wizard.click(page.get_by_test_id("setup-probe"))
                expect(page.get_by_test_id("setup-probe-result")).to_be_visible(timeout=20_000)
                facts = page.get_by_test_id("setup-stream-facts").inner_text()
                assert facts.startswith("H264 · 1280×720 · ") and facts.endswith(" fps"), facts
                assert page.get_by_test_id("setup-preview").evaluate("img => img.complete && img.naturalWidth") == 640
                assert page.get_by_test_id("setup-camera-name").input_value() == "testcam"  # from its ONVIF name
                page.screenshot(path=shots / "3b-camera-tested.png", full_page=True)
                wizard.click(page.get_by_test_id("setup-add-camera"))

                # 4. Zones: the zone editor over the camera's live picture; one zone drawn and saved.
                canvas = page.get_by_test_id("zone-canvas")
                expect(canvas).to_be_visible(timeout=20_000)
                wizard.seen()
                wizard.click(page.get_by_role("button", name="Add zone"))
                box = canvas.bounding_box()
                for fx, fy in ((0.05, 0.05), (0.95, 0.05), (0.95, 0.95), (0.05, 0.95), (0.05, 0.05)):
                    wizard.click_at(box["x"] + fx * box["width"], box["y"] + fy * box["height"])
                wizard.click(page.get_by_test_id("zone-save"))
                expect(page.get_by_test_id("zone-saved")).to_be_visible(timeout=10_000)
                assert [z.name for z in running.appliance.config.cameras[0].zones] != []  # applied without a restart
                wizard.click(page.get_by_test_id("setup-zones-next"))

                # 5. Central: stay offline (the default), finish.
                expect(page.get_by_test_id("setup-finish")).to_be_visible(timeout=10_000)
                wizard.seen()
                assert page.get_by_test_id("setup-offline").is_checked()
                wizard.click(page.get_by_test_id("setup-finish"))

                # 6. Done: the first event from the new camera shows.
                expect(page.get_by_test_id("setup-done")).to_be_visible(timeout=10_000)
                wizard.seen()
                first = page.get_by_test_id("setup-first-event")
                expect(first).to_be_visible(timeout=60_000)
                elapsed = time.monotonic() - started
                page.screenshot(path=shots / "6b-first-event.png", full_page=True)
                event = page.evaluate("id => fetch('/api/v1/events/' + id).then(r => r.json())",
                                      first.get_attribute("data-event-id"))
                assert event["camera"] == "testcam"
                setup = page.evaluate("() => fetch('/api/v1/setup').then(r => r.json())")
                assert setup["state"] == "ready" and setup["finished_at"] and setup["cameras"] == ["testcam"]

                # Later, the steps can be repeated (no claim this time); a browser whose clock is ten minutes
                # off the appliance's gets the clock warning, in Portuguese.
                later = browser.new_context(ignore_https_errors=True, locale="pt-BR").new_page()
                later.clock.set_fixed_time(time.time() + 600)
                later.goto(running.base + "/#/setup")
                later.get_by_test_id("login-username").fill("owner")
                later.get_by_test_id("login-password").fill("owner-pass-123")
                later.get_by_test_id("login-submit").click()
                expect(later.get_by_test_id("setup-clock-warning")).to_be_visible(timeout=15_000)
                assert later.get_by_test_id("setup-step").get_attribute("data-step") == "clock"
                assert "relógio" in later.get_by_test_id("setup-clock-warning").inner_text().lower()
                assert abs(int(later.get_by_test_id("setup-clock-offset").get_attribute("data-offset")) + 600) <= 30
                later.screenshot(path=shots / "7-later-clock-warning-pt-BR.png", full_page=True)
                browser.close()
    finally:
        camera.close()
        rtsp.stop()

    actions = wizard.clicks + len(wizard.fields)
    print(f"\nsetup wizard, one-camera site: {listed} screens ({', '.join(wizard.screens)}), "
          f"{len(wizard.fields)} fields shown ({', '.join(sorted(wizard.fields))}), {wizard.clicks} clicks "
          f"({actions} actions), {elapsed:.1f} s to the first event")
    assert wizard.screens == ["claim", "clock", "camera", "zones", "central", "done"]  # each shown, in this order
    assert listed == len(wizard.screens) <= MAX_SCREENS  # the wizard lists no step this walk did not see
    assert actions <= MAX_ACTIONS  # every field the wizard shows counts, filled here or not
