# ruff: noqa: F811 - the fixtures imported below are used as test arguments
"""Commands from central to devices, end to end: `vigia central command` -> PostgreSQL -> the device's
uploader polls through NGINX (device certificates) -> runs the command -> acknowledges it -> audited."""
from __future__ import annotations

import asyncio
import datetime as dt
import hashlib
import json
import os
import shutil
import ssl
import subprocess
import sys
from pathlib import Path

import aiohttp
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from tests.test_recording import T0, feed, gop_clip, media, new_recorder  # noqa: F401 - fixtures
from tests.test_sync_faults import FAST, Device, post
from tests.test_sync_media import BUCKET, bucket, s3, stack  # noqa: F401 - fixtures
from tests.test_sync_outbox import make_event
from vigia.app.appliance import Appliance
from vigia.appliance.camera_store import with_saved_layouts
from vigia.appliance.config import Record, parse_config
from vigia.appliance.encryption import load_or_create_key, open_media
from vigia.appliance.outbox import Pending
from vigia.appliance.recording.event_clips import event_clip, part_of
from vigia.appliance.recording.reconcile import reconcile
from vigia.appliance.storage import EventWriter, database
from vigia.sync.commands import CommandHandlers, Commands
from vigia.sync.identity import certificate_request, client_context, device_identity, identity_proof, load_identity
from vigia.sync.media import MediaSource, queue_clip
from vigia.sync.protocol import encode_batch
from vigia.sync.uploader import Uploader

LAYOUT = {
    "zones": [{"name": "gate", "polygon": [[0.1, 0.1], [0.5, 0.1], [0.5, 0.6]], "classes": ["person"]}],
    "lines": [],
    "rules": [{"name": "at-gate", "type": "enter", "zone": "gate", "alert": True}],
}
CONFIG = """\
cameras:
  - name: gate
    url: rtsp://10.0.0.9/stream1
    record: {{mode: continuous, pre_roll: 1, post_roll: 1, segment_seconds: 4}}
storage:
  data_dir: {data_dir}
"""


class CommandDevice(Device):
    """An enrolled appliance (its config, encrypted media) whose uploader takes commands."""

    def __init__(self, root: Path, stack, device_id: str):
        super().__init__(root, stack, device_id)
        self.key = load_or_create_key(root / "keys" / "media.key")
        self.appliance = Appliance(parse_config(CONFIG.format(data_dir=root)))
        self.layouts_applied = 0

    def apply_layout(self, camera: str, layout: dict, username: str) -> dict:
        self.layouts_applied += 1
        return self.appliance.apply_layout(camera, layout, username)

    def uploader(self, settings=FAST) -> Uploader:
        cameras = self.appliance.config.cameras
        handlers = CommandHandlers(self.apply_layout, lambda name: {c.name: c.record for c in cameras}[name],
                                   lambda name: [m.polygon for m in {c.name: c for c in cameras}[name].privacy_masks])
        return Uploader(self.database, self.device_id, self.identity.central_url, client_context(self.identity),
                        settings, media=MediaSource(self.root, self.key), commands=Commands(self.identity, handlers))


def central(stack, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "vigia.app.cli.main", "central", *args], check=False,
                          capture_output=True, text=True, env={**os.environ, "VIGIA_CENTRAL_DATABASE": stack.dsn})


def issue(stack, device_id: str, *command: str) -> int:
    done = central(stack, "command", device_id, "--by", "ops-alice", *command)
    assert done.returncode == 0, done.stderr
    return int(done.stdout.split()[1])


def commands(stack, device_id: str) -> dict[int, dict]:
    listed = central(stack, "commands", device_id, "--json")
    assert listed.returncode == 0, listed.stderr
    return {row["id"]: row for row in json.loads(listed.stdout)}


def audit(stack, command_id: int) -> list[tuple]:
    return stack.query("SELECT action, actor FROM command_audit WHERE command_id = %s ORDER BY id", [command_id])


def request(url: str, context: ssl.SSLContext, method: str = "GET", payload: dict | None = None) -> tuple[int, dict]:
    async def send():
        async with aiohttp.ClientSession() as session, session.request(method, url, json=payload,
                                                                       ssl=context) as response:
            return response.status, await response.json(content_type=None)
    return asyncio.run(send())


