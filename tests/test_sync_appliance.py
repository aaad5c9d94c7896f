"""The running appliance, enrolled with central: the demo clip analysed for real, its events and their
thumbnails sent by the appliance's own uploader thread through NGINX (device certificates) to central,
PostgreSQL and an S3 protocol server (moto)."""
from __future__ import annotations

import asyncio
import hashlib
from pathlib import Path

import pytest

from tests.support.waiting import wait_for
from tests.test_sync_media import BUCKET, s3, stack  # noqa: F401 - fixtures: moto S3, central behind NGINX
from vigia.app.appliance import Appliance
from vigia.appliance.config import parse_config
from vigia.appliance.demo import demo_config_text
from vigia.appliance.encryption import open_media
from vigia.appliance.outbox import backlog
from vigia.appliance.storage import database
from vigia.sync.identity import enrol

pytestmark = pytest.mark.slow


def test_an_enrolled_appliance_delivers_its_events_and_thumbnails(stack, tmp_path: Path, demo_clip: Path,  # noqa: F811
                                                                  default_model: Path):
    text = demo_config_text(demo_clip, tmp_path, 0).replace("    loop: true\n", "    realtime: false\n")
    text = text.replace("  model: yolox_nano\n", f"  model: {default_model}\n")
    config = parse_config(text, source="enrolled demo")
    identity = asyncio.run(enrol(tmp_path / "sync", stack.url, stack.token("site-7"), stack.ca_pem)).identity
    assert identity.device_id == "site-7"

    appliance = Appliance(config)
    appliance.start()
    try:
        assert appliance.wait(timeout=120), "the clip was not analysed in 2 minutes"
        appliance.flush_events()
        with database(config.storage.database) as db:
            assert wait_for(lambda: backlog(db.conn).records == 0, 60, 0.5), backlog(db.conn)
            local = {row["id"]: row["snapshot"] for row in db.query("select id, snapshot from events")}
    finally:
        appliance.stop()

    assert len(local) >= 5
    central = dict(stack.query("SELECT event_id, count(*) FROM events WHERE device_id = %s GROUP BY 1", ["site-7"]))
    assert set(central) == set(local) and set(central.values()) == {1}  # every event, once
    health = stack.query("SELECT body->>'state' FROM device_records WHERE device_id = %s AND kind = 'camera_health'",
                         ["site-7"])
    assert health and health[0][0] in ("online", "ended"), health  # the camera's last state reached central
    objects = {row[0]: row[1] for row in stack.query(
        "SELECT event_id, sha256 FROM media_objects WHERE device_id = %s AND kind = 'thumbnail'", ["site-7"])}
    with_snapshots = {event_id: path for event_id, path in local.items() if path}
    assert set(objects) == set(with_snapshots)
    for event_id, path in with_snapshots.items():
        with open_media(tmp_path / path, appliance.key) as media:
            assert objects[event_id] == hashlib.sha256(media.read()).hexdigest()
