"""What a new operator meets setting up central on one host (issue 15), on the real stack: NGINX, central
instances, PostgreSQL, the moto S3 server. The device's name at central; a central without a bucket; a
thumbnail that keeps failing; every central instance down."""
from __future__ import annotations

import asyncio
import json
import logging
import os
import subprocess
import sys
from dataclasses import replace
from pathlib import Path

import aiohttp
import pytest

from tests.support.s3 import moto_s3
from tests.test_sync_faults import FAST
from tests.test_sync_media import BUCKET, MediaDevice, post_json, request_for
from vigia.app.devstack import central_stack
from vigia.sync.answers import describe_foreign_answer
from vigia.sync.identity import client_context
from vigia.sync.media import MediaRetry
from vigia.sync.uploader import Step

README = Path(__file__).resolve().parents[1] / "README.md"


def vigia(*args: str, env: dict | None = None, stdin: str | None = None) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "vigia.app.cli.main", *args], check=False, capture_output=True,
                          text=True, input=stdin, env={**os.environ, **(env or {})})


@pytest.fixture(scope="module")
def stack(tmp_path_factory):
    """Central served as the guide's first steps leave it: no --bucket."""
    with central_stack(tmp_path_factory.mktemp("central")) as stack:
        yield stack


def drain(uploader) -> None:
    asyncio.run(asyncio.wait_for(uploader.run(asyncio.Event(), until_empty=True), 60))


def test_the_device_name_at_central_is_chosen_and_vigia_status_shows_it(stack, tmp_path):
    env = {"VIGIA_DATA_DIR": str(tmp_path)}
    before = json.loads(vigia("status", "--json", env=env).stdout)
    assert len(before["device_id"]) == 64 and before["central_name"] is None
    assert "vigia central token NAME" in vigia("status", env=env).stdout

    refused = vigia("central", "token", before["device_id"], "--database", stack.dsn)
    assert refused.returncode == 2
    assert "64-hex identity id (`vigia status`), not a name at central" in refused.stderr
    assert "The device's name at central" in refused.stderr
    assert "### The device's name at central" in README.read_text()  # where the error points
    bad = vigia("central", "token", "Gate 1", "--database", stack.dsn)
    assert bad.returncode == 2 and "at most 63 characters" in bad.stderr and "name at central" in bad.stderr

    token = vigia("central", "token", "gate-01", "--database", stack.dsn)
    assert token.returncode == 0, token.stderr
    enrolled = vigia("enroll", "--central", stack.url, "--ca", str(stack.ca_dir / "ca.crt"), env=env, stdin=token.stdout)
    assert enrolled.returncode == 0, enrolled.stderr
    after = json.loads(vigia("status", "--json", env=env).stdout)
    assert (after["device_id"], after["central_name"], after["central_url"]) == (before["device_id"], "gate-01", stack.url)
    assert f"known as gate-01 at {stack.url}" in vigia("status", env=env).stdout
    assert stack.query("SELECT device_id, identity_id FROM devices") == [("gate-01", before["device_id"])]


def test_central_without_a_bucket_answers_media_with_json_and_the_device_stops_queuing_media(stack, tmp_path, caplog):
    device = MediaDevice(tmp_path, stack, "nobucket-01")
    (first, *_) = device.write_with_snapshots(3)
    status, answer = post_json(f"{stack.url}/v1/media/uploads", request_for(first.id, device.thumbnails[first.id]),
                               client_context(device.identity))
    assert (status, answer["error"]) == (501, "media_not_configured") and "--bucket" in answer["message"]

    uploader = device.uploader()
    caplog.set_level(logging.WARNING, logger="vigia.sync")
    try:
        drain(uploader)
        device.assert_exactly_once()
        assert device.backlog() == 0  # the thumbnails queued before central said so are dropped
        device.write_with_snapshots(2)
        drain(uploader)   # media is not queued any more: nothing waits for a central that takes none
        assert device.backlog() == 0
    finally:
        uploader.close()
    device.assert_exactly_once()
    refusals = [r.getMessage() for r in caplog.records if "central takes no media" in r.getMessage()]
    assert len(refusals) == 1 and "3 queued thumbnails and clips dropped" in refusals[0]
    assert not [r for r in caplog.records if "thumbnail of event" in r.getMessage()]  # no per-thumbnail retries
    assert stack.query("SELECT count(*) FROM media_objects") == [(0,)]


