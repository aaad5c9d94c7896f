"""A guard plays the clip of an H.265 camera in Chromium, which decodes no HEVC: the appliance serves an H.264
copy (vigia.appliance.recording.playable); a download is the footage as recorded."""
from __future__ import annotations

import time

import pytest
from playwright.sync_api import expect
from support.appliance import running_appliance
from support.browser import chromium
from support.servers import free_port, start_rtsp_server
from support.waiting import wait_for

from tests.conftest import shared_dir
from vigia.app.bench.camera_media import PROFILES, make_clip
from vigia.appliance.config import parse_config
from vigia.appliance.storage import connect
from vigia.local_ui.frontend import dist_dir

pytestmark = pytest.mark.slow

# The codec box of the MP4 a URL serves: avcC (H.264) or hvcC (H.265).
CODEC_BOX = """async url => {
    const bytes = new Uint8Array(await (await fetch(url)).arrayBuffer());
    const text = new TextDecoder('latin1').decode(bytes.subarray(0, Math.min(bytes.length, 1 << 20)));
    return ['avcC', 'hvcC'].filter(box => text.includes(box));
}"""
PLAY = """url => new Promise(resolve => {
    const v = document.createElement('video');
    v.muted = true;
    v.onerror = () => resolve({error: v.error && v.error.code});
    v.ontimeupdate = () => { if (v.currentTime > 0.3) resolve({width: v.videoWidth, height: v.videoHeight}); };
    v.oncanplay = () => v.play();
    v.src = url;
    document.body.appendChild(v);
})"""


def test_an_h265_clip_plays_in_chromium(default_model, tmp_path):
    assert (dist_dir() / "index.html").is_file(), f"front end not built in {dist_dir()}: run `make ui`"
    main_clip, sub_clip = PROFILES["4k30-h265-bframes"]
    traffic = shared_dir() / "media" / "traffic-720p.mp4"
    main, sub = make_clip(traffic, main_clip), make_clip(traffic, sub_clip)
    rtsp_port = free_port()
    config = parse_config(f"""
cameras:
  - name: gate
    url: rtsp://127.0.0.1:{rtsp_port}/main
    detect: {{url: "rtsp://127.0.0.1:{rtsp_port}/sub"}}
    record: {{pre_roll: 1, post_roll: 1, segment_seconds: 2}}
detector:
  model: {default_model}
storage:
  data_dir: {tmp_path}
http:
  port: {free_port()}
""")
    with start_rtsp_server(main, port=rtsp_port, path="main", more={"sub": sub}), \
            running_appliance(config, {"gina": ("guard-pass-1", "guard")}) as running, chromium() as browser:
        db = connect(tmp_path / "vigia.db")
        first_event = lambda: db.execute("select id from events order by started_at limit 1").fetchone()  # noqa: E731
        assert wait_for(first_event, 60), "no event from the sub-stream"
        event_id = first_event()[0]
        page = browser.new_context(ignore_https_errors=True).new_page()
        page.goto(running.base + "/")
        page.get_by_test_id("login-username").fill("gina")
        page.get_by_test_id("login-password").fill("guard-pass-1")
        page.get_by_test_id("login-submit").click()
        expect(page.get_by_test_id("logout")).to_be_visible(timeout=15_000)

        clip = f"/api/v1/events/{event_id}/clip"
        deadline = time.monotonic() + 120  # footage comes once a segment is complete; a 4K transcode takes a while
        while (played := page.evaluate(PLAY, clip)).get("error") is not None:
            assert time.monotonic() < deadline, f"the clip never played: {played}"
            page.wait_for_timeout(1000)
        assert played == {"width": 1920, "height": 1080}  # the H.264 copy, scaled for a guard's player
        assert page.evaluate(CODEC_BOX, clip) == ["avcC"]
        assert page.evaluate(CODEC_BOX, clip + "?download=true") == ["hvcC"]  # the download: 4K H.265 as recorded
        assert list((tmp_path / "cache" / "playable").glob("*.h264.mp4"))
        page.context.close()
