"""Two-factor login in real browsers (Debian's headless Chromium, Playwright): on the guards' UI (an appliance with
`http.admin_totp: required`, and its setup wizard's first admin) and on central's dashboard (`admin_totp`), an admin
is made to enrol right after the password (QR code and key, a first code, the recovery codes), then logs in with
password and a code. Codes come from pyotp and the key the page shows. Screenshots in test-artifacts/totp-*.png.
"""
from __future__ import annotations

import asyncio
import json
import ssl
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import psycopg
import pyotp
import pytest
from aiohttp import web
from playwright.sync_api import Browser, Page, expect
from support.appliance import running_appliance
from support.browser import chromium
from support.servers import free_port

from vigia.app.devstack import temporary_database
from vigia.appliance.config import parse_config
from vigia.appliance.demo import demo_config_text
from vigia.central.dashboard import accounts
from vigia.central.dashboard.app import DashboardSettings, create_app
from vigia.central.dashboard.frontend import dist_dir as dashboard_dist
from vigia.central.ingest.ca import init_ca, issue_server_certificate
from vigia.local_ui.frontend import dist_dir as ui_dist

pytestmark = pytest.mark.slow

PASSWORD = "admin-pass-1"


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    with chromium() as browser:
        yield browser


def _page(browser: Browser, locale: str = "en-GB") -> Page:
    return browser.new_context(ignore_https_errors=True, locale=locale, viewport={"width": 1280, "height": 900}).new_page()


def _enrol(page: Page, artifacts: Path, name: str) -> pyotp.TOTP:
    """On the enrolment page: start, read the key, confirm with a first code, see the recovery codes, continue."""
    page.get_by_test_id("totp-start").click()
    expect(page.locator("[data-testid=totp-qr] svg")).to_be_visible(timeout=10_000)
    code = pyotp.TOTP(page.get_by_test_id("totp-secret").inner_text().strip())
    page.screenshot(path=artifacts / f"totp-{name}-enrol.png")
    page.get_by_test_id("totp-code").fill(code.now())
    page.get_by_test_id("totp-confirm").click()
    expect(page.get_by_test_id("totp-recovery-codes").locator("li")).to_have_count(10, timeout=10_000)
    page.get_by_test_id("totp-done").click()
    return code


def _enrol_and_log_in_again(page: Page, base: str, artifacts: Path, name: str, nav: str) -> None:
    """From the login page: the password, the forced enrolment, logout, then the password and a code (`nav`: the
    test id of a link only the logged-in pages have)."""
    page.goto(base)
    page.get_by_test_id("login-username").fill("ada")
    page.get_by_test_id("login-password").fill(PASSWORD)
    page.get_by_test_id("login-submit").click()
    expect(page.get_by_test_id("totp-page")).to_be_visible(timeout=15_000)
    expect(page.get_by_test_id(nav)).to_have_count(0)       # nothing else until enrolled
    code = _enrol(page, artifacts, name)
    expect(page.get_by_test_id(nav)).to_be_visible(timeout=10_000)
    page.get_by_test_id("logout").click()

    expect(page.get_by_test_id("login-username")).to_be_visible(timeout=10_000)
    page.get_by_test_id("login-username").fill("ada")
    page.get_by_test_id("login-password").fill(PASSWORD)
    page.get_by_test_id("login-submit").click()
    expect(page.get_by_test_id("login-code")).to_be_visible(timeout=10_000)
    page.screenshot(path=artifacts / f"totp-{name}-code.png")
    page.get_by_test_id("login-code").fill(code.at(time.time() + 30))  # the next step: the enrolment's is used
    page.get_by_test_id("login-code-submit").click()
    expect(page.get_by_test_id(nav)).to_be_visible(timeout=15_000)
    expect(page.get_by_test_id("totp-page")).to_have_count(0)


def test_guards_ui_admin_enrols_then_logs_in_with_a_code(browser: Browser, tmp_path: Path, demo_clip: Path,
                                                          artifacts_dir: Path):
    assert (ui_dist() / "index.html").is_file(), f"front end not built in {ui_dist()}: run `make ui`"
    text = demo_config_text(demo_clip, tmp_path, free_port()).replace("http:\n", "http:\n  admin_totp: required\n")
    config = parse_config(text, source="totp browser test config")
    with running_appliance(config, {"ada": (PASSWORD, "admin")}, start_cameras=False) as running:
        _enrol_and_log_in_again(_page(browser), running.base + "/", artifacts_dir, "guards", "nav-events")


def test_the_first_admin_enrols_right_after_claiming_then_the_wizard_goes_on(
        browser: Browser, tmp_path: Path, default_model: Path, artifacts_dir: Path):
    config_file = tmp_path / "config.yml"
    config_file.write_text(f"detector:\n  model: {default_model}\nstorage:\n  data_dir: {tmp_path}\n"
                           f"http:\n  port: {free_port()}\n  admin_totp: required\n")
    config = parse_config(config_file.read_text(), source=str(config_file))
    with running_appliance(config) as running:
        status = subprocess.run([sys.executable, "-m", "vigia.app.cli.main", "status", "--json", "-c", str(config_file)],
                                capture_output=True, text=True, timeout=60, check=True)
        page = _page(browser)
        page.goto(running.base + "/")
        page.get_by_test_id("setup-claim-code").fill(json.loads(status.stdout)["claim_code"])
        page.get_by_test_id("setup-admin-username").fill("owner")
        page.get_by_test_id("setup-admin-password").fill("owner-pass-123")
        page.get_by_test_id("setup-claim-submit").click()
        expect(page.get_by_test_id("totp-page")).to_be_visible(timeout=15_000)
        expect(page.get_by_test_id("setup-timezone")).to_be_hidden()
        _enrol(page, artifacts_dir, "wizard")
        expect(page.get_by_test_id("setup-timezone")).to_be_visible(timeout=10_000)   # the wizard's next step


@dataclass
class Dashboard:
    base: str


@pytest.fixture(scope="module")
def dashboard(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Dashboard]:
    assert (dashboard_dist() / "index.html").is_file(), f"dashboard not built in {dashboard_dist()}: run `make dashboard`"
    root = tmp_path_factory.mktemp("totp-dashboard")
    issue_server_certificate(init_ca(root / "ca"), ["127.0.0.1"], root / "tls.crt", root / "tls.key")

    tls = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    tls.load_cert_chain(root / "tls.crt", root / "tls.key")
    with temporary_database() as dsn:
        port = free_port()
        loop = asyncio.new_event_loop()
        thread = threading.Thread(target=loop.run_forever, daemon=True)
        thread.start()

        async def start() -> web.AppRunner:
            runner = web.AppRunner(create_app(DashboardSettings(dsn, admin_totp=True)), access_log=None)
            await runner.setup()
            await web.TCPSite(runner, "127.0.0.1", port, ssl_context=tls).start()
            async with await psycopg.AsyncConnection.connect(dsn, autocommit=True) as conn:
                await accounts.add_user(conn, "ada", PASSWORD, "admin")
            return runner

        runner = asyncio.run_coroutine_threadsafe(start(), loop).result(60)
        try:
            yield Dashboard(f"https://127.0.0.1:{port}/dashboard/")
        finally:
            asyncio.run_coroutine_threadsafe(runner.cleanup(), loop).result(30)
            loop.call_soon_threadsafe(loop.stop)
            thread.join(10)


def test_dashboard_admin_enrols_then_logs_in_with_a_code(browser: Browser, dashboard: Dashboard, artifacts_dir: Path):
    _enrol_and_log_in_again(_page(browser), dashboard.base, artifacts_dir, "dashboard", "nav-fleet")
