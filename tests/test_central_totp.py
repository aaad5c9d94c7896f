"""Central dashboard's TOTP second factor on a real PostgreSQL: enrolment, the two-step login, replayed codes refused,
recovery codes good once, wrong codes locking the username like passwords, admins made to enrol with
`admin_totp`, the audit trail, and `vigia central user-totp-reset`. Codes are computed by pyotp from the secret shown.
"""
from __future__ import annotations

import asyncio
import os
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass

import aiohttp
import psycopg
import pyotp
import pytest
from aiohttp import web

from vigia.app.devstack import free_port, temporary_database
from vigia.central.dashboard import accounts
from vigia.central.dashboard.app import COOKIE, DashboardSettings, create_app

PASSWORD = "admin-pass-1"
API = "/dashboard/api/v1"


@dataclass
class Central:
    dsn: str
    base: str


@pytest.fixture(scope="module")
def central() -> Iterator[Central]:
    with temporary_database() as dsn:
        port = free_port()
        loop = asyncio.new_event_loop()
        logins = accounts.LoginPolicy(max_failures=3)

        async def start() -> web.AppRunner:
            runner = web.AppRunner(create_app(DashboardSettings(dsn, logins=logins, admin_totp=True)), access_log=None)
            await runner.setup()
            await web.TCPSite(runner, "127.0.0.1", port).start()
            async with await psycopg.AsyncConnection.connect(dsn, autocommit=True) as conn:
                for name in ("ada", "alma", "lee", "rex"):
                    await accounts.add_user(conn, name, PASSWORD, "admin")
                await accounts.add_user(conn, "vera", "viewer-pass-1", "viewer")
            return runner

        thread = threading.Thread(target=loop.run_forever, daemon=True)
        thread.start()
        runner = asyncio.run_coroutine_threadsafe(start(), loop).result(60)
        try:
            yield Central(dsn, f"http://127.0.0.1:{port}{API}")
        finally:
            asyncio.run_coroutine_threadsafe(runner.cleanup(), loop).result(30)
            loop.call_soon_threadsafe(loop.stop)
            thread.join(10)


@dataclass
class Reply:
    status: int
    body: dict
    token: str | None   # the session cookie it set
    headers: dict


def call(central: Central, method: str, path: str, *, json=None, token: str | None = None,
         csrf: str | None = None) -> Reply:
    """One request; the session cookie is sent by hand (it is Secure, and this server is plain HTTP)."""
    async def go() -> Reply:
        headers = {}
        if token:
            headers["Cookie"] = f"{COOKIE}={token}"
        if csrf:
            headers["X-CSRF-Token"] = csrf
        async with aiohttp.ClientSession() as session, \
                session.request(method, central.base + path, json=json, headers=headers) as reply:
            cookie = reply.cookies.get(COOKIE)
            return Reply(reply.status, await reply.json(), cookie.value if cookie else None, dict(reply.headers))
    return asyncio.run(go())


def other_code(code: pyotp.TOTP) -> str:
    now = time.time()
    taken = {code.at(now + drift) for drift in (-60, -30, 0, 30, 60)}
    return next(candidate for candidate in (f"{n:06d}" for n in range(7)) if candidate not in taken)


def password_step(central: Central, user: str, password: str = PASSWORD) -> Reply:
    return call(central, "POST", "/login", json={"username": user, "password": password})


def enrol(central: Central, user: str) -> tuple[pyotp.TOTP, list[str], str, tuple[str, str]]:
    """(the TOTP, recovery codes, the code that confirmed it, (session token, CSRF))."""
    reply = password_step(central, user)
    assert reply.status == 200 and reply.body["totp_enrolment_required"] is True
    token, csrf = reply.token, reply.body["csrf_token"]
    started = call(central, "POST", "/me/totp/enrol", token=token, csrf=csrf)
    assert started.status == 200, started.body
    secret, uri = started.body["secret"], started.body["otpauth_uri"]
    assert uri.startswith("otpauth://totp/Vigia%20central:") and f"secret={secret}" in uri
    assert "<svg" in started.body["qr_svg"]
    code = pyotp.TOTP(secret)
    assert call(central, "POST", "/me/totp/confirm", token=token, csrf=csrf, json={"code": other_code(code)}).status == 422
    first = code.now()
    confirmed = call(central, "POST", "/me/totp/confirm", token=token, csrf=csrf, json={"code": first})
    assert confirmed.status == 200, confirmed.body
    return code, confirmed.body["recovery_codes"], first, (token, csrf)


