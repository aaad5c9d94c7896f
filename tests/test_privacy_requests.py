"""Data-subject requests and the audit of access: erasure end to end (appliance -> NGINX with device certificates ->
central -> PostgreSQL and an S3 protocol server), legal holds on both sides, the audit log's hash chain, the report."""
from __future__ import annotations

import asyncio
import contextlib
import io
import json
import subprocess
import time
import uuid
from pathlib import Path

import boto3
import psycopg
import pytest
from botocore.exceptions import ClientError

from tests.support.s3 import moto_s3
from tests.test_sync_media import BUCKET, MediaDevice
from vigia.app.cli.main import main
from vigia.app.devstack import central_stack
from vigia.appliance import audit_log
from vigia.appliance.privacy.requests import residual_references
from vigia.appliance.storage import connect, database
from vigia.central.holds import place
from vigia.central.ingest.media import MediaSettings, MediaStore
from vigia.central.privacy.erasure import ErasureRequest
from vigia.central.privacy.erasure import residual_references as central_residual
from vigia.local_ui.accounts import audit


def vigia(*args: str) -> subprocess.CompletedProcess:
    """`vigia ARGS` in this process (the commands are what a shell runs; a process each would cost seconds)."""
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        code = main(list(args))
    return subprocess.CompletedProcess(["vigia", *args], code, out.getvalue(), err.getvalue())


@pytest.fixture(scope="module")
def s3():
    with pytest.MonkeyPatch.context() as env:
        env.setenv("AWS_ACCESS_KEY_ID", "vigia-test-key")
        env.setenv("AWS_SECRET_ACCESS_KEY", "vigia-test-secret")
        with moto_s3() as endpoint:
            yield endpoint


@pytest.fixture(scope="module")
def bucket(s3):
    return boto3.client("s3", endpoint_url=s3, region_name="us-east-1")


@pytest.fixture(scope="module")
def stack(s3, tmp_path_factory):
    made = vigia("central", "init", "--s3-endpoint", s3, "--bucket", BUCKET)
    assert made.returncode == 0, made.stderr
    with central_stack(tmp_path_factory.mktemp("central"), instances=1,
                       central_args=["--s3-endpoint", s3, "--bucket", BUCKET]) as stack:
        yield stack


def config_file(root: Path) -> Path:
    path = root / "vigia.yaml"
    path.write_text(f"storage:\n  data_dir: {root}\nprivacy:\n  controller: Condominio Exemplo\n"
                    "  contact: dpo@example.com\n")
    return path


def seed_reanalysis(stack, bucket, device_id: str, event) -> str:
    """A finished re-analysis of `event` with a hard example frame in the bucket and in a dataset."""
    key = f"hard-examples/{device_id}/gate/{uuid.uuid4()}/0001000.jpg"
    bucket.put_object(Bucket=BUCKET, Key=key, Body=b"\xff\xd8frame")
    with psycopg.connect(stack.dsn, autocommit=True) as conn:
        job = conn.execute("INSERT INTO reanalysis_jobs (device_id, event_id, camera, reason, priority, state)"
                           " VALUES (%s, %s, 'gate', 'alert', 'alert', 'done') RETURNING job_id",
                           [device_id, event.id]).fetchone()[0]
        conn.execute("INSERT INTO reanalysis_results (job_id, device_id, camera, frames, duration_s, model,"
                     " detector_share, cpu_s, worker) VALUES (%s, %s, 'gate', 10, 2, 'yolox', 0.5, 1, 'w1')",
                     [job, device_id])
        conn.execute("INSERT INTO reanalysis_verdicts (job_id, device_id, event_id, camera, rule, edge_label, verdict,"
                     " agreement, started_at) VALUES (%s, %s, %s, 'gate', 'entry', 'person', 'confirmed', 1,"
                     " to_timestamp(%s))", [job, device_id, event.id, event.started_at])
        example = conn.execute("INSERT INTO hard_examples (job_id, device_id, camera, taken_at, reason, key, width,"
                               " height, labels) VALUES (%s, %s, 'gate', to_timestamp(%s), 'missed', %s, 64, 48, '[]')"
                               " RETURNING id", [job, device_id, event.started_at + 1, key]).fetchone()[0]
        conn.execute("INSERT INTO datasets (name, version, created_by, examples) VALUES (%s, 1, 'test', 1)",
                     [f"ds-{device_id}"])
        conn.execute("INSERT INTO dataset_examples (name, version, example_id) VALUES (%s, 1, %s)",
                     [f"ds-{device_id}", example])
    return key