def test_upload_clip_sends_the_event_clip_to_s3(stack, bucket, tmp_path, gop_clip):
    device = CommandDevice(tmp_path, stack, "cmd-clip-01")
    recorder = new_recorder(tmp_path, "gate", device.key, mode="continuous", segment_seconds=4)
    feed(recorder, gop_clip, until=12)
    recorder.close()
    event = make_event(T0 + 4)
    event.end, event.ended_at = event.start + 2, T0 + 6
    writer = EventWriter(device.database, outbox=True, linger_s=0.01).start()
    writer.put(event)
    writer.close()
    device.drain()
    command_id = issue(stack, "cmd-clip-01", "upload-clip", event.id)
    missing_id = issue(stack, "cmd-clip-01", "upload-clip", "01JZZZZZZZZZZZZZZZZZZZZZZZ")
    device.drain()
    state = commands(stack, "cmd-clip-01")
    assert state[command_id]["state"] == "done", state[command_id]
    path = state[command_id]["result"]["path"]
    assert path == f"media/gate/clips/{event.id}.mp4"
    with open_media(tmp_path / path, device.key) as clip:
        local = clip.read()
    assert len(local) > 10_000
    key = f"devices/cmd-clip-01/clips/{event.id}.mp4"
    stored = bucket.get_object(Bucket=BUCKET, Key=key)["Body"].read()
    assert hashlib.sha256(stored).hexdigest() == hashlib.sha256(local).hexdigest()
    assert stack.query("SELECT kind, sha256 FROM media_objects WHERE device_id = 'cmd-clip-01'") == [
        ("clip", hashlib.sha256(local).hexdigest())]
    assert state[missing_id]["state"] == "failed"
    assert "no event '01JZZZZZZZZZZZZZZZZZZZZZZZ'" in state[missing_id]["result"]["error"]
    assert audit(stack, command_id) == [("issued", "ops-alice"), ("acked", "device:cmd-clip-01")]


def test_a_clip_queued_while_its_event_goes_on_outlives_the_final_clip_until_sent(stack, bucket, tmp_path, gop_clip):
    """The footage so far of an ongoing event is a version of its own. Queued for central, it is kept when the
    final clip supersedes the other versions and when a restart removes files no recording names; it goes
    once it is sent."""
    device = CommandDevice(tmp_path, stack, "cmd-clip-02")
    recorder = new_recorder(tmp_path, "gate", device.key, mode="continuous", segment_seconds=4)
    feed(recorder, gop_clip, until=12)
    recorder.close()
    event = make_event(T0 + 4)
    event.end = event.ended_at = None
    writer = EventWriter(device.database, outbox=True, linger_s=0.01).start()
    writer.put(event)
    writer.close()
    device.drain()
    record = Record(mode="continuous", pre_roll=1, post_roll=1)
    with database(device.database) as db:
        queued = tmp_path / queue_clip(db.conn, device.database, MediaSource(tmp_path, device.key), event.id, record, [])
        assert part_of(queued) is not None
        other = queued.with_name(f"{event.id}.part-{part_of(queued) - 60}.mp4")  # a version nobody queued
        shutil.copy(queued, other)
        with open_media(queued, device.key) as media:
            sent = hashlib.sha256(media.read()).hexdigest()
        reconcile(db, tmp_path, device.key)  # as at a restart
        assert queued.exists() and not other.exists()
        shutil.copy(queued, other)
        db.execute("update events set ended_at = ?, \"end\" = ? where id = ?", [T0 + 6, 6.0, event.id])
        final = event_clip(device.database, tmp_path, device.key, event.id, record)
        assert final.name == f"{event.id}.mp4" and queued.exists() and not other.exists()
    device.drain()
    stored = bucket.get_object(Bucket=BUCKET, Key=f"devices/cmd-clip-02/clips/{event.id}.mp4")["Body"].read()
    assert hashlib.sha256(stored).hexdigest() == sent
    assert not queued.exists() and final.exists()


def test_set_layout_is_applied_and_a_bad_layout_fails_naming_the_field(stack, tmp_path):
    device = CommandDevice(tmp_path / "device", stack, "cmd-layout-01")
    good, bad = tmp_path / "good.json", tmp_path / "bad.json"
    good.write_text(json.dumps(LAYOUT))
    bad.write_text(json.dumps({**LAYOUT, "zones": [{"name": "gate", "polygon": [[0, 0], [1.5, 0], [0, 1]]}]}))
    applied = issue(stack, "cmd-layout-01", "set-layout", "gate", str(good))
    refused = issue(stack, "cmd-layout-01", "set-layout", "gate", str(bad))
    unknown = issue(stack, "cmd-layout-01", "set-layout", "attic", str(good))
    assert {row["state"] for row in commands(stack, "cmd-layout-01").values()} == {"pending"}
    device.drain()
    state = commands(stack, "cmd-layout-01")
    assert state[applied]["state"] == "done" and state[applied]["result"]["layout"]["zones"][0]["name"] == "gate"
    assert state[refused]["state"] == "failed" and "zones[0].polygon[1][0]" in state[refused]["result"]["fields"]
    assert "zones[0].polygon[1][0]" in state[refused]["result"]["error"]
    assert state[unknown]["state"] == "failed" and "attic" in state[unknown]["result"]["error"]
    # Read back: the running config and the saved layout (what the next start takes) have it; the bad one left nothing.
    assert [r.name for r in device.appliance.config.cameras[0].rules] == ["at-gate"]
    restarted = with_saved_layouts(parse_config(CONFIG.format(data_dir=tmp_path / "device")).cameras, device.database)
    assert [z.name for z in restarted[0].zones] == ["gate"]
    with database(device.database) as db:
        assert db.execute("SELECT updated_by FROM camera_layouts WHERE camera = 'gate'").fetchone() == ("central:ops-alice",)
    for command_id in (applied, refused, unknown):
        assert audit(stack, command_id) == [("issued", "ops-alice"), ("acked", "device:cmd-layout-01")]
    listed = central(stack, "commands", "cmd-layout-01")
    assert listed.returncode == 0 and listed.stdout.count("set_layout") == 3 and "failed" in listed.stdout


