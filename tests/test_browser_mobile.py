"""The mobile app's web build (mobile/dist: `npx expo export --platform web`, react-native-web) in Debian's headless
Chromium at a phone's size (390x844), against a real central: the API and the dashboard's sign-in page on a new
PostgreSQL database, clips in an S3 protocol server (moto), all on one origin as the gateway serves them.

A supervisor signs in (authorization code with PKCE, in the sign-in window the app opens), sees the open alert and
the events, opens an event (central's verdict, its thumbnail, its clip streamed from a presigned link), acknowledges the alert
(central's alert state changes: every view of it shows it acknowledged) and signs out (the sign-in is revoked).
Screenshots: test-artifacts/mobile-*.png. The build must exist (`make mobile-web`, part of `make setup`).
"""
from __future__ import annotations

import asyncio
import datetime as dt
import hashlib
import subprocess
import uuid
from pathlib import Path

import psycopg
import pytest
from playwright.sync_api import Browser, expect
from support.browser import chromium

from tests.support.app_central import USERS, AppCentral, app_central
from tests.support.s3 import moto_s3
from vigia.central.alerts import store
from vigia.central.alerts.conditions import Finding
from vigia.central.ingest.media import MediaSettings, init_bucket, s3_client
from vigia.central.ingest.schema import ensure_partitions, month_of
from vigia.scene.events import new_event_id

pytestmark = pytest.mark.slow

BUILD = Path(__file__).resolve().parents[1] / "mobile" / "dist"
PHONE = {"width": 390, "height": 844}


def _clip(source: Path, folder: Path) -> tuple[bytes, bytes]:
    """Two seconds of the demo clip as a browser-playable MP4 (H.264, faststart), and its first frame (JPEG)."""
    subprocess.run(["ffmpeg", "-loglevel", "error", "-y", "-i", str(source), "-t", "2", "-vf", "scale=640:-2",
                    "-c:v", "libx264", "-pix_fmt", "yuv420p", "-movflags", "+faststart", "-an", str(folder / "clip.mp4")],
                   check=True, timeout=120)
    subprocess.run(["ffmpeg", "-loglevel", "error", "-y", "-i", str(folder / "clip.mp4"), "-frames:v", "1",
                    str(folder / "thumb.jpg")], check=True, timeout=60)
    return (folder / "clip.mp4").read_bytes(), (folder / "thumb.jpg").read_bytes()


async def _seed(dsn: str, clip: bytes, thumbnail: bytes, media: MediaSettings) -> tuple[str, int]:
    started = dt.datetime.now(dt.timezone.utc).timestamp() - 600
    event_id = new_event_id(started)
    key = f"gate-01/clips/{event_id}.mp4"
    s3_client(media).put_object(Bucket=media.bucket, Key=key, Body=clip, ContentType="video/mp4")
    thumb_key = f"devices/gate-01/thumbnails/{event_id}.jpg"
    s3_client(media).put_object(Bucket=media.bucket, Key=thumb_key, Body=thumbnail, ContentType="image/jpeg")
    async with await psycopg.AsyncConnection.connect(dsn, autocommit=True) as conn:
        await ensure_partitions(conn, {month_of(started)})
        await conn.execute("INSERT INTO devices (device_id, enrolled_at, last_seen_at) VALUES ('gate-01', now(), now())")
        await conn.execute("INSERT INTO dashboard_device_sites (device_id, site) VALUES ('gate-01', 'north')")
        await conn.execute(
            """INSERT INTO events (device_id, event_id, seq, camera, rule, kind, zone, label, track_id, start, started_at,
               max_score, box, alert, path, attributes) VALUES ('gate-01', %s, 1, 'gate', 'entry', 'enter', 'door',
               'person', 4, 1.5, to_timestamp(%s), 0.8, '[0.1,0.2,0.3,0.4]', true, '[]', '{}')""", [event_id, started])
        await conn.execute("INSERT INTO media_objects (device_id, key, kind, event_id, size, sha256) VALUES"
                           " ('gate-01', %s, 'clip', %s, %s, %s)", [key, event_id, len(clip), hashlib.sha256(clip).hexdigest()])
        await conn.execute("INSERT INTO media_objects (device_id, key, kind, event_id, size, sha256) VALUES"
                           " ('gate-01', %s, 'thumbnail', %s, %s, %s)",
                           [thumb_key, event_id, len(thumbnail), hashlib.sha256(thumbnail).hexdigest()])
        job = uuid.uuid4()
        await conn.execute("INSERT INTO reanalysis_jobs (job_id, device_id, event_id, camera, reason, priority, state)"
                           " VALUES (%s, 'gate-01', %s, 'gate', 'sample', 'normal', 'done')", [job, event_id])
        await conn.execute("INSERT INTO reanalysis_results (job_id, device_id, camera, frames, duration_s, model,"
                           " detector_share, cpu_s, worker) VALUES (%s, 'gate-01', 'gate', 10, 4, 'yolox_s', 0.5, 1, 'w1')",
                           [job])
        await conn.execute("INSERT INTO reanalysis_verdicts (job_id, device_id, event_id, camera, rule, edge_label, verdict,"
                           " agreement, started_at) VALUES (%s, 'gate-01', %s, 'gate', 'entry', 'person', 'confirmed', 0.9,"
                           " to_timestamp(%s))", [job, event_id, started])
        opened, _ = await store.sync(conn, [Finding("camera_offline", "gate-01/gate", "gate-01", "gate",
                                                    "gate offline for 6 min", {"minutes": 6})],
                                     dt.datetime.now(dt.timezone.utc))
    return event_id, opened[0].id


