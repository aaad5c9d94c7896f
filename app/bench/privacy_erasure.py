"""`erasure_residual_references` of `vigia bench privacy`: what still names erased events after a data-subject erasure.

A device enrolled with a real central (PostgreSQL, two-tier NGINX with device certificates, an S3 protocol server:
moto) sends `--events` events with encrypted snapshots; their thumbnails go to the bucket; the subject's events get
re-analysis results, hard-example frames (objects) and dataset entries at central; comments, dead letters and
notifications name them on the appliance. Half the window is erased (vigia.appliance.privacy.requests, then
central's part through vigia.sync.erasures). Then every row, file, object and queue entry that still names an
erased event is counted, on both sides (the receipts themselves excepted).
"""
from __future__ import annotations

import asyncio
import os
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

import aiohttp
import boto3
import cv2
import numpy as np
import psycopg

from vigia.app.devstack import central_stack, free_port
from vigia.appliance.encryption import load_or_create_key, write_encrypted
from vigia.appliance.privacy.requests import Window, erase, residual_references
from vigia.appliance.storage import EventWriter, database
from vigia.central.ingest.media import MediaSettings, MediaStore
from vigia.central.privacy.erasure import ErasureRequest
from vigia.central.privacy.erasure import residual_references as central_residual
from vigia.scene.events import Event, new_event_id
from vigia.sync.erasures import send_ready
from vigia.sync.identity import client_context, enrol, identity_folder
from vigia.sync.media import MediaSource
from vigia.sync.uploader import Uploader, UploadSettings

S3_ENV = {"AWS_ACCESS_KEY_ID": "bench", "AWS_SECRET_ACCESS_KEY": "bench", "AWS_DEFAULT_REGION": "us-east-1"}
BUCKET = "vigia-bench-privacy"
DEVICE = "bench-dsr"
FAST = UploadSettings(batch_records=500, backoff_initial_s=0.05, backoff_max_s=0.5, idle_s=0.1, timeout_s=10)


def _events(root: Path, key: bytes, count: int, start: float) -> list[Event]:
    rng = np.random.default_rng(0)
    events = []
    writer = EventWriter(root / "vigia.db", outbox=True, linger_s=0.01).start()
    try:
        for i in range(count):
            at = start + i
            event = Event(id=new_event_id(at), camera="gate", rule="entry", kind="enter", zone="door", label="person",
                          track_id=i, start=float(i), started_at=at, max_score=0.8, box=(0.1, 0.2, 0.3, 0.4),
                          alert=False, path=[(0.0, 0.5, 0.5)])
            event.snapshot = f"snapshots/gate/{event.id}.jpg"
            ok, jpeg = cv2.imencode(".jpg", rng.integers(0, 255, (48, 64, 3), dtype=np.uint8))
            (root / event.snapshot).parent.mkdir(parents=True, exist_ok=True)
            write_encrypted(root / event.snapshot, jpeg.tobytes(), key)
            writer.put(event)
            events.append(event)
    finally:
        writer.close()
    return events


def _seed_central(dsn: str, s3, events: list[Event]) -> list[str]:
    """Re-analysis of each event: a result, a verdict, a hard-example frame (an object) in a dataset."""
    keys = []
    with psycopg.connect(dsn, autocommit=True) as conn:
        conn.execute("INSERT INTO datasets (name, version, created_by, examples) VALUES ('bench', 1, 'bench', %s)",
                     [len(events)])
        for event in events:
            key = f"hard-examples/{DEVICE}/gate/{uuid.uuid4()}/0001000.jpg"
            s3.put_object(Bucket=BUCKET, Key=key, Body=b"\xff\xd8frame")
            keys.append(key)
            job = conn.execute("INSERT INTO reanalysis_jobs (device_id, event_id, camera, reason, priority, state)"
                               " VALUES (%s, %s, 'gate', 'alert', 'alert', 'done') RETURNING job_id",
                               [DEVICE, event.id]).fetchone()[0]
            conn.execute("INSERT INTO reanalysis_results (job_id, device_id, camera, frames, duration_s, model,"
                         " detector_share, cpu_s, worker) VALUES (%s, %s, 'gate', 10, 2, 'yolox', 0.5, 1, 'b')",
                         [job, DEVICE])
            conn.execute("INSERT INTO reanalysis_verdicts (job_id, device_id, event_id, camera, rule, edge_label,"
                         " verdict, agreement, started_at) VALUES (%s, %s, %s, 'gate', 'entry', 'person', 'confirmed',"
                         " 1, to_timestamp(%s))", [job, DEVICE, event.id, event.started_at])
            example = conn.execute(
                "INSERT INTO hard_examples (job_id, device_id, camera, taken_at, reason, key, width, height, labels)"
                " VALUES (%s, %s, 'gate', to_timestamp(%s), 'missed', %s, 64, 48, '[]') RETURNING id",
                [job, DEVICE, event.started_at, key]).fetchone()[0]
            conn.execute("INSERT INTO dataset_examples (name, version, example_id) VALUES ('bench', 1, %s)", [example])
    return keys


