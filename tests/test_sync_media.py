"""Thumbnails to S3-compatible storage: appliance outbox -> NGINX (device certificates) -> central's
presigned PUT -> an S3 protocol server (moto, server mode) -> checked and recorded in PostgreSQL."""
from __future__ import annotations

import asyncio
import hashlib
import os
import ssl
import subprocess
import sys
from pathlib import Path

import aiohttp
import boto3
import cv2
import numpy as np
import pytest
from botocore.exceptions import ClientError

from tests.support.s3 import moto_s3
from tests.test_sync_faults import FAST, Device
from tests.test_sync_outbox import make_event
from vigia.app.devstack import CentralInstance, central_stack, free_port
from vigia.appliance.encryption import is_encrypted, load_or_create_key, write_encrypted
from vigia.appliance.storage import EventWriter, database
from vigia.central.ingest.media import PART_SIZE
from vigia.sync.identity import client_context
from vigia.sync.media import MediaSource, clip_record
from vigia.sync.uploader import Uploader, UploadSettings

BUCKET = "vigia-media"


def vigia(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "vigia.app.cli.main", *args], check=False, capture_output=True, text=True)


@pytest.fixture(scope="module")
def s3():
    """The S3 endpoint; the central processes find the (test) credentials in their environment."""
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
    with central_stack(tmp_path_factory.mktemp("central"), central_args=["--s3-endpoint", s3, "--bucket", BUCKET]) as stack:
        yield stack


class MediaDevice(Device):
    """An enrolled appliance whose events have encrypted snapshot JPEGs, and whose uploader sends them."""

    def __init__(self, root: Path, stack, device_id: str):
        super().__init__(root, stack, device_id)
        self.key = load_or_create_key(root / "keys" / "media.key")
        self.thumbnails: dict[str, bytes] = {}  # event id -> plaintext JPEG

    def write_with_snapshots(self, count: int, without: int = 0) -> list:
        """`count` events with a snapshot each, then `without` events with none."""
        rng = np.random.default_rng(len(self.events))
        writer = EventWriter(self.database, outbox=True, linger_s=0.01).start()
        made = []
        try:
            for i in range(count + without):
                event = make_event(1_780_000_000.0 + len(self.events) + i)
                if i < count:
                    event.snapshot = f"snapshots/gate/2026-05-28/{event.id}.jpg"
                    ok, jpeg = cv2.imencode(".jpg", rng.integers(0, 255, (48 + 8 * i, 64, 3), dtype=np.uint8))
                    assert ok
                    (self.root / event.snapshot).parent.mkdir(parents=True, exist_ok=True)
                    write_encrypted(self.root / event.snapshot, jpeg.tobytes(), self.key)
                    self.thumbnails[event.id] = jpeg.tobytes()
                writer.put(event)
                made.append(event)
        finally:
            writer.close()
        self.events.extend(made)
        return made

    def uploader(self, settings: UploadSettings = FAST) -> Uploader:
        return Uploader(self.database, self.device_id, self.identity.central_url, client_context(self.identity),
                        settings, media=MediaSource(self.root, self.key))

    def outbox_kinds(self) -> list[str]:
        with database(self.database) as db:
            return [kind for (kind,) in db.execute("SELECT kind FROM outbox ORDER BY id").fetchall()]


def post_json(url: str, payload: dict, context: ssl.SSLContext) -> tuple[int, dict]:
    async def send():
        async with aiohttp.ClientSession() as session, session.post(url, json=payload, ssl=context) as response:
            return response.status, await response.json(content_type=None)
    return asyncio.run(send())


def put(url: str, data: bytes, headers: dict) -> int:
    async def send():
        async with aiohttp.ClientSession() as session, session.put(url, data=data, headers=headers) as response:
            return response.status
    return asyncio.run(send())


def request_for(event_id: str, data: bytes) -> dict:
    return {"kind": "thumbnail", "event_id": event_id, "size": len(data), "sha256": hashlib.sha256(data).hexdigest()}


