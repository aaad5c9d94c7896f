"""Device identity and setup state: the key on disk, the ids, the claim code and claiming."""
from __future__ import annotations

import json
import os
import stat
from concurrent.futures import ThreadPoolExecutor

import pytest

from vigia.app.cli.main import main
from vigia.provisioning.identity import IdentityError, load_or_create_identity
from vigia.provisioning.state import (
    CODE_ALPHABET,
    ClaimError,
    StaleSerial,
    claim,
    claim_code,
    load_setup,
    mark_provisioned,
    setup_file,
)


def test_identity_is_made_once_and_stays(tmp_path):
    first = load_or_create_identity(tmp_path)
    key_file = tmp_path / "identity" / "device.key"
    assert first.key_file == key_file
    assert stat.S_IMODE(key_file.stat().st_mode) == 0o600
    assert stat.S_IMODE(key_file.parent.stat().st_mode) == 0o700
    assert key_file.read_bytes().startswith(b"-----BEGIN PRIVATE KEY-----")
    again = load_or_create_identity(tmp_path)
    assert again.device_id == first.device_id and len(first.device_id) == 64
    assert first.short_id == first.device_id[:8] and first.hostname == f"vigia-{first.short_id}"
    assert load_or_create_identity(tmp_path / "other").device_id != first.device_id


def test_concurrent_first_starts_agree_on_one_key(tmp_path):
    with ThreadPoolExecutor(8) as pool:
        ids = set(pool.map(lambda _: load_or_create_identity(tmp_path).device_id, range(16)))
    assert len(ids) == 1
    assert [p.name for p in (tmp_path / "identity").iterdir()] == ["device.key"]


def test_unusable_keys_are_refused_by_name(tmp_path):
    identity = load_or_create_identity(tmp_path)
    os.chmod(identity.key_file, 0o644)
    with pytest.raises(IdentityError, match="readable by others.*0600"):
        load_or_create_identity(tmp_path)
    os.chmod(identity.key_file, 0o600)
    identity.key_file.write_bytes(b"garbage")
    with pytest.raises(IdentityError, match=r"device\.key is not a PEM private key"):
        load_or_create_identity(tmp_path)


def test_claim_code_shape_and_claim(tmp_path):
    identity = load_or_create_identity(tmp_path)
    setup = load_setup(tmp_path, identity)
    assert setup.state == "unclaimed"
    code = claim_code(identity, setup)
    groups = code.split("-")
    assert [len(g) for g in groups] == [4, 4, 4] and all(c in CODE_ALPHABET for c in "".join(groups))
    assert claim_code(identity, load_setup(tmp_path, identity)) == code  # stable across restarts
    stored = setup_file(tmp_path).read_text()
    assert code not in stored and code.replace("-", "") not in stored  # only its hash is kept
    assert stat.S_IMODE(setup_file(tmp_path).stat().st_mode) == 0o600

    wrong = ("2" if code[0] != "2" else "3") + code[1:]
    with pytest.raises(ClaimError, match="wrong claim code"):
        claim(tmp_path, identity, wrong)
    with pytest.raises(ClaimError, match="12 characters"):
        claim(tmp_path, identity, "0000-1111-OOOO")
    assert load_setup(tmp_path, identity).state == "unclaimed"

    claimed = claim(tmp_path, identity, f"  {code.lower().replace('-', ' ')} ", via="test")
    assert claimed.state == "ready" and claimed.claimed_via == "test" and claimed.claimed_at
    assert load_setup(tmp_path, identity).state == "ready"
    assert claim_code(identity, claimed) is None
    with pytest.raises(ClaimError, match="already claimed"):
        claim(tmp_path, identity, code)


def test_provisioning_serial_only_grows(tmp_path):
    identity = load_or_create_identity(tmp_path)
    assert mark_provisioned(tmp_path, identity, 3, via="file").state == "ready"
    with pytest.raises(StaleSerial, match="serial 3 is not newer than the last one applied \\(3\\)"):
        mark_provisioned(tmp_path, identity, 3, via="file")
    with pytest.raises(StaleSerial):
        mark_provisioned(tmp_path, identity, 2, via="file")
    assert mark_provisioned(tmp_path, identity, 4, via="usb").provision_serial == 4


def test_status_command(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("VIGIA_DATA_DIR", str(tmp_path))

    def run(*args: str) -> str:
        assert main(["status", *args]) == 0
        return capsys.readouterr().out

    info = json.loads(run("--json"))
    identity = load_or_create_identity(tmp_path)
    assert info["device_id"] == identity.device_id and info["state"] == "unclaimed"
    assert info["claim_code"] == claim_code(identity, load_setup(tmp_path, identity))
    text = run()
    assert f"claim code {info['claim_code']}" in text and "unclaimed" in text
    claim(tmp_path, identity, info["claim_code"])
    text = run()
    assert "ready" in text and "claim code" not in text and info["claim_code"] not in text


def test_files_made_by_root_belong_to_the_data_dirs_owner(tmp_path):
    """`vigia status` or the USB watcher run as root; the appliance runs as `vigia`, owner of the data dir."""
    assert os.geteuid() == 0, "run the suite as root (CI does)"
    data_dir = tmp_path / "data"
    data_dir.mkdir()
    os.chown(data_dir, 4321, 4322)
    identity = load_or_create_identity(data_dir)
    load_setup(data_dir, identity)
    for path in (data_dir / "identity", identity.key_file, setup_file(data_dir), data_dir / "identity" / "setup.lock"):
        assert (path.stat().st_uid, path.stat().st_gid) == (4321, 4322), path
