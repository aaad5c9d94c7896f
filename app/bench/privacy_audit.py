"""`audit_coverage` of `vigia bench privacy`: the share of footage accesses made from a browser that the audit log
records (who, what, from where).

The demo appliance runs (its camera, recording in 2 s segments); headless Chromium (Debian's, driven by
Playwright) logs in as a guard, watches the live view, then for `--audit-events` events with a snapshot: fetches
the snapshot, opens the event's page and plays its clip, and downloads the clip. Each of those is one access; the
audit log is then read for an entry of the same action and target by that user from the browser's address.
"""
from __future__ import annotations

import shutil
import tempfile
import time
from pathlib import Path

from vigia.app.appliance import Appliance
from vigia.app.devstack import free_port
from vigia.app.serving import serving
from vigia.appliance import audit_log
from vigia.appliance.config import parse_config
from vigia.appliance.demo import demo_config_text
from vigia.appliance.storage import connect, database
from vigia.local_ui import accounts

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
FLAGS = ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking",
         "--disable-component-update", "--disable-sync", "--disable-dev-shm-usage"]
USER, PASSWORD = "auditee", "auditee-password-1"


def _config(folder: Path, media: Path, model: Path):
    text = demo_config_text(media, folder, free_port())
    text = text.replace("    loop: true\n", "    loop: true\n    record: {pre_roll: 2, post_roll: 2, segment_seconds: 2}\n")
    text = text.replace("  model: yolox_nano\n", f"  model: {model}\n")
    return parse_config(text, source="bench privacy config")


def _browse(base: str, events_wanted: int, timeout_s: float) -> list[tuple[str, str]]:
    """The accesses made, as (action, target)."""
    from playwright.sync_api import expect, sync_playwright

    made: list[tuple[str, str]] = []
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=FLAGS, headless=True)
        try:
            page = browser.new_context(ignore_https_errors=True).new_page()
            page.goto(base + "/")
            page.get_by_test_id("login-username").fill(USER)
            page.get_by_test_id("login-password").fill(PASSWORD)
            page.get_by_test_id("login-submit").click()
            expect(page.get_by_test_id("logout")).to_be_visible(timeout=30_000)
            page.goto(base + "/#/live")
            page.wait_for_function("""() => { const t = document.querySelector('[data-testid="live-tile"]');
                                              return t && Number(t.dataset.frames) >= 3; }""", timeout=60_000)
            camera = page.locator('[data-testid="live-tile"]').first.get_attribute("data-camera")
            made.append(("live_view", camera))
            deadline = time.monotonic() + timeout_s
            done: set[str] = set()
            while len(done) < events_wanted and time.monotonic() < deadline:
                page.wait_for_timeout(1000)
                listing = page.evaluate("() => fetch('/api/v1/events?limit=50').then(r => r.json())")["events"]
                for event in listing:
                    if event["id"] in done or not event.get("snapshot_url") or event["started_at"] > time.time() - 6 \
                            or len(done) >= events_wanted:
                        continue
                    event_id = event["id"]
                    if page.evaluate("id => fetch('/api/v1/events/' + id + '/snapshot').then(r => r.status)",
                                     event_id) != 200:
                        continue
                    made.append(("snapshot_view", event_id))
                    page.goto(f"{base}/#/events/{event_id}")
                    page.wait_for_function("""() => { const v = document.querySelector('[data-testid="clip-video"]');
                                                      return v && v.readyState >= 2; }""", timeout=30_000)
                    made.append(("clip_view", event_id))
                    status = page.evaluate("id => fetch('/api/v1/events/' + id + '/clip?download=true')"
                                           ".then(r => r.arrayBuffer().then(() => r.status))", event_id)
                    if status == 200:
                        made.append(("clip_download", event_id))
                    done.add(event_id)
            page.get_by_test_id("logout").click()
            page.wait_for_timeout(500)
        finally:
            browser.close()
    return made


def measure(media: Path, model: Path, events: int, timeout_s: float = 180.0) -> dict:
    with tempfile.TemporaryDirectory(prefix="vigia-bench-audit-") as folder:
        config = _config(Path(folder), media, model)
        db = connect(config.storage.database)
        accounts.add_user(db, USER, PASSWORD, "guard", actor=None, remote="bench", via="bench")
        db.conn.close()
        appliance = Appliance(config)
        appliance.start()
        try:
            with serving(appliance):
                made = _browse(f"https://127.0.0.1:{config.http.port}", events, timeout_s)
        finally:
            appliance.stop()
        with database(config.storage.database) as db:
            logged = {(action, target) for action, target in db.execute(
                "SELECT action, target FROM audit_log WHERE username = ? AND remote = '127.0.0.1'", [USER])}
            by_action = dict(db.execute("SELECT action, count(*) FROM audit_log WHERE username = ? GROUP BY action",
                                        [USER]).fetchall())
            chain_ok = audit_log.verify(db.conn).ok
    found = [access for access in made if access in logged]
    return {"audit_coverage": round(len(found) / len(made), 4) if made else None, "accesses_made": len(made),
            "accesses_audited": len(found), "audit_entries_by_action": by_action, "audit_chain_ok": chain_ok,
            "missed": [list(a) for a in made if a not in logged]}