def test_rotate_credentials_supersedes_the_old_certificate(stack, tmp_path):
    device = CommandDevice(tmp_path, stack, "cmd-rotate-01")
    old_context = client_context(device.identity)
    old_serial = stack.query("SELECT cert_serial FROM devices WHERE device_id = 'cmd-rotate-01'")[0][0]
    old_key = device.identity.key.read_bytes()
    command_id = issue(stack, "cmd-rotate-01", "rotate-credentials")
    device.write(5)
    device.drain()  # the rotation runs when the outbox is empty, and is acknowledged with the new certificate
    state = commands(stack, "cmd-rotate-01")[command_id]
    new_serial = stack.query("SELECT cert_serial FROM devices WHERE device_id = 'cmd-rotate-01'")[0][0]
    assert state["state"] == "done" and state["result"]["serial"] == new_serial != old_serial
    assert device.identity.key.read_bytes() != old_key and oct(device.identity.key.stat().st_mode)[-3:] == "600"
    device.write(5)
    device.drain()  # a new uploader, from the files: the new certificate works
    device.assert_exactly_once()
    body = encode_batch("cmd-rotate-01", [Pending(11, "camera_health", "gate", json.dumps(
        {"camera": "gate", "state": "online", "since": 1.0, "last_error": None}))])
    status, answer = post(f"{stack.url}/v1/batches", body, old_context)
    assert (status, answer["error"]) == (403, "certificate_superseded")
    status, answer = request(f"{stack.url}/v1/commands", old_context)
    assert (status, answer["error"]) == (403, "certificate_superseded")
    assert audit(stack, command_id) == [("issued", "ops-alice"), ("acked", "device:cmd-rotate-01")]


def test_a_stop_after_central_signed_a_rotation_loses_nothing(stack, tmp_path):
    """The device dies after central signed its new certificate and before it was saved: the old
    certificate still works (the new one is only pending), the staged key is dropped at the next start,
    and the rotation, never acknowledged, runs again."""
    device = CommandDevice(tmp_path, stack, "cmd-rotate-02")
    old_context = client_context(device.identity)
    old_key = device.identity.key.read_bytes()
    old_serial = stack.query("SELECT cert_serial FROM devices WHERE device_id = 'cmd-rotate-02'")[0][0]
    command_id = issue(stack, "cmd-rotate-02", "rotate-credentials")
    # What CommandRunner._rotate does up to central's answer, and no further.
    key = ec.generate_private_key(ec.SECP256R1())
    device.identity.next_key.write_bytes(key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()))
    csr = certificate_request(key)
    status, answer = request(f"{stack.url}/v1/rotate", old_context, "POST",
                             {"csr": csr.decode(), **identity_proof(device_identity(device.identity.folder), csr)})
    assert status == 200
    lost_serial = format(x509.load_pem_x509_certificate(answer["certificate"].encode()).serial_number, "X")
    assert stack.query("SELECT cert_serial, pending_serial FROM devices WHERE device_id = 'cmd-rotate-02'") == [
        (old_serial, lost_serial)]
    # The next start: the staged key goes, key and certificate are the old pair, and central takes them.
    device.identity = load_identity(device.identity.folder)
    assert not device.identity.next_key.exists() and device.identity.key.read_bytes() == old_key
    device.write(5)
    device.drain()
    device.assert_exactly_once()
    state = commands(stack, "cmd-rotate-02")[command_id]
    assert state["state"] == "done" and state["result"]["serial"] not in (old_serial, lost_serial)
    assert stack.query("SELECT cert_serial, pending_serial FROM devices WHERE device_id = 'cmd-rotate-02'") == [
        (state["result"]["serial"], None)]
    assert request(f"{stack.url}/v1/commands", old_context)[0] == 403
    device.write(5)
    device.drain()  # from the files: the rotated pair
    device.assert_exactly_once()