def audit(central: Central, user: str) -> list[str]:
    with psycopg.connect(central.dsn) as conn:
        return [row[0] for row in conn.execute(
            "SELECT action FROM dashboard_account_audit WHERE target = %s ORDER BY id", [user])]


def test_an_admin_must_enrol_before_anything_else(central: Central):
    reply = password_step(central, "ada")
    token = reply.token
    refused = call(central, "GET", "/devices", token=token)
    assert refused.status == 403 and "second factor" in refused.body["error"]
    assert call(central, "GET", "/me", token=token).status == 200
    viewer = password_step(central, "vera", "viewer-pass-1")
    assert viewer.body["totp_enrolment_required"] is False and call(central, "GET", "/devices", token=viewer.token).status == 200

    _, recovery, _, (token, csrf) = enrol(central, "ada")
    assert len(set(recovery)) == 10
    assert call(central, "GET", "/devices", token=token).status == 200
    assert call(central, "POST", "/me/totp/enrol", token=token, csrf=csrf).status == 409
    assert call(central, "GET", "/me/totp", token=token).body == {"enabled": True, "pending": False,
                                                                  "recovery_codes_left": 10}
    assert audit(central, "ada") == ["totp_enrolment_started", "totp_enrolment_failed", "totp_enabled"]


def test_login_is_two_steps_and_a_code_logs_in_once(central: Central):
    code, _, used, _ = enrol(central, "alma")
    first = password_step(central, "alma")
    assert first.status == 202 and first.body["second_factor"] == "totp" and first.token is None
    challenge = first.body["challenge"]
    replay = call(central, "POST", "/login/totp", json={"challenge": challenge, "code": used})
    assert replay.status == 401 and replay.token is None
    at = time.time() + 30
    ok = call(central, "POST", "/login/totp", json={"challenge": challenge, "code": code.at(at)})
    assert ok.status == 200 and ok.token and ok.body["username"] == "alma"
    assert call(central, "GET", "/devices", token=ok.token).status == 200
    again = password_step(central, "alma").body["challenge"]
    assert call(central, "POST", "/login/totp", json={"challenge": again, "code": code.at(at)}).status == 401
    assert call(central, "POST", "/login/totp", json={"challenge": challenge, "code": code.at(at)}).status == 401
    assert call(central, "POST", "/login/totp", json={"challenge": again, "code": "1234"}).status == 400
    assert "login" in audit(central, "alma") and audit(central, "alma").count("login_failed") == 2


def test_a_recovery_code_works_once(central: Central):
    _, recovery, _, _ = enrol(central, "lee")
    challenge = password_step(central, "lee").body["challenge"]
    used = call(central, "POST", "/login/totp", json={"challenge": challenge, "code": recovery[0]})
    assert used.status == 200
    assert call(central, "GET", "/me/totp", token=used.token).body["recovery_codes_left"] == 9
    challenge = password_step(central, "lee").body["challenge"]
    assert call(central, "POST", "/login/totp", json={"challenge": challenge, "code": recovery[0]}).status == 401
    assert call(central, "POST", "/login/totp", json={"challenge": challenge, "code": recovery[1]}).status == 200


def test_wrong_codes_lock_the_username_and_the_cli_resets_a_lost_phone(central: Central):
    code, _, _, _ = enrol(central, "rex")
    challenge = password_step(central, "rex").body["challenge"]
    wrong = other_code(code)
    statuses = [call(central, "POST", "/login/totp", json={"challenge": challenge, "code": wrong}).status for _ in range(2)]
    assert statuses == [401, 401]
    locked = call(central, "POST", "/login/totp", json={"challenge": challenge, "code": code.at(time.time() + 30)})
    assert locked.status == 429 and int(locked.headers["Retry-After"]) > 0
    assert password_step(central, "rex").status == 429

    env = {**os.environ, "VIGIA_CENTRAL_DATABASE": central.dsn}
    vigia = [sys.executable, "-m", "vigia.app.cli.main", "central"]
    reset = subprocess.run([*vigia, "user-totp-reset", "rex"], capture_output=True, text=True, env=env, timeout=60,
                           check=False)
    assert reset.returncode == 0 and "second factor of rex removed" in reset.stdout, reset.stderr
    missing = subprocess.run([*vigia, "user-totp-reset", "nobody"], capture_output=True, text=True, env=env, timeout=60,
                             check=False)
    assert missing.returncode == 2 and "no dashboard user 'nobody'" in missing.stderr
    assert audit(central, "rex")[-1] == "totp_reset"
    with psycopg.connect(central.dsn) as conn:
        assert conn.execute("SELECT count(*) FROM dashboard_totp WHERE username = 'rex'").fetchone()[0] == 0