def test_a_thumbnail_that_keeps_failing_backs_off_lets_the_others_go_and_is_dropped(tmp_path, caplog, monkeypatch):
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "vigia-test-key")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "vigia-test-secret")
    with moto_s3() as s3:
        made = vigia("central", "init", "--s3-endpoint", s3, "--bucket", BUCKET)
        assert made.returncode == 0, made.stderr
        with central_stack(tmp_path / "central", instances=1,
                           central_args=["--s3-endpoint", s3, "--bucket", BUCKET]) as stack:
            device = MediaDevice(tmp_path / "device", stack, "failing-01")
            bad, *good = device.write_with_snapshots(4)
            # Its snapshot reads differently each time (a new UUID): its upload never matches what was declared.
            snapshot = device.root / bad.snapshot
            snapshot.unlink()
            snapshot.symlink_to("/proc/sys/kernel/random/uuid")
            settings = replace(FAST, media_retry=MediaRetry(backoff_s=0.2, backoff_max_s=0.4, max_tries=3))
            uploader = device.uploader(settings)
            caplog.set_level(logging.WARNING, logger="vigia.sync")
            try:
                drain(uploader)  # returns once only the failing one is left, backing off
                stored = {e for (e,) in stack.query("SELECT event_id FROM media_objects")}
                assert stored == {e.id for e in good}   # the others went while it backed off
                # it waits for its next try, or (a slow machine: drain outlasted its three short back-offs) is gone
                assert device.outbox_kinds() in ([], ["thumbnail"])
                for _ in range(20):
                    if device.backlog() == 0:
                        break
                    asyncio.run(asyncio.sleep(0.5))
                    drain(uploader)
            finally:
                uploader.close()
            assert device.backlog() == 0
            assert stack.query("SELECT count(*) FROM media_objects WHERE event_id = %s", [bad.id]) == [(0,)]
    tries = [r.getMessage() for r in caplog.records if f"thumbnail of event {bad.id} not sent (try" in r.getMessage()]
    assert len(tries) == 2   # tries 1 and 2 back off; the third is the last
    dropped = [r.getMessage() for r in caplog.records if f"thumbnail of event {bad.id} dropped after 3 tries" in r.getMessage()]
    assert len(dropped) == 1


def test_every_instance_down_reads_as_the_proxy_answering_502(tmp_path, caplog):
    with central_stack(tmp_path / "central", instances=1) as stack:
        device = MediaDevice(tmp_path / "device", stack, "down-01")
        device.write(5)
        stack.instances[0].kill()

        async def raw():
            async with aiohttp.ClientSession() as session, session.post(
                    f"{stack.url}/v1/batches", data=b"{}", ssl=client_context(device.identity)) as response:
                return response.status, response.content_type, await response.json()

        status, content_type, answer = asyncio.run(raw())
        assert (status, content_type, answer["error"]) == (502, "application/json", "no_central_instance")
        caplog.set_level(logging.WARNING, logger="vigia.sync")
        uploader = device.uploader()

        async def one_step():
            async with aiohttp.ClientSession(auto_decompress=False) as session:
                return await uploader.step(session)
        try:
            assert asyncio.run(one_step()) is Step.RETRY
        finally:
            uploader.close()
        assert device.backlog() == 5
    [line] = [r.getMessage() for r in caplog.records if "central" in r.getMessage()]
    assert line == ("central busy or failing (502: central's proxy answered 502 Bad Gateway: no central instance"
                    " behind it answered): 5 records wait")
    assert "Expecting value" not in caplog.text


def test_an_answer_that_is_not_json_names_its_status_and_hop():
    assert describe_foreign_answer(502, "nginx/1.24.0") == ("central's proxy answered 502 Bad Gateway: no central"
                                                           " instance behind it answered")
    assert describe_foreign_answer(403, "nginx") == "central's proxy answered 403 Forbidden"
    assert describe_foreign_answer(200, "captive") == ("an answer that is not central's: 200 OK from 'captive', not JSON"
                                                       " (a proxy or portal in between, or not central)")
