"""The guards' API's TOTP second factor against the real server (real TLS, real SQLite): enrolment, the two-step
login, replayed codes refused, recovery codes good once, wrong codes locking the username like passwords, admins
made to enrol when `http.admin_totp: required`, the CLI reset. Codes are computed by pyotp from the secret shown.
"""
from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pyotp
import pytest
from support.servers import free_port
from test_local_api import CONFIG, Server, call, running, session_cookie

from vigia.appliance.config import load_config
from vigia.appliance.storage import connect
from vigia.local_ui import accounts

PASSWORD = "admin-pass-1"


@dataclass
class Site:
    server: Server
    config_file: Path


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory, demo_clip: Path) -> Iterator[Site]:
    data_dir = tmp_path_factory.mktemp("totp")
    config_file = data_dir / "vigia.yaml"
    config_file.write_text(CONFIG.format(clip=demo_clip, data_dir=data_dir, port=free_port(),
                                         extra="  admin_totp: required\n  login_max_failures: 3\n"))
    config = load_config(config_file)
    db = connect(config.storage.database)
    for name in ("ada", "alma", "lee", "rex"):
        accounts.add_user(db, name, PASSWORD, "admin", actor=None, remote="test", via="test")
    accounts.add_user(db, "gina", "guard-pass-1", "guard", actor=None, remote="test", via="test")
    db.conn.close()
    with running(config) as server:
        yield Site(server, config_file)


def password_step(server: Server, user: str, password: str = PASSWORD):
    return call(server, "POST", "/api/v1/login", json_body={"username": user, "password": password})


def other_code(code: pyotp.TOTP) -> str:
    """A 6-digit code that none of the steps around now has."""
    now = time.time()
    taken = {code.at(now + drift) for drift in (-60, -30, 0, 30, 60)}
    return next(candidate for candidate in (f"{n:06d}" for n in range(7)) if candidate not in taken)


def enrol(server: Server, user: str) -> tuple[pyotp.TOTP, list[str], str, tuple[str, str]]:
    """Log in, enrol (QR code and text), confirm with a first code: (the TOTP, recovery codes, the code used, CSRF
    and session token as a pair)."""
    reply = password_step(server, user)
    assert reply.status == 200 and reply.json()["totp_enrolment_required"] is True
    token, csrf = session_cookie(reply)[0], reply.json()["csrf_token"]
    started = call(server, "POST", "/api/v1/me/totp/enrol", token=token, csrf=csrf)
    assert started.status == 200, started.body
    secret, uri = started.json()["secret"], started.json()["otpauth_uri"]
    assert uri.startswith("otpauth://totp/Vigia:") and f"secret={secret}" in uri
    assert started.json()["qr_svg"].lstrip().startswith("<?xml") and "<svg" in started.json()["qr_svg"]
    code = pyotp.TOTP(secret)
    wrong = call(server, "POST", "/api/v1/me/totp/confirm", token=token, csrf=csrf, json_body={"code": other_code(code)})
    assert wrong.status == 422
    first = code.now()
    confirmed = call(server, "POST", "/api/v1/me/totp/confirm", token=token, csrf=csrf, json_body={"code": first})
    assert confirmed.status == 200, confirmed.body
    return code, confirmed.json()["recovery_codes"], first, (token, csrf)


def test_an_admin_without_a_second_factor_can_only_enrol(site: Site):
    reply = password_step(site.server, "ada")
    assert reply.status == 200 and reply.json()["totp_enrolment_required"] is True
    token, csrf = session_cookie(reply)[0], reply.json()["csrf_token"]
    refused = call(site.server, "GET", "/api/v1/users", token=token)
    assert refused.status == 403 and "second factor" in refused.json()["error"]
    assert call(site.server, "GET", "/api/v1/events", token=token).status == 403
    assert call(site.server, "GET", "/api/v1/me", token=token).status == 200
    assert call(site.server, "GET", "/api/v1/me/totp", token=token).json() == {
        "enabled": False, "pending": False, "recovery_codes_left": 0}
    guard = password_step(site.server, "gina", "guard-pass-1")   # a guard need not enrol
    assert guard.status == 200 and guard.json()["totp_enrolment_required"] is False
    assert call(site.server, "GET", "/api/v1/events", token=session_cookie(guard)[0]).status == 200

    code, recovery, _, (token, csrf) = enrol(site.server, "ada")
    assert len(recovery) == 10 and len(set(recovery)) == 10
    assert call(site.server, "GET", "/api/v1/users", token=token).status == 200   # the same session, now enrolled
    assert call(site.server, "POST", "/api/v1/me/totp/enrol", token=token, csrf=csrf).status == 409
    status = call(site.server, "GET", "/api/v1/me/totp", token=token).json()
    assert status == {"enabled": True, "pending": False, "recovery_codes_left": 10}
    # The secret is never answered again, nor written to the audit log.
    audit = call(site.server, "GET", "/api/v1/audit?limit=50", token=token).json()["entries"]
    actions = [entry["action"] for entry in audit]
    assert "totp_enrolment_started" in actions and "totp_enabled" in actions
    db = connect(site.server.config.storage.database)
    secret = db.execute("select secret from user_totp where username = 'ada'").fetchone()[0]
    chain = " ".join(str(row) for row in db.execute("select * from audit_log"))
    db.conn.close()
    assert secret not in chain and not any(code in chain for code in recovery)