def test_erasure_reaches_central_and_leaves_no_reference(stack, bucket, s3, tmp_path):
    device = MediaDevice(tmp_path, stack, "dsr-01")
    events = device.write_with_snapshots(4)
    device.drain()   # events and thumbnails at central
    subject, others = events[:2], events[2:]
    start, end = subject[0].started_at - 0.5, subject[-1].started_at + 0.5
    hard_example = seed_reanalysis(stack, bucket, "dsr-01", subject[0])
    with database(device.database) as db:   # what else names the subject's events here
        audit(db, "event_keep", username="guard", target=others[0].id)   # kept, but outside the window
        db.execute("INSERT INTO event_comments (event_id, at, username, kind, text) VALUES (?, ?, 'guard', 'comment',"
                   " 'seen')", [subject[0].id, time.time()])
        db.execute("INSERT INTO dead_letters (seq, kind, key, body, error, created_at, rejected_at) VALUES (999, 'event',"
                   " ?, '{}', 'refused', 0, 0)", [subject[1].id])
        db.execute("INSERT INTO notifications (sink, key, body, created_at) VALUES ('mqtt', ?, '{}', 0)",
                   [f"{subject[0].id}:open"])
    thumbnails = [f"devices/dsr-01/thumbnails/{e.id}.jpg" for e in subject]
    for key in thumbnails:
        bucket.head_object(Bucket=BUCKET, Key=key)
    with psycopg.connect(stack.dsn, autocommit=True) as conn:   # the seeded job, and any central's policy queued
        jobs = conn.execute("SELECT count(*) FROM reanalysis_jobs WHERE event_id = ANY(%s)",   # (its 5% sample)
                            [[e.id for e in subject]]).fetchone()[0]

    erased = vigia("privacy", "request", "erase", "-c", str(config_file(tmp_path)), "--camera", "gate",
                   "--from", str(start), "--to", str(end), "--reason", "request 2026/17 of J. Silva", "--by", "dpo")
    assert erased.returncode == 0, erased.stderr
    receipt = json.loads(erased.stdout)
    assert sorted(receipt["appliance"]["events"]) == sorted(e.id for e in subject)
    assert receipt["appliance"]["event_comments"] == 1 and receipt["appliance"]["dead_letters"] == 1
    assert receipt["appliance"]["notifications"] == 1 and len(receipt["appliance"]["files"]) == 2
    central = receipt["central"]
    assert central["state"] == "erased", central
    assert sorted(central["objects"]) == sorted(thumbnails + [hard_example])
    assert central["rows"]["events"] == 2 and central["rows"]["dataset_entries"] == 1
    assert central["rows"]["reanalysis_jobs"] == jobs >= 1 and central["rows"]["hard_examples"] == 1

    with database(device.database) as db:
        assert set(residual_references(db.conn, tmp_path, receipt).values()) == {0}
        assert db.execute("SELECT state FROM privacy_requests WHERE id = ?", [receipt["request"]]).fetchone() == ("done",)
        assert db.execute("SELECT count(*) FROM events").fetchone() == (2,)
        assert audit_log.verify(db.conn).ok
    request = ErasureRequest(receipt["request"], "gate", start, end, [e.id for e in subject])
    store = MediaStore(MediaSettings(s3, BUCKET))

    async def residual():
        async with await psycopg.AsyncConnection.connect(stack.dsn) as conn:
            return await central_residual(conn, store, "dsr-01", request, thumbnails + [hard_example])
    assert set(asyncio.run(residual()).values()) == {0}
    for key in thumbnails:
        with pytest.raises(ClientError, match="404"):
            bucket.head_object(Bucket=BUCKET, Key=key)
    assert stack.query("SELECT examples FROM datasets WHERE name = 'ds-dsr-01'") == [(0,)]
    assert stack.query("SELECT count(*) FROM events WHERE device_id = 'dsr-01'") == [(2,)]   # the others stay
    assert stack.query("SELECT state FROM privacy_erasures WHERE device_id = 'dsr-01'") == [("erased",)]
    # The audit head went to central with the outbox: a device that lost entries past it is found out.
    device.drain()
    ((body,),) = stack.query("SELECT body FROM device_records WHERE device_id = 'dsr-01' AND kind = 'audit_head'")
    with database(device.database) as db:
        assert audit_log.verify(db.conn, audit_log.Head(body["id"], body["hash"])).ok