def test_central_init_makes_an_encrypted_bucket_with_lifecycle_rules_idempotently(s3, bucket):
    first = vigia("central", "init", "--s3-endpoint", s3, "--bucket", "vigia-init")
    assert first.returncode == 0 and "made" in first.stdout, first.stderr
    bucket.delete_bucket_encryption(Bucket="vigia-init")  # changed by hand: init sets it again
    again = vigia("central", "init", "--s3-endpoint", s3, "--bucket", "vigia-init")
    assert again.returncode == 0 and "already there" in again.stdout, again.stderr
    assert "vigia-test-secret" not in first.stdout + first.stderr + again.stdout + again.stderr
    encryption = bucket.get_bucket_encryption(Bucket="vigia-init")["ServerSideEncryptionConfiguration"]["Rules"]
    assert [r["ApplyServerSideEncryptionByDefault"]["SSEAlgorithm"] for r in encryption] == ["AES256"]
    rules = {r["ID"]: r for r in bucket.get_bucket_lifecycle_configuration(Bucket="vigia-init")["Rules"]}
    assert {r["Status"] for r in rules.values()} == {"Enabled"}
    expiries = {r["Filter"]["Tag"]["Value"]: r["Expiration"]["Days"] for r in rules.values() if "Expiration" in r}
    assert expiries == {"thumbnail": 90, "clip": 30}
    assert rules["abort-incomplete-multipart"]["AbortIncompleteMultipartUpload"] == {"DaysAfterInitiation": 1}
    failed = vigia("central", "init", "--s3-endpoint", s3, "--bucket", "no")  # too short a name for S3
    assert failed.returncode == 1 and "bucket no" in failed.stderr


def test_thumbnails_follow_their_events_and_match_the_device_plaintext(stack, bucket, tmp_path):
    device = MediaDevice(tmp_path, stack, "media-01")
    device.write_with_snapshots(4, without=1)
    assert device.outbox_kinds() == ["event"] * 5  # a thumbnail is queued only once central holds its event
    device.drain()
    device.assert_exactly_once()
    assert device.backlog() == 0
    stored = stack.query("SELECT key, event_id, size, sha256 FROM media_objects WHERE device_id = 'media-01'")
    assert sorted(stored) == sorted((f"devices/media-01/thumbnails/{event_id}.jpg", event_id, len(jpeg),
                                     hashlib.sha256(jpeg).hexdigest()) for event_id, jpeg in device.thumbnails.items())
    for key, event_id, _size, _sha256 in stored:
        assert is_encrypted(tmp_path / f"snapshots/gate/2026-05-28/{event_id}.jpg")  # sent decrypted
        got = bucket.get_object(Bucket=BUCKET, Key=key)
        assert hashlib.sha256(got["Body"].read()).digest() == hashlib.sha256(device.thumbnails[event_id]).digest()
        assert got["ServerSideEncryption"] == "AES256"
        assert bucket.get_object_tagging(Bucket=BUCKET, Key=key)["TagSet"] == [{"Key": "vigia-kind", "Value": "thumbnail"}]
    (first_upload,), (last_event,) = (stack.query("SELECT min(uploaded_at) FROM media_objects WHERE device_id = 'media-01'")[0],
                                      stack.query("SELECT max(received_at) FROM events WHERE device_id = 'media-01'")[0])
    assert first_upload >= last_event
    uploaded_at = stack.query("SELECT key, uploaded_at FROM media_objects WHERE device_id = 'media-01'")
    for event in device.events:  # the events end: sent again, and their thumbnails queued again
        event.end, event.ended_at = event.start + 4, event.started_at + 4
    writer = EventWriter(device.database, outbox=True, linger_s=0.01).start()
    for event in device.events:
        writer.put(event)
    writer.close()
    device.drain()
    assert device.backlog() == 0
    assert stack.query("SELECT count(*) FROM events WHERE device_id = 'media-01' AND ended_at IS NOT NULL") == [(5,)]
    # Central already holds those very bytes: nothing is uploaded or recorded again.
    assert stack.query("SELECT key, uploaded_at FROM media_objects WHERE device_id = 'media-01'") == uploaded_at