def test_login_is_two_steps_and_a_code_logs_in_once(site: Site):
    code, _, used, _ = enrol(site.server, "alma")
    first = password_step(site.server, "alma")
    assert first.status == 202 and first.json()["second_factor"] == "totp"
    assert "Set-Cookie" not in first.headers          # no session before the code
    challenge = first.json()["challenge"]
    # The enrolment used the current step: its code does not log in again; the next step's does.
    at = time.time() + 30
    replay = call(site.server, "POST", "/api/v1/login/totp", json_body={"challenge": challenge, "code": used})
    assert replay.status == 401 and "Set-Cookie" not in replay.headers
    ok = call(site.server, "POST", "/api/v1/login/totp", json_body={"challenge": challenge, "code": code.at(at)})
    assert ok.status == 200, ok.body
    token = session_cookie(ok)[0]
    assert ok.json()["username"] == "alma" and ok.json()["totp_enrolment_required"] is False
    assert call(site.server, "GET", "/api/v1/users", token=token).status == 200
    # The challenge is spent, and the same code with a new challenge is refused too (its step is used).
    again = password_step(site.server, "alma").json()["challenge"]
    assert call(site.server, "POST", "/api/v1/login/totp", json_body={"challenge": challenge, "code": code.at(at)}).status == 401
    assert call(site.server, "POST", "/api/v1/login/totp", json_body={"challenge": again, "code": code.at(at)}).status == 401
    for bad in ({"challenge": again}, {"challenge": again, "code": "12345"}, {"challenge": "x", "code": "123456"},
                {"challenge": again, "code": "123456", "more": 1}):
        assert call(site.server, "POST", "/api/v1/login/totp", json_body=bad).status == 400, bad


def test_a_recovery_code_works_once(site: Site):
    _, recovery, _, _ = enrol(site.server, "lee")
    challenge = password_step(site.server, "lee").json()["challenge"]
    used = call(site.server, "POST", "/api/v1/login/totp", json_body={"challenge": challenge, "code": recovery[0].lower()})
    assert used.status == 200, used.body
    token = session_cookie(used)[0]
    assert call(site.server, "GET", "/api/v1/me/totp", token=token).json()["recovery_codes_left"] == 9
    challenge = password_step(site.server, "lee").json()["challenge"]
    assert call(site.server, "POST", "/api/v1/login/totp",
                json_body={"challenge": challenge, "code": recovery[0]}).status == 401
    assert call(site.server, "POST", "/api/v1/login/totp",
                json_body={"challenge": challenge, "code": recovery[1]}).status == 200


def test_wrong_codes_lock_the_username_and_the_cli_resets_a_lost_phone(site: Site):
    code, _, _, _ = enrol(site.server, "rex")
    challenge = password_step(site.server, "rex").json()["challenge"]
    wrong = other_code(code)
    statuses = [call(site.server, "POST", "/api/v1/login/totp", json_body={"challenge": challenge, "code": wrong}).status
                for _ in range(3)]
    assert statuses[:2] == [401, 401] and statuses[2] in (401, 429)
    locked = call(site.server, "POST", "/api/v1/login/totp",
                  json_body={"challenge": challenge, "code": code.at(time.time() + 30)})
    assert locked.status == 429 and int(locked.headers["Retry-After"]) > 0
    assert password_step(site.server, "rex").status == 429       # the password is refused while locked too

    env = {**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)}
    vigia = [sys.executable, "-m", "vigia.app.cli.main"]
    reset = subprocess.run([*vigia, "users", "totp-reset", "rex", "-c", str(site.config_file)], capture_output=True,
                           text=True, env=env, timeout=60, check=False)
    assert reset.returncode == 0 and "second factor of rex removed" in reset.stdout, reset.stderr
    missing = subprocess.run([*vigia, "users", "totp-reset", "nobody", "-c", str(site.config_file)], capture_output=True,
                             text=True, env=env, timeout=60, check=False)
    assert missing.returncode == 2 and "no user 'nobody'" in missing.stderr
    db = connect(site.server.config.storage.database)
    assert db.execute("select count(*) from user_totp where username = 'rex'").fetchone()[0] == 0
    entry = db.execute("select username, details from audit_log where action = 'totp_reset' and target = 'rex'").fetchone()
    db.conn.close()
    assert entry is not None and entry[0] is None and "cli:" in entry[1]