@pytest.fixture(scope="module")
def central(tmp_path_factory, demo_clip: Path) -> AppCentral:
    assert (BUILD / "index.html").is_file(), f"the app's web build is missing in {BUILD}: run `make mobile-web`"
    clip, thumbnail = _clip(demo_clip, tmp_path_factory.mktemp("mobile"))
    with pytest.MonkeyPatch.context() as env, moto_s3() as endpoint:
        env.setenv("AWS_ACCESS_KEY_ID", "vigia-test-key")
        env.setenv("AWS_SECRET_ACCESS_KEY", "vigia-test-secret")
        media = MediaSettings(endpoint, "vigia-mobile-test")
        init_bucket(media)
        with app_central(web_build=BUILD, media=media) as central:
            central.event_id, central.alert_id = asyncio.run(_seed(central.dsn, clip, thumbnail, media))
            yield central


@pytest.fixture(scope="module")
def browser() -> Browser:
    with chromium(("--autoplay-policy=no-user-gesture-required",)) as browser:
        yield browser


def test_sign_in_feed_event_clip_acknowledge_and_sign_out(central: AppCentral, browser: Browser, artifacts_dir: Path):
    page = browser.new_context(viewport=PHONE, locale="en-US", color_scheme="dark", is_mobile=True,
                               has_touch=True).new_page()
    page.goto(central.gateway + "/")
    expect(page.get_by_test_id("sign-in")).to_be_enabled(timeout=30_000)
    page.screenshot(path=artifacts_dir / "mobile-1-sign-in.png")
    with page.expect_popup() as opened:
        page.get_by_test_id("sign-in").click()
    window = opened.value
    window.get_by_label("Username").fill("otto")
    window.get_by_label("Password").fill(USERS["otto"][0])
    window.get_by_role("button", name="Sign in").click()

    alert = page.get_by_test_id(f"alert-{central.alert_id}")
    expect(alert).to_contain_text("Camera offline: gate-01/gate", timeout=30_000)
    expect(page.get_by_test_id(f"event-{central.event_id}")).to_contain_text("person · gate · north")
    page.screenshot(path=artifacts_dir / "mobile-2-feed.png")
    granted = central.query("SELECT username, scopes FROM user_tokens WHERE revoked_at IS NULL")
    assert [(user, "alerts:write" in scopes) for user, scopes in granted] == [("otto", True)]

    page.get_by_test_id(f"event-{central.event_id}").click()
    expect(page.get_by_test_id("verdict")).to_have_text("Verdict: confirmed", timeout=15_000)
    expect(page.get_by_test_id("thumbnail")).to_be_visible(timeout=15_000)
    page.wait_for_function("() => [...document.images].some(i => i.src.includes('/thumbnails/') && i.naturalWidth > 0)",
                           timeout=30_000)
    video = page.locator("video")
    expect(video).to_have_count(1, timeout=15_000)
    page.wait_for_function("() => { const v = document.querySelector('video'); return v && v.readyState >= 2 }",
                           timeout=30_000)
    assert f"gate-01/clips/{central.event_id}.mp4" in video.evaluate("v => v.currentSrc")
    page.screenshot(path=artifacts_dir / "mobile-3-event.png")

    page.get_by_test_id("back").click()
    page.get_by_test_id(f"alert-{central.alert_id}").click()
    page.get_by_test_id("acknowledge").click()
    expect(page.get_by_test_id("acked")).to_have_text("Acknowledged: otto", timeout=15_000)
    page.screenshot(path=artifacts_dir / "mobile-4-acknowledged.png")
    assert central.query("SELECT acked_by FROM central_alerts WHERE id = %s", [central.alert_id]) == [("otto",)]
    assert central.query("SELECT via FROM central_alert_audit WHERE alert_id = %s AND action = 'acknowledged'",
                         [central.alert_id]) == [("app",)]

    page.get_by_test_id("sign-out").click()
    expect(page.get_by_test_id("sign-in")).to_be_visible(timeout=15_000)
    assert central.query("SELECT count(*) FROM user_tokens WHERE revoked_at IS NULL") == [(0,)]
