"""Signed provisioning files: the fleet side (keygen, sign) and the device side (verify, refuse, apply)."""
from __future__ import annotations

import json
import stat
from dataclasses import dataclass

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from support.provisioning_files import provisioning_doc, write_signed

from vigia.app.cli.main import main
from vigia.appliance.config import load_config
from vigia.provisioning.apply import apply_provisioning, config_file, site_file
from vigia.provisioning.document import ProvisioningError
from vigia.provisioning.identity import load_or_create_identity
from vigia.provisioning.signed import SignatureError, key_id
from vigia.provisioning.state import StaleSerial, load_setup


@pytest.fixture()
def vigia(capsys):
    """The `vigia` command, run in this process: (exit code, stdout, stderr)."""
    def run(*args) -> CliResult:
        code = main([str(a) for a in args])
        out, err = capsys.readouterr()
        return CliResult(code, out, err)
    return run


@dataclass
class CliResult:
    returncode: int
    stdout: str
    stderr: str


@pytest.fixture()
def fleet():
    return Ed25519PrivateKey.generate()


def test_keygen_sign_and_provision_from_the_command_line(tmp_path, vigia):
    key = tmp_path / "fleet.key"
    out = vigia("provision", "keygen", "--out", key)
    assert out.returncode == 0, out.stderr
    assert stat.S_IMODE(key.stat().st_mode) == 0o600 and (tmp_path / "fleet.key.pub").is_file()
    assert vigia("provision", "keygen", "--out", key).returncode != 0  # never overwritten

    doc = write_signed(tmp_path / "stick", provisioning_doc(serial=5), key=None)
    out = vigia("provision", "sign", doc, "--key", key)
    assert out.returncode == 0, out.stderr
    assert (tmp_path / "stick" / "vigia-provision.yml.sig").read_text().startswith("vigia-signature: 1\n")

    device = tmp_path / "device"
    out = vigia("provision", doc, "--fleet-key", f"{key}.pub", "--data-dir", device)
    assert out.returncode == 0, out.stderr
    assert "Warehouse 4" in out.stdout and "serial 5" in out.stdout
    assert "secret" not in out.stdout + out.stderr and "enrol-" not in out.stdout + out.stderr

    config = load_config(config_file(device))
    assert [c.name for c in config.cameras] == ["gate"] and config.cameras[0].record.mode == "continuous"
    assert config.cameras[0].zones[0].name == "door"
    assert stat.S_IMODE(config_file(device).stat().st_mode) == 0o600
    site = json.loads(site_file(device).read_text())
    assert site["serial"] == 5 and site["site"] == {"name": "Warehouse 4", "timezone": "Europe/Lisbon"}
    assert site["central"]["enrolment_token"] == "enrol-0123456789abcdef"
    assert stat.S_IMODE(site_file(device).stat().st_mode) == 0o600
    setup = load_setup(device, load_or_create_identity(device))
    assert (setup.state, setup.claimed_via, setup.provision_serial) == ("ready", "provisioning-file", 5)

    out = vigia("provision", doc, "--fleet-key", f"{key}.pub", "--data-dir", device)
    assert out.returncode == 2 and "serial 5 is not newer than the last one applied (5)" in out.stderr


def test_signing_refuses_a_file_no_device_would_accept(tmp_path, fleet, vigia):
    doc = provisioning_doc(serial=1)
    doc["site"]["timezone"] = "Mars/Olympus"
    path = write_signed(tmp_path, doc, key=None)
    (tmp_path / "k").write_bytes(fleet.private_bytes_raw())  # not even read: the file is refused first
    out = vigia("provision", "sign", path, "--key", tmp_path / "k")
    assert out.returncode == 2 and "site.timezone: unknown time zone 'Mars/Olympus'" in out.stderr
    assert not (tmp_path / "vigia-provision.yml.sig").exists()


def test_unsigned_file_is_refused(tmp_path, fleet):
    path = write_signed(tmp_path / "stick", provisioning_doc(serial=1), key=None)
    with pytest.raises(SignatureError, match=r"is not signed: .*vigia-provision\.yml\.sig is missing"):
        apply_provisioning(path, tmp_path / "device", fleet.public_key(), via="test")
    assert not config_file(tmp_path / "device").exists()