def test_an_upload_that_does_not_match_its_checksum_is_refused_and_sent_again(stack, bucket, tmp_path):
    device = MediaDevice(tmp_path, stack, "media-02")
    (event,) = device.write_with_snapshots(1)
    jpeg = device.thumbnails[event.id]
    context = client_context(device.identity)
    status, answer = post_json(f"{stack.url}/v1/media/uploads", request_for(event.id, jpeg), context)
    assert status == 200 and answer["key"] == f"devices/media-02/thumbnails/{event.id}.jpg"
    assert put(answer["url"], jpeg[:-1] + b"\x00", answer["headers"]) == 200  # damaged on the way
    status, refused = post_json(f"{stack.url}/v1/media/complete", request_for(event.id, jpeg), context)
    assert (status, refused["error"]) == (422, "checksum_mismatch")
    with pytest.raises(ClientError, match="404"):
        bucket.head_object(Bucket=BUCKET, Key=answer["key"])  # the damaged object is deleted
    assert stack.query("SELECT count(*) FROM media_objects WHERE device_id = 'media-02'") == [(0,)]
    device.drain()
    got = bucket.get_object(Bucket=BUCKET, Key=answer["key"])["Body"].read()
    assert hashlib.sha256(got).hexdigest() == hashlib.sha256(jpeg).hexdigest()
    assert stack.query("SELECT sha256 FROM media_objects WHERE device_id = 'media-02'") == [(hashlib.sha256(jpeg).hexdigest(),)]


def test_a_device_gets_urls_for_its_own_keys_only(stack, bucket, tmp_path):
    owner = MediaDevice(tmp_path / "a", stack, "owner-01")
    (event,) = owner.write_with_snapshots(1)
    owner.drain()
    jpeg = owner.thumbnails[event.id]
    owners_key = f"devices/owner-01/thumbnails/{event.id}.jpg"
    intruder = MediaDevice(tmp_path / "b", stack, "intruder-01")
    context = client_context(intruder.identity)
    uploads, complete = f"{stack.url}/v1/media/uploads", f"{stack.url}/v1/media/complete"
    # Asking for the owner's event, the intruder gets a URL for a key of its own, not "already stored".
    status, answer = post_json(uploads, request_for(event.id, jpeg), context)
    assert status == 200 and answer["key"] == f"devices/intruder-01/thumbnails/{event.id}.jpg"
    assert "/devices/intruder-01/" in answer["url"] and "owner-01" not in answer["url"]
    # Naming the key itself is refused.
    status, answer = post_json(uploads, {**request_for(event.id, jpeg), "key": owners_key}, context)
    assert (status, answer["error"]) == (400, "malformed") and "key" in answer["message"]
    # Completing the owner's upload as its own records nothing: the intruder's key holds nothing.
    status, answer = post_json(complete, request_for(event.id, jpeg), context)
    assert (status, answer["error"]) == (404, "not_uploaded")
    assert stack.query("SELECT count(*) FROM media_objects WHERE device_id = 'intruder-01'") == [(0,)]
    # Without a device certificate there is no URL at all.
    anonymous = ssl.create_default_context(cadata=stack.ca_pem.decode())
    for url in (uploads, complete):
        status, answer = post_json(url, request_for(event.id, jpeg), anonymous)
        assert (status, answer["error"]) == (401, "unauthenticated")
    assert hashlib.sha256(bucket.get_object(Bucket=BUCKET, Key=owners_key)["Body"].read()).digest() == \
        hashlib.sha256(jpeg).digest()