def test_a_legal_hold_refuses_erasure_here_or_at_central_and_says_why(stack, tmp_path):
    device = MediaDevice(tmp_path, stack, "dsr-02")
    events = device.write_with_snapshots(2)
    device.drain()
    config = config_file(tmp_path)
    window = ["--camera", "gate", "--from", str(events[0].started_at - 0.5), "--to", str(events[-1].started_at + 0.5)]
    with database(device.database) as db:   # a guard keeps the first event (the appliance's hold)
        db.execute("UPDATE events SET keep = 1 WHERE id = ?", [events[0].id])
        audit(db, "event_keep", username="maria", target=events[0].id)
    refused = vigia("privacy", "request", "erase", "-c", str(config), *window, "--reason", "r1")
    assert refused.returncode == 1
    assert f"event {events[0].id}" in refused.stderr and "kept by maria" in refused.stderr
    with database(device.database) as db:
        assert db.execute("SELECT count(*) FROM events").fetchone() == (2,)   # nothing erased
        assert db.execute("SELECT state FROM privacy_requests").fetchall() == [("refused",)]
        db.execute("UPDATE events SET keep = 0")

    async def hold():
        async with await psycopg.AsyncConnection.connect(stack.dsn, autocommit=True) as conn:
            await place(conn, "device", "dsr-02", "police case 123/2026", "legal")
    asyncio.run(hold())
    erased = vigia("privacy", "request", "erase", "-c", str(config), *window, "--reason", "r2")
    assert erased.returncode == 0, erased.stderr
    receipt = json.loads(erased.stdout)
    assert receipt["central"]["state"] == "refused"
    assert "police case 123/2026" in receipt["central"]["message"]
    assert stack.query("SELECT count(*) FROM events WHERE device_id = 'dsr-02'") == [(2,)]   # central kept its copy
    assert stack.query("SELECT state FROM privacy_erasures WHERE device_id = 'dsr-02'") == [("refused",)]


def test_the_hash_chain_finds_changed_removed_and_truncated_entries(tmp_path):
    path = tmp_path / "vigia.db"
    db = connect(path)
    for i in range(5):
        audit(db, "clip_view", username="guard", target=f"event-{i}", remote="10.0.0.7")
    good = audit_log.verify(db.conn)
    assert good.ok and good.entries == 5
    conn = db.conn
    conn.execute("UPDATE audit_log SET username = 'nobody' WHERE id = 3")
    changed = audit_log.verify(conn)
    assert not changed.ok and changed.broken_at == 3 and "changed" in changed.reason
    conn.execute("UPDATE audit_log SET username = 'guard' WHERE id = 3")
    assert audit_log.verify(conn).ok
    conn.execute("DELETE FROM audit_log WHERE id = 2")
    removed = audit_log.verify(conn)
    assert not removed.ok and removed.broken_at == 3 and "removed" in removed.reason
    db.conn.close()

    db = connect(tmp_path / "other.db")
    for i in range(3):
        audit(db, "snapshot_view", username="guard", target=f"event-{i}")
    head = audit_log.head(db.conn)
    db.conn.execute("DELETE FROM audit_log WHERE id = 3")   # the newest entry removed: the rest still chains
    assert audit_log.verify(db.conn).ok
    truncated = audit_log.verify(db.conn, head)   # but central holds the head
    assert not truncated.ok and "gone" in truncated.reason
    assert db.execute("SELECT json_extract(body, '$.id') FROM outbox WHERE kind = 'audit_head'").fetchone() == (3,)
    db.conn.close()
    cli_config = config_file(tmp_path)
    (tmp_path / "vigia.db").rename(tmp_path / "vigia.db.broken")
    (tmp_path / "other.db").rename(tmp_path / "vigia.db")
    broken = vigia("privacy", "verify", "-c", str(cli_config), "--head", f"{head.id}:{head.hash}")
    assert broken.returncode == 1 and json.loads(broken.stdout)["ok"] is False


