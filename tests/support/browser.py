"""Debian's Chromium for the browser tests, driven by Playwright (never a browser Playwright downloads)."""
from __future__ import annotations

import shutil
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from playwright.sync_api import Browser, sync_playwright

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
# Headless as root in a sandboxed machine with no network but loopback: no sandbox, no GPU, no
# background connections (refused here, many at a time, and slow to give up).
CHROMIUM_FLAGS = ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking",
                  "--disable-component-update", "--disable-sync", "--disable-dev-shm-usage"]


@contextmanager
def chromium(extra_flags: tuple[str, ...] = ()) -> Iterator[Browser]:
    """`extra_flags`: more command-line switches for this browser."""
    assert Path(CHROMIUM).exists(), "Debian's chromium is not installed (make setup installs it)"
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=[*CHROMIUM_FLAGS, *extra_flags], headless=True)
        try:
            yield browser
        finally:
            browser.close()