def test_a_rotation_cut_off_between_its_renames_is_finished_at_the_next_start(tmp_path):
    """Key and certificate are staged, then put in place one rename at a time: whichever step a stop
    interrupts, load_identity leaves a key and a certificate that belong together."""
    folder = tmp_path / "sync"
    folder.mkdir()
    (folder / "central.json").write_text(json.dumps({"device_id": "cut-01", "central_url": "https://central"}))
    identity = load_identity(folder)

    def pair(path_key: Path, path_certificate: Path) -> ec.EllipticCurvePrivateKey:
        key = ec.generate_private_key(ec.SECP256R1())
        path_key.write_bytes(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                               serialization.NoEncryption()))
        name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "cut-01")])
        now = dt.datetime.now(dt.timezone.utc)
        certificate = (x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
                       .serial_number(x509.random_serial_number()).not_valid_before(now)
                       .not_valid_after(now + dt.timedelta(days=1)).sign(key, hashes.SHA256()))
        path_certificate.write_bytes(certificate.public_bytes(serialization.Encoding.PEM))
        return key

    def matching() -> bool:
        key = serialization.load_pem_private_key(identity.key.read_bytes(), None)
        certificate = x509.load_pem_x509_certificate(identity.certificate.read_bytes())
        return certificate.public_key().public_numbers() == key.public_key().public_numbers()

    pair(identity.key, identity.certificate)
    for renamed_key in (False, True):
        new = pair(identity.next_key, identity.next_certificate)
        if renamed_key:
            os.replace(identity.next_key, identity.key)  # the stop comes between the two renames
        load_identity(folder)
        assert matching() and not identity.next_key.exists() and not identity.next_certificate.exists()
        assert serialization.load_pem_private_key(identity.key.read_bytes(), None).public_key().public_numbers() == \
            new.public_key().public_numbers()


def test_a_device_cannot_see_or_ack_another_devices_command(stack, tmp_path):
    owner = CommandDevice(tmp_path / "a", stack, "cmd-owner-01")
    intruder = CommandDevice(tmp_path / "b", stack, "cmd-intruder-01")
    command_id = issue(stack, "cmd-owner-01", "rotate-credentials")
    context = client_context(intruder.identity)
    status, answer = request(f"{stack.url}/v1/commands", context)
    assert status == 200 and answer["commands"] == []
    status, answer = request(f"{stack.url}/v1/commands/{command_id}/ack", context, "POST", {"ok": True, "result": {}})
    assert (status, answer["error"]) == (404, "no_such_command")
    anonymous = ssl.create_default_context(cadata=stack.ca_pem.decode())
    status, answer = request(f"{stack.url}/v1/commands", anonymous)
    assert (status, answer["error"]) == (401, "unauthenticated")
    assert commands(stack, "cmd-owner-01")[command_id]["state"] == "pending"
    status, answer = request(f"{stack.url}/v1/commands", client_context(owner.identity))
    assert status == 200 and [c["id"] for c in answer["commands"]] == [command_id]
    assert audit(stack, command_id) == [("issued", "ops-alice")]


def test_a_restart_does_not_run_an_executed_command_again(stack, tmp_path):
    device = CommandDevice(tmp_path, stack, "cmd-restart-01")
    layout = tmp_path / "layout.json"
    layout.write_text(json.dumps(LAYOUT))
    command_id = issue(stack, "cmd-restart-01", "set-layout", "gate", str(layout))
    device.drain()
    assert device.layouts_applied == 1 and commands(stack, "cmd-restart-01")[command_id]["state"] == "done"
    device.drain()  # restarted: central has nothing pending
    # The acknowledgement lost on the way (central never recorded it), then a restart: acknowledged again, not rerun.
    stack.query("UPDATE device_commands SET state = 'pending', acked_at = NULL, result = NULL WHERE id = %s "
                "RETURNING id", [command_id])
    device.drain()
    assert device.layouts_applied == 1
    state = commands(stack, "cmd-restart-01")[command_id]
    assert state["state"] == "done" and state["result"]["camera"] == "gate"
    assert [action for action, _ in audit(stack, command_id)] == ["issued", "acked", "acked"]


def test_unknown_device_id_and_command_are_refused_by_the_cli(stack, tmp_path):
    bad = central(stack, "command", "Not_A_Device", "rotate-credentials")
    assert bad.returncode == 2 and "device name 'Not_A_Device'" in bad.stderr
    missing = central(stack, "command", "cmd-x-01", "set-layout", "gate", str(tmp_path / "none.json"))
    assert missing.returncode == 2 and "cannot read the layout" in missing.stderr
