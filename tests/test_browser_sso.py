"""Single sign-on in a real browser: Debian's headless Chromium (Playwright) clicks the dashboard's sign-on button,
signs in on the real OpenID provider's own page (panva's oidc-provider, tests/support/oidc_provider.py), and comes
back to the dashboard signed in as the provider's user, with the role its groups map to. Screenshots in
test-artifacts/sso-*.png.
"""
from __future__ import annotations

from pathlib import Path

import pytest
from playwright.sync_api import Browser, expect
from support.browser import chromium

from tests.test_central_sso import audit, sso_only
from tests.test_central_sso import central as central  # noqa: F401  (the fixtures: a dashboard with sign-on)
from tests.test_central_sso import provider as provider  # noqa: F401
from vigia.central.dashboard.frontend import dist_dir

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def browser() -> Browser:
    assert (dist_dir() / "index.html").is_file(), f"dashboard not built in {dist_dir()}: run `make dashboard`"
    with chromium() as browser:
        yield browser


def test_sign_on_button_to_the_provider_and_back_signed_in(central, browser: Browser, artifacts_dir: Path):  # noqa: F811
    page = browser.new_context(ignore_https_errors=True, locale="en-GB").new_page()
    errors: list[str] = []
    # the dashboard's errors only: the provider's page asks for web fonts and a favicon it cannot have here
    page.on("console", lambda m: errors.append(m.text) if m.type == "error" and "status of 401" not in m.text
            and m.location.get("url", "").startswith(central.url) else None)
    page.goto(central.url + "/")
    button = page.get_by_test_id("login-sso")
    expect(button).to_have_text("Company account")
    expect(page.get_by_test_id("login-submit")).to_be_visible()  # passwords still work beside it
    page.screenshot(path=str(artifacts_dir / "sso-1-login-page.png"))
    button.click()

    page.locator('input[name="login"]').fill("olga")   # the provider's own sign-in page
    page.locator('input[name="password"]').fill("any password")
    page.screenshot(path=str(artifacts_dir / "sso-2-provider.png"))
    page.locator('button[type="submit"]').first.click()

    expect(page.get_by_test_id("logout")).to_be_visible(timeout=20_000)
    assert page.url.startswith(central.url + "/")
    expect(page.locator(".topbar__user")).to_contain_text("olga")
    expect(page.locator(".topbar__user")).to_contain_text("(admin)")
    page.screenshot(path=str(artifacts_dir / "sso-3-signed-in.png"), full_page=True)
    assert audit(central, "sso_login")[-1][0] == "olga"

    page.get_by_test_id("logout").click()
    expect(page.get_by_test_id("login-sso")).to_be_visible()
    assert errors == [], errors


def test_without_password_login_the_page_offers_sign_on_only(central, provider, browser: Browser,  # noqa: F811
                                                              artifacts_dir: Path):
    with sso_only(central, provider[0]) as port:
        page = browser.new_context(ignore_https_errors=True, locale="pt-BR").new_page()
        page.goto(f"https://127.0.0.1:{port}/dashboard/")
        expect(page.get_by_test_id("login-sso")).to_have_text("Company account")
        expect(page.get_by_test_id("login-submit")).to_have_count(0)
        expect(page.get_by_test_id("login-password")).to_have_count(0)
        page.screenshot(path=str(artifacts_dir / "sso-4-sign-on-only.png"))