def test_tampered_file_is_refused(tmp_path, fleet):
    path = write_signed(tmp_path / "stick", provisioning_doc(serial=1), key=fleet)
    path.write_bytes(path.read_bytes().replace(b"10.0.0.5", b"10.6.6.6"))
    with pytest.raises(SignatureError, match="changed after signing"):
        apply_provisioning(path, tmp_path / "device", fleet.public_key(), via="test")
    assert not config_file(tmp_path / "device").exists()
    assert load_setup(tmp_path / "device", load_or_create_identity(tmp_path / "device")).state == "unclaimed"


def test_file_signed_with_another_key_is_refused(tmp_path, fleet):
    other = Ed25519PrivateKey.generate()
    path = write_signed(tmp_path / "stick", provisioning_doc(serial=1), key=other)
    expected = f"signed with key {key_id(other.public_key())}, not this device's fleet key {key_id(fleet.public_key())}"
    with pytest.raises(SignatureError, match=expected):
        apply_provisioning(path, tmp_path / "device", fleet.public_key(), via="test")
    # the same key id with a forged signature: the signature itself is checked, not just the id
    sig = path.with_name(path.name + ".sig")
    sig.write_text(sig.read_text().replace(key_id(other.public_key()), key_id(fleet.public_key())))
    with pytest.raises(SignatureError, match="changed after signing"):
        apply_provisioning(path, tmp_path / "device", fleet.public_key(), via="test")


def test_damaged_signature_file_is_refused(tmp_path, fleet):
    path = write_signed(tmp_path / "stick", provisioning_doc(serial=1), key=fleet)
    path.with_name(path.name + ".sig").write_text("hello\n")
    with pytest.raises(SignatureError, match="is not a Vigia signature file"):
        apply_provisioning(path, tmp_path / "device", fleet.public_key(), via="test")


def test_replayed_older_file_is_refused_and_settings_stay(tmp_path, fleet):
    device = tmp_path / "device"
    old = write_signed(tmp_path / "old", provisioning_doc(serial=1, site="Old site"), key=fleet)
    new = write_signed(tmp_path / "new", provisioning_doc(serial=2, site="New site"), key=fleet)
    assert apply_provisioning(old, device, fleet.public_key(), via="test").serial == 1
    assert apply_provisioning(new, device, fleet.public_key(), via="test").site == "New site"
    with pytest.raises(StaleSerial, match="serial 1 is not newer than the last one applied \\(2\\)"):
        apply_provisioning(old, device, fleet.public_key(), via="test")
    assert json.loads(site_file(device).read_text())["site"]["name"] == "New site"
    assert "serial 2" in config_file(device).read_text()


def test_invalid_content_is_refused_by_field_path(tmp_path, fleet):
    doc = provisioning_doc(serial=1)
    doc["config"]["cameras"][0]["zones"][0]["polygon"] = [[0.1, 0.1], [0.2, 0.2]]
    doc["colour"] = "blue"
    path = write_signed(tmp_path, doc, key=fleet)
    with pytest.raises(ProvisioningError, match="colour: Extra inputs are not permitted"):
        apply_provisioning(path, tmp_path / "device", fleet.public_key(), via="test")
    del doc["colour"]
    path = write_signed(tmp_path, doc, key=fleet)
    with pytest.raises(ProvisioningError) as err:
        apply_provisioning(path, tmp_path / "device", fleet.public_key(), via="test")
    assert "config.cameras[0].zones[0].polygon: a polygon needs at least 3 points, got 2" in str(err.value)
    assert not config_file(tmp_path / "device").exists()


def test_file_for_other_devices_is_refused(tmp_path, fleet):
    device = tmp_path / "device"
    me = load_or_create_identity(device)
    path = write_signed(tmp_path / "a", provisioning_doc(serial=1, devices=["0badc0de"]), key=fleet)
    with pytest.raises(ProvisioningError, match=f"is for devices 0badc0de, not this one \\({me.short_id}\\)"):
        apply_provisioning(path, device, fleet.public_key(), via="test")
    path = write_signed(tmp_path / "b", provisioning_doc(serial=1, devices=["0badc0de", me.short_id]), key=fleet)
    assert apply_provisioning(path, device, fleet.public_key(), via="test").serial == 1