def test_report_and_record_of_processing(tmp_path):
    config = config_file(tmp_path)
    now = time.time()
    with database(tmp_path / "vigia.db") as db:
        audit(db, "clip_view", username="maria", target="01JEVENT", remote="192.0.2.10", now=now - 60)
        audit(db, "live_view", username="joao", target="gate", remote="192.0.2.11", now=now - 30)
        audit(db, "layout_saved", username="admin", target="gate", remote="192.0.2.12", now=now - 20)
        audit(db, "clip_view", username="old", target="01JOLD", now=now - 10 * 86400)   # before the period
    out = tmp_path / "report.html"
    made = vigia("privacy", "report", str(out), "-c", str(config), "--from", str(now - 3600), "--to", str(now + 60))
    assert made.returncode == 0, made.stderr
    text = out.read_text()
    assert "hash chain <strong>holds</strong>" in text
    assert "192.0.2.10" in text and "joao" in text and "layout_saved" in text and "01JOLD" not in text
    assert "Condominio Exemplo" in text and "<script" not in text
    record = vigia("privacy", "record", "-c", str(config))
    assert record.returncode == 0, record.stderr
    processing = json.loads(record.stdout)
    assert processing["controller"] == "Condominio Exemplo" and processing["contact"] == "dpo@example.com"
    assert processing["event_retention_days"] == {"default": 30.0} and processing["recipients"] == []
    assert processing["copies"] == {"litestream_replica_days": 7.0, "central_backup_days": 35.0}  # storage.replica's default
    bad = vigia("privacy", "report", str(out), "-c", str(config), "--from", str(now), "--to", str(now - 1))
    assert bad.returncode == 2 and "--to" in bad.stderr


def test_a_window_with_an_event_still_going_on_is_refused(tmp_path):
    from tests.test_sync_outbox import make_event
    from vigia.appliance.privacy.requests import RequestError, Window, erase
    from vigia.appliance.storage import EventWriter

    event = make_event(time.time() - 5)   # no end yet: the pipeline would write it again
    writer = EventWriter(tmp_path / "vigia.db").start()
    writer.put(event)
    writer.close()
    with database(tmp_path / "vigia.db") as db:
        with pytest.raises(RequestError, match=f"event {event.id} in the window is still going on"):
            erase(db.conn, tmp_path, Window("gate", event.started_at - 1, event.started_at + 1), "dpo", "r")
        assert db.execute("SELECT count(*) FROM events").fetchone() == (1,)
        with pytest.raises(RequestError, match="reason"):
            erase(db.conn, tmp_path, Window("gate", event.started_at - 1, event.started_at + 1), "dpo", " ")
    with pytest.raises(RequestError, match="to: the end of the window"):
        Window("gate", 10.0, 5.0)


def test_a_subjects_package_without_footage_holds_the_events_and_a_manifest_of_hashes(tmp_path, default_model):
    import hashlib

    from tests.test_sync_outbox import make_event
    from vigia.appliance.storage import EventWriter

    events = [make_event(1_780_000_000.0 + i) for i in range(3)]
    writer = EventWriter(tmp_path / "vigia.db").start()
    for event in events:
        writer.put(event)
    writer.close()
    config = config_file(tmp_path)
    config.write_text(config.read_text() + f"detector:\n  model: {default_model}\n")
    out = tmp_path / "package"
    made = vigia("privacy", "request", "export", str(out), "-c", str(config), "--camera", "gate",
                 "--from", str(events[0].started_at - 0.5), "--to", str(events[1].started_at + 0.5),
                 "--reason", "access request 7", "--keep-event", events[0].id)
    assert made.returncode == 0, made.stderr
    assert "no footage" in made.stdout
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["kind"] == "vigia-subject-access/1" and manifest["events"] == 2
    assert [e["id"] for e in json.loads((out / "events.json").read_text())] == [events[0].id, events[1].id]
    for entry in manifest["files"]:
        assert hashlib.sha256((out / entry["file"]).read_bytes()).hexdigest() == entry["sha256"]
    wrong = vigia("privacy", "request", "export", str(tmp_path / "p2"), "-c", str(config), "--camera", "gate",
                  "--from", str(events[0].started_at - 0.5), "--to", str(events[0].started_at + 0.5),
                  "--reason", "r", "--keep-event", events[2].id)
    assert wrong.returncode == 2 and "--keep-event" in wrong.stderr
    with database(tmp_path / "vigia.db") as db:
        assert db.execute("SELECT kind, state FROM privacy_requests").fetchall() == [("export", "done")]
        assert db.execute("SELECT count(*) FROM audit_log WHERE action = 'privacy_export'").fetchone() == (1,)
