"""The shared kit: password hashing, roles, durable file writes with their modes."""
from __future__ import annotations

import base64
import os
import stat
from pathlib import Path

import pyotp
import pytest

from vigia.kit import files, passwords, totp


def test_password_hashes_are_scrypt_with_their_parameters():
    encoded = passwords.hash_password("correct horse")
    scheme, n, r, p, salt, _ = encoded.split("$")
    assert (scheme, n, r, p) == ("scrypt", "16384", "8", "1") and len(base64.urlsafe_b64decode(salt + "==")) == 16
    assert passwords.verify_password("correct horse", encoded)
    assert not passwords.verify_password("correct horsf", encoded)
    assert passwords.hash_password("correct horse") != encoded  # a fresh salt every time
    weak = passwords.hash_password("correct horse", n=2**10)
    assert passwords.verify_password("correct horse", weak) and passwords.needs_rehash(weak)
    assert not passwords.needs_rehash(encoded)
    assert not passwords.verify_password("x", "plain-text-password") and not passwords.verify_password("x", "scrypt$3$8$1$AA$AA")


def test_roles_are_ordered_by_the_caller():
    roles = passwords.Roles(("viewer", "operator", "admin"))
    assert roles.allows("admin", "viewer") and roles.allows("operator", "operator")
    assert not roles.allows("viewer", "operator") and not roles.allows("guard", "viewer")
    assert roles.check("operator") == "operator"
    with pytest.raises(passwords.AccountError, match="viewer, operator, admin"):
        roles.check("guard")


def test_tokens_match_the_pattern_sessions_accept():
    token = passwords.new_token()
    assert passwords.TOKEN_PATTERN.fullmatch(token) and token != passwords.new_token()
    assert passwords.token_hash(token) != token and len(passwords.token_hash(token)) == 64


def test_keys_are_owner_only_and_certificates_readable(tmp_path: Path):
    folder = tmp_path / "made" / "here"
    files.write_credential(folder / "device.key", b"secret", files.PRIVATE)
    files.write_credential(folder / "device.crt", b"public", files.PUBLIC)
    assert stat.S_IMODE((folder / "device.key").stat().st_mode) == 0o600
    assert stat.S_IMODE((folder / "device.crt").stat().st_mode) == 0o644
    assert stat.S_IMODE(folder.stat().st_mode) == 0o700
    files.write_credential(folder / "device.key", b"rotated", files.PRIVATE)
    assert (folder / "device.key").read_bytes() == b"rotated" and sorted(os.listdir(folder)) == ["device.crt", "device.key"]


def test_write_new_never_replaces(tmp_path: Path):
    files.write_new(tmp_path / "once", b"first")
    with pytest.raises(FileExistsError):
        files.write_new(tmp_path / "once", b"second")
    assert (tmp_path / "once").read_bytes() == b"first" and os.listdir(tmp_path) == ["once"]


def test_a_failed_replacement_leaves_the_old_file_and_no_temporary(tmp_path: Path):
    path = tmp_path / "clip.mp4"
    path.write_bytes(b"old")
    with pytest.raises(RuntimeError), files.replacing(path) as tmp:
        tmp.write_bytes(b"half")
        raise RuntimeError("the writer failed")
    assert path.read_bytes() == b"old" and os.listdir(tmp_path) == ["clip.mp4"]
    with files.replacing(path) as tmp:
        tmp.write_bytes(b"new")
    assert path.read_bytes() == b"new" and os.listdir(tmp_path) == ["clip.mp4"]


def test_totp_codes_match_their_step_once_within_one_step_of_drift():
    secret = totp.new_secret()
    code = pyotp.TOTP(secret)
    now = 1_800_000_015.0                      # inside step 60_000_000
    step = int(now // totp.STEP)
    assert totp.matching_step(secret, code.at(now), None, now) == step
    assert totp.matching_step(secret, code.at(now - 30), None, now) == step - 1      # a phone 30 s behind
    assert totp.matching_step(secret, code.at(now + 30), None, now) == step + 1
    assert totp.matching_step(secret, code.at(now + 60), None, now) is None          # two steps off
    assert totp.matching_step(secret, code.at(now), step, now) is None               # that step was used: no replay
    assert totp.matching_step(secret, code.at(now - 30), step, now) is None          # nor an earlier one
    assert totp.matching_step(secret, code.at(now + 30), step, now) == step + 1
    for malformed in ("", "12345", "1234567", "12345a", " 123456"):
        assert totp.matching_step(secret, malformed, None, now) is None
    uri = totp.provisioning_uri(secret, "ada", "Vigia")
    assert pyotp.parse_uri(uri).secret == secret and "<svg" in totp.qr_svg(uri)


def test_recovery_codes_are_random_and_hashed_without_case_or_dash():
    codes = totp.new_recovery_codes()
    assert len(set(codes)) == totp.RECOVERY_CODES and all(totp.RECOVERY_CODE.fullmatch(c) for c in codes)
    first = codes[0]
    assert totp.recovery_hash(first) == totp.recovery_hash(first.lower()) == totp.recovery_hash(first.replace("-", ""))
    assert first not in totp.recovery_hash(first) and totp.recovery_hash("not-a-code") is None
