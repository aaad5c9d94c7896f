"""Retention and legal hold at central, on the real stack (NGINX, central instances, PostgreSQL, the moto S3
server): old monthly partitions dropped, held rows kept and seen by the dashboard, held objects tagged so that
the bucket's (unchanged) lifecycle rules select none of them, every hold audited, `vigia central` as the operator
runs it."""
from __future__ import annotations

import asyncio
import datetime as dt
import json
import os
import shutil
import subprocess
import sys
import time

import cv2
import numpy as np
import psycopg

from tests.test_sync_media import BUCKET, MediaDevice, bucket, s3, stack  # noqa: F401 - fixtures: central, moto S3
from tests.test_sync_outbox import make_event
from vigia.appliance.encryption import write_encrypted
from vigia.appliance.storage import EventWriter
from vigia.central.dashboard.queries import EventFilter, events

APRIL = dt.datetime(2026, 4, 12, tzinfo=dt.timezone.utc).timestamp()
MAY = dt.datetime(2026, 5, 12, tzinfo=dt.timezone.utc).timestamp()


def vigia(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "vigia.app.cli.main", *args], check=False, capture_output=True,
                          text=True, env={**os.environ, "USER": "tester"})


def ok(done: subprocess.CompletedProcess) -> str:
    assert done.returncode == 0, done.stderr
    return done.stdout


def write_at(device: MediaDevice, starts: list[float]) -> list:
    """Events starting at `starts` (epoch seconds), each with an encrypted snapshot; sent to central."""
    rng = np.random.default_rng(len(device.events))
    writer = EventWriter(device.database, outbox=True, linger_s=0.01).start()
    made = []
    try:
        for start in starts:
            event = make_event(start)
            event.snapshot = f"snapshots/gate/{event.id}.jpg"
            jpeg = cv2.imencode(".jpg", rng.integers(0, 255, (32, 32, 3), dtype=np.uint8))[1].tobytes()
            (device.root / event.snapshot).parent.mkdir(parents=True, exist_ok=True)
            write_encrypted(device.root / event.snapshot, jpeg, device.key)
            writer.put(event)
            made.append(event)
    finally:
        writer.close()
    device.events.extend(made)
    device.drain()
    assert device.backlog() == 0
    return made


def tags(client, key: str) -> dict[str, str]:
    return {t["Key"]: t["Value"] for t in client.get_object_tagging(Bucket=BUCKET, Key=key)["TagSet"]}


def expiring_rules(client, object_tags: dict[str, str]) -> list[str]:
    """The bucket's expiration rules whose filter selects an object with these tags (S3's tag filter semantics)."""
    selected = []
    for rule in client.get_bucket_lifecycle_configuration(Bucket=BUCKET)["Rules"]:
        wanted = rule["Filter"].get("Tag")
        if "Expiration" in rule and wanted and object_tags.get(wanted["Key"]) == wanted["Value"]:
            selected.append(rule["ID"])
    return selected


def dashboard_event_ids(dsn: str) -> set[str]:
    async def fetch():
        async with await psycopg.AsyncConnection.connect(dsn) as conn:
            return {e["id"] for e in await events(conn, EventFilter(), limit=1000, offset=0)}
    return asyncio.run(fetch())