async def _drain(root: Path, identity, key: bytes) -> None:
    uploader = Uploader(root / "vigia.db", DEVICE, identity.central_url, client_context(identity), FAST,
                        media=MediaSource(root, key))
    try:
        await asyncio.wait_for(uploader.run(asyncio.Event(), until_empty=True), 120)
    finally:
        uploader.close()


async def _central_part(conn, identity) -> None:
    async with aiohttp.ClientSession() as session:
        for _ in range(60):
            if await send_ready(conn, session, identity.central_url, client_context(identity)):
                return
            await asyncio.sleep(0.5)


def measure(events: int) -> dict:
    os.environ.update(S3_ENV)
    from moto.server import ThreadedMotoServer

    port = free_port()
    moto = ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
    moto.start()
    endpoint = f"http://127.0.0.1:{port}"
    try:
        subprocess.run([sys.executable, "-m", "vigia.app.cli.main", "central", "init", "--s3-endpoint", endpoint,
                        "--bucket", BUCKET], check=True, capture_output=True)
        s3 = boto3.client("s3", endpoint_url=endpoint, region_name="us-east-1")
        with tempfile.TemporaryDirectory(prefix="vigia-bench-erasure-") as folder, \
                central_stack(Path(folder) / "central", instances=1,
                              central_args=["--s3-endpoint", endpoint, "--bucket", BUCKET]) as stack:
            root = Path(folder) / "device"
            identity = asyncio.run(enrol(identity_folder(root), stack.url, stack.token(DEVICE), stack.ca_pem)).identity
            key = load_or_create_key(root / "keys" / "media.key")
            made = _events(root, key, events, time.time() - 7200)   # ended: over an hour ago
            asyncio.run(_drain(root, identity, key))
            subject = made[: events // 2]
            hard_examples = _seed_central(stack.dsn, s3, subject)
            thumbnails = [f"devices/{DEVICE}/thumbnails/{e.id}.jpg" for e in subject]
            request = ErasureRequest("", "gate", subject[0].started_at - 0.5, subject[-1].started_at + 0.5,
                                     [e.id for e in subject])

            async def there():
                async with await psycopg.AsyncConnection.connect(stack.dsn) as conn:
                    return await central_residual(conn, MediaStore(MediaSettings(endpoint, BUCKET)), DEVICE, request,
                                                  thumbnails + hard_examples)
            central_before = asyncio.run(there())
            with database(root / "vigia.db") as db:
                for event in subject:
                    db.execute("INSERT INTO event_comments (event_id, at, username, kind, text) VALUES (?, ?, 'g',"
                               " 'comment', 'seen')", [event.id, time.time()])
                    db.execute("INSERT INTO notifications (sink, key, body, created_at) VALUES ('mqtt', ?, '{}', 0)",
                               [f"{event.id}:open"])
                window = Window("gate", subject[0].started_at - 0.5, subject[-1].started_at + 0.5)
                before = residual_references(db.conn, root, {"appliance": {
                    "events": [e.id for e in subject], "snapshots": [e.snapshot for e in subject], "recordings": [],
                    "files": []}})
                began = time.monotonic()
                receipt = erase(db.conn, root, window, "bench", "bench request", central=True)
                asyncio.run(_central_part(db.conn, identity))
                seconds = time.monotonic() - began
                here = residual_references(db.conn, root, receipt)
                state = db.execute("SELECT state FROM privacy_requests WHERE id = ?", [receipt["request"]]).fetchone()[0]
                kept = db.execute("SELECT count(*) FROM events").fetchone()[0]
            central = asyncio.run(there())
            central_kept = stack.query("SELECT count(*) FROM events WHERE device_id = %s", [DEVICE])[0][0]
    finally:
        moto.stop()
    return {
        "erasure_residual_references": sum(here.values()) + sum(central.values()),
        "erasure_references_before": sum(before.values()) + sum(central_before.values()),
        "erasure_residual_appliance": here, "erasure_residual_central": central,
        "erasure_state": state, "erasure_s": round(seconds, 2), "erased_events": len(subject),
        "objects_erased": len(thumbnails) + len(hard_examples),
        "events_left_appliance": kept, "events_left_central": central_kept,
    }
