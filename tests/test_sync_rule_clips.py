# ruff: noqa: F811 - the fixtures imported below are used as test arguments
"""Rules with `upload_clip: true`: the running appliance, enrolled with central, analyses the demo clip; once
an event of such a rule has ended and its post-roll is recorded, its clip is assembled off the camera thread,
queued in the outbox and sent by the appliance's own uploader through NGINX (device certificates) to central
and an S3 protocol server (moto). Events of the other rules get no clip."""
from __future__ import annotations

import asyncio
import hashlib
import logging
import time
from pathlib import Path

import pytest

from tests.support.waiting import wait_for
from tests.test_sync_media import BUCKET, bucket, s3, stack  # noqa: F401 - fixtures: moto S3, central behind NGINX
from tests.test_sync_outbox import make_event
from vigia.app.appliance import Appliance
from vigia.appliance.config import Record, parse_config
from vigia.appliance.demo import demo_config_text
from vigia.appliance.encryption import open_media
from vigia.appliance.storage import EventWriter, database
from vigia.sync.agent import RuleClips
from vigia.sync.identity import enrol
from vigia.sync.media import MediaSource

CLIPPED_RULE = "meeting"  # the demo's loiter rule at the meeting point: one event in the demo clip


def outbox_clips(path: Path) -> list[str]:
    with database(path) as db:
        return [key for (key,) in db.execute("SELECT key FROM outbox WHERE kind = 'clip'")]


@pytest.mark.slow
def test_a_rule_with_upload_clip_sends_its_events_clips_to_s3(stack, bucket, tmp_path: Path, demo_clip: Path,
                                                             default_model: Path, caplog):
    text = demo_config_text(demo_clip, tmp_path, 0).replace(
        "    loop: true\n", "    realtime: false\n    record: {pre_roll: 2, post_roll: 1}\n")
    text = text.replace("  model: yolox_nano\n", f"  model: {default_model}\n")
    text = text.replace("seconds: 4, alert: true}", "seconds: 4, alert: true, upload_clip: true}")
    config = parse_config(text, source="enrolled demo with a clip rule")
    assert [rule.name for rule in config.cameras[0].rules if rule.upload_clip] == [CLIPPED_RULE]
    asyncio.run(enrol(tmp_path / "sync", stack.url, stack.token("clips-01"), stack.ca_pem))
    caplog.set_level(logging.INFO, logger="vigia.sync.agent")

    def central_clips() -> dict[str, tuple[str, str]]:
        return {event_id: (key, sha256) for event_id, key, sha256 in stack.query(
            "SELECT event_id, key, sha256 FROM media_objects WHERE device_id = 'clips-01' AND kind = 'clip'")}

    appliance = Appliance(config)
    appliance.start()
    try:
        assert appliance.wait(timeout=120), "the clip was not analysed in 2 minutes"
        appliance.flush_events()
        with database(config.storage.database) as db:
            rules = dict(db.execute("SELECT id, rule FROM events").fetchall())
        clipped = {event_id for event_id, rule in rules.items() if rule == CLIPPED_RULE}
        assert clipped and len(rules) > len(clipped), rules  # the demo clip has events of the rule and of others
        # Made once the post-roll (1 s) and a margin are past, then sent when the uploader is idle.
        assert wait_for(lambda: set(central_clips()) == clipped, 45, 0.5), (central_clips(), clipped)
        assert wait_for(lambda: outbox_clips(config.storage.database) == [], 10, 0.2)
    finally:
        appliance.stop()

    with database(config.storage.database) as db:
        kept = dict(db.execute("SELECT id, clip FROM events").fetchall())
    assert {event_id for event_id, clip in kept.items() if clip} == clipped  # the clip is kept with its event
    for event_id, (key, sha256) in central_clips().items():
        assert key == f"devices/clips-01/clips/{event_id}.mp4"
        with open_media(tmp_path / f"media/concourse/clips/{event_id}.mp4", appliance.key) as media:
            local = media.read()
        assert len(local) > 10_000
        assert sha256 == hashlib.sha256(local).hexdigest()
        stored = bucket.get_object(Bucket=BUCKET, Key=key)["Body"].read()
        assert hashlib.sha256(stored).hexdigest() == sha256
    other_clips = list((tmp_path / "media/concourse/clips").glob("*.mp4"))
    assert {path.stem for path in other_clips} == clipped  # no clip was assembled for the other rules' events
    queued = [r.getMessage() for r in caplog.records if r.name == "vigia.sync.agent" and "queued for central" in r.getMessage()]
    assert len(queued) == len(clipped)
    assert not [r for r in caplog.records if r.name == "vigia.sync.agent" and r.levelno >= logging.WARNING]


def test_a_clip_that_cannot_be_made_is_one_warning_naming_the_event(tmp_path: Path, caplog):
    """Footage gone (retention) or never recorded: the worker warns once per event and goes on; recording off
    is known when the event ends, so nothing is scheduled."""
    database = tmp_path / "vigia.db"
    gone, off = make_event(time.time() - 30), make_event(time.time() - 20)
    for event, camera in ((gone, "gate"), (off, "yard")):
        event.camera, event.end, event.ended_at = camera, event.start + 2, event.started_at + 2
    writer = EventWriter(database, outbox=True, linger_s=0.01).start()
    writer.put(gone)
    writer.put(off)
    writer.close()
    settings = {"gate": Record(post_roll=0), "yard": Record(mode="off")}
    clips = RuleClips(database, MediaSource(tmp_path, None), settings.__getitem__, lambda camera: []).start()
    try:
        with caplog.at_level(logging.INFO, logger="vigia.sync.agent"):
            clips.request(off.id, "yard", off.ended_at)
            clips.request(gone.id, "gate", gone.ended_at)
            assert wait_for(lambda: any(gone.id in r.getMessage() for r in caplog.records), 10, 0.1)
    finally:
        clips.close()
    warnings = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert len(warnings) == 2, warnings
    assert f"event {off.id}: no clip for central, camera yard does not record (record.mode off)" in warnings
    assert any(w.startswith(f"event {gone.id} of camera gate: its clip cannot be uploaded: ") and "no footage" in w
               for w in warnings), warnings
    assert outbox_clips(database) == []