def test_retention_drops_old_partitions_and_keeps_what_legal_holds_hold(stack, bucket, s3, tmp_path):  # noqa: F811
    storage = ["--database", stack.dsn, "--bucket", BUCKET, "--s3-endpoint", s3]
    kept_device = MediaDevice(tmp_path / "keep", stack, "keep-01")     # held as a device
    site_device = MediaDevice(tmp_path / "site", stack, "site-01")     # held through its site
    plain = MediaDevice(tmp_path / "plain", stack, "plain-01")         # one event of it held
    april = write_at(plain, [APRIL, APRIL + 60])
    held_may = write_at(kept_device, [MAY]) + write_at(site_device, [MAY + 10])
    plain_may = write_at(plain, [MAY + 20, MAY + 30])
    recent = write_at(plain, [time.time() - 3600])
    stack.query("INSERT INTO dashboard_device_sites (device_id, site) VALUES ('site-01', 'harbour') RETURNING 1")
    # Track summaries and roll-ups received 200 days ago, and a camera's current state as old.
    for device_id in ("keep-01", "plain-01"):
        for kind, key in (("track", "gate:7:1"), ("metrics", "1778000000"), ("camera_health", "gate")):
            stack.query("INSERT INTO device_records (device_id, kind, key, seq, body, received_at) VALUES"
                        " (%s, %s, %s, 0, '{}', now() - interval '200 days') RETURNING 1", [device_id, kind, key])
    # plain-01's April thumbnails were uploaded long ago: past the lifecycle's 90 days, their objects are gone.
    stack.query("UPDATE media_objects SET uploaded_at = now() - interval '100 days' WHERE event_id = ANY(%s)"
                " RETURNING 1", [[e.id for e in april]])

    refused = vigia("central", "hold", "add", "device", "nobody-01", "--reason", "case 7", *storage)
    assert refused.returncode == 2 and "no device 'nobody-01' among enrolled devices" in refused.stderr
    refused = vigia("central", "hold", "add", "site", "harbour", "--reason", " ", *storage)
    assert refused.returncode == 2 and "give the reason" in refused.stderr
    out = ok(vigia("central", "hold", "add", "device", "keep-01", "--reason", "case 7", "--by", "alice", *storage))
    assert out.startswith("legal hold ") and "objects tagged as held: 1" in out
    device_hold = int(out.split()[2])
    ok(vigia("central", "hold", "add", "site", "harbour", "--reason", "case 8", *storage))
    ok(vigia("central", "hold", "add", "event", plain_may[0].id, "--reason", "case 9", *storage))
    listed = json.loads(ok(vigia("central", "hold", "list", "--json", "--database", stack.dsn)))
    assert [(h["scope"], h["target"], h["created_by"]) for h in listed] == [
        ("device", "keep-01", "alice"), ("site", "harbour", "tester"), ("event", plain_may[0].id, "tester")]

    late = write_at(kept_device, [time.time() - 60])   # uploaded under the hold: tagged as it is recorded
    late_key = stack.query("SELECT key FROM media_objects WHERE event_id = %s", [late[0].id])[0][0]
    assert tags(bucket, late_key) == {"vigia-hold": "true", "vigia-held-kind": "thumbnail"}
    held_ids = {e.id for e in held_may} | {plain_may[0].id}
    for event_id in held_ids:
        key = stack.query("SELECT key FROM media_objects WHERE event_id = %s", [event_id])[0][0]
        assert tags(bucket, key) == {"vigia-hold": "true", "vigia-held-kind": "thumbnail"}
        assert expiring_rules(bucket, tags(bucket, key)) == []   # no lifecycle rule takes a held object
    unheld_key = stack.query("SELECT key FROM media_objects WHERE event_id = %s", [plain_may[1].id])[0][0]
    assert expiring_rules(bucket, tags(bucket, unheld_key)) == ["expire-thumbnails"]

    report = json.loads(ok(vigia("central", "retention", "run", "--days", "100", "--json", *storage)))
    assert report["dropped_partitions"] == ["events_2026_04"]
    assert report["kept_partitions"] == {"events_2026_05": 3} and report["deleted_events"] == 1
    assert report["deleted_records"] == {"track": 1, "metrics": 1, "rejected": 0}
    assert report["deleted_media_rows"] == 2
    partitions = {name for (name,) in stack.query("SELECT relname FROM pg_class WHERE relname LIKE 'events_2026_%%'"
                                                  " AND relkind = 'r'")}
    assert "events_2026_04" not in partitions and "events_2026_05" in partitions
    remaining = {e for (e,) in stack.query("SELECT event_id FROM events")}
    assert remaining == held_ids | {recent[0].id, late[0].id}
    assert dashboard_event_ids(stack.dsn) == remaining   # held rows are where the dashboard looks
    assert sorted(stack.query("SELECT device_id, kind FROM device_records")) == [
        ("keep-01", "camera_health"), ("keep-01", "metrics"), ("keep-01", "track"), ("plain-01", "camera_health")]
    assert stack.query("SELECT count(*) FROM media_objects WHERE event_id = ANY(%s)", [[e.id for e in april]]) == [(0,)]
    assert stack.query("SELECT days, report->'dropped_partitions' FROM retention_runs WHERE finished_at IS NOT NULL"
                       ) == [(100, ["events_2026_04"])]
    text = ok(vigia("central", "retention", "run", "--days", "100", *storage))   # again: nothing more goes
    assert "kept partition events_2026_05: 3 held rows" in text and "dropped partition" not in text

    # Released: keep-01's object goes back to the lifecycle, and its rows go at the next run.
    out = ok(vigia("central", "hold", "release", str(device_hold), "--reason", "case closed", "--by", "bob", *storage))
    assert "released" in out and "objects given back to the lifecycle: 2" in out
    for (key,) in stack.query("SELECT key FROM media_objects WHERE device_id = 'keep-01'"):
        assert tags(bucket, key) == {"vigia-kind": "thumbnail"}
    again = vigia("central", "hold", "release", str(device_hold), *storage)
    assert again.returncode == 2 and f"no active legal hold {device_hold}" in again.stderr
    report = json.loads(ok(vigia("central", "retention", "run", "--days", "100", "--json", *storage)))
    assert report["kept_partitions"] == {"events_2026_05": 2} and report["deleted_events"] == 1
    assert {e for (e,) in stack.query("SELECT event_id FROM events WHERE device_id = 'keep-01'")} == {late[0].id}
    assert stack.query("SELECT kind FROM device_records WHERE device_id = 'keep-01'") == [("camera_health",)]
    assert [h["id"] for h in json.loads(ok(vigia("central", "hold", "list", "--json", "--database", stack.dsn)))] == [
        device_hold + 1, device_hold + 2]
    everything = json.loads(ok(vigia("central", "hold", "list", "--all", "--json", "--database", stack.dsn)))
    assert everything[0]["released_by"] == "bob"
    assert stack.query("SELECT hold_id, action, actor, detail->>'reason' FROM legal_hold_audit ORDER BY id") == [
        (device_hold, "placed", "alice", "case 7"), (device_hold + 1, "placed", "tester", "case 8"),
        (device_hold + 2, "placed", "tester", "case 9"), (device_hold, "released", "bob", "case closed")]
    refused = vigia("central", "retention", "run", "--days", "0", *storage)
    assert refused.returncode == 2 and "keep at least 1 day" in refused.stderr


def test_the_retention_timer_and_its_service_verify(tmp_path):
    from tests.test_systemd_units import UNITS, analyze, local_copy

    service = local_copy("vigia-central-retention.service", tmp_path)
    shutil.copy(UNITS / "vigia-central-retention.timer", tmp_path)
    out = analyze("verify", "--man=no", str(tmp_path / "vigia-central-retention.timer"), str(service))
    assert out.returncode == 0 and out.stdout + out.stderr == "", out.stdout + out.stderr