def test_a_thumbnail_waits_for_its_snapshot_to_be_written(stack, bucket, tmp_path, caplog):
    device = MediaDevice(tmp_path, stack, "media-03")
    (event,) = device.write_with_snapshots(1)
    snapshot = tmp_path / event.snapshot
    held = snapshot.rename(tmp_path / "held.jpg")  # the snapshot writer has not got to it yet
    device.drain()
    assert device.outbox_kinds() == ["thumbnail"]  # the event went; its thumbnail waits
    held.rename(snapshot)
    device.drain()
    assert device.backlog() == 0
    key = f"devices/media-03/thumbnails/{event.id}.jpg"
    assert hashlib.sha256(bucket.get_object(Bucket=BUCKET, Key=key)["Body"].read()).digest() == \
        hashlib.sha256(device.thumbnails[event.id]).digest()
    ours = "".join(r.getMessage() for r in caplog.records if r.name.startswith("vigia"))  # not moto's own log
    logs = ours + (stack.root / "central.log").read_text()
    assert "snapshot" not in ours  # it waited quietly
    assert "vigia-test-secret" not in logs and "X-Amz-Signature" not in logs


def test_object_storage_down_is_a_clear_error_from_central(stack, tmp_path):
    device = MediaDevice(tmp_path, stack, "media-04")
    (event,) = device.write_with_snapshots(1)
    serial = stack.query("SELECT cert_serial FROM devices WHERE device_id = 'media-04'")[0][0]
    headers = {"X-Client-Verify": "SUCCESS", "X-Client-S-DN": "CN=media-04", "X-Client-Serial": serial}
    lone = CentralInstance(free_port(), stack.dsn, stack.ca_dir, tmp_path / "lone.log",
                           ["--s3-endpoint", f"http://127.0.0.1:{free_port()}", "--bucket", BUCKET])
    lone.start()  # behind no proxy: this test is its trusted proxy, and nothing listens at its S3 endpoint

    async def complete():
        async with aiohttp.ClientSession() as session, session.post(
                f"http://127.0.0.1:{lone.port}/v1/media/complete", headers=headers,
                json=request_for(event.id, device.thumbnails[event.id])) as response:
            return response.status, await response.json()
    try:
        status, answer = asyncio.run(complete())
    finally:
        lone.stop()
    assert (status, answer["error"]) == (503, "storage_unavailable")


def test_a_clip_goes_in_parts_and_resumes_after_a_restart(stack, bucket, tmp_path):
    device = MediaDevice(tmp_path, stack, "clip-01")
    (event,) = device.write_with_snapshots(0, without=1)
    device.drain()
    clip = os.urandom(2 * PART_SIZE + 3_000_000)  # three parts, the last one short
    path = f"media/gate/clips/{event.id}.mp4"
    (tmp_path / path).parent.mkdir(parents=True)
    write_encrypted(tmp_path / path, clip, device.key)
    context = client_context(device.identity)
    request = {**request_for(event.id, clip), "kind": "clip"}
    key = f"devices/clip-01/clips/{event.id}.mp4"
    status, answer = post_json(f"{stack.url}/v1/media/uploads", request, context)
    assert status == 200 and answer["key"] == key and [p["number"] for p in answer["parts"]] == [1, 2, 3]
    assert put(answer["parts"][0]["url"], clip[:PART_SIZE], {}) == 200  # then the appliance restarts
    status, answer = post_json(f"{stack.url}/v1/media/complete", request, context)
    assert (status, answer["error"]) == (409, "parts_missing")
    status, answer = post_json(f"{stack.url}/v1/media/uploads", request, context)
    assert status == 200 and [p["number"] for p in answer["parts"]] == [2, 3]  # resumed: part 1 is kept
    writer = EventWriter(device.database, outbox=True, linger_s=0.01).start()
    writer.put_record(clip_record(event.id, path))  # a rule or central asks for the clip
    writer.close()
    device.drain()
    assert device.backlog() == 0
    assert stack.query("SELECT key, kind, size, sha256 FROM media_objects WHERE device_id = 'clip-01'") == [
        (key, "clip", len(clip), hashlib.sha256(clip).hexdigest())]
    assert hashlib.sha256(bucket.get_object(Bucket=BUCKET, Key=key)["Body"].read()).digest() == hashlib.sha256(clip).digest()
    assert bucket.get_object_tagging(Bucket=BUCKET, Key=key)["TagSet"] == [{"Key": "vigia-kind", "Value": "clip"}]
    assert bucket.list_multipart_uploads(Bucket=BUCKET, Prefix=key).get("Uploads", []) == []
