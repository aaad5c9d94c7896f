"""The mobile app's sign-in to central (OAuth2 authorization code with PKCE S256, refresh-token rotation, revocation)
and its part of the external API (alerts, acknowledge, comments, Expo push tokens), against a real central: the
dashboard's authorization page and the API on a new PostgreSQL database, the local Redis."""
from __future__ import annotations

import datetime as dt
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import pytest
import requests

from tests.support.app_central import CLIENT, REDIRECT, AppCentral, app_central, pkce
from tests.support.expo_push import ExpoPushApi
from vigia.central.alerts import store
from vigia.central.alerts.conditions import Finding

PUSH = "ExponentPushToken[abcdefghijklmnopqrstuv]"


@pytest.fixture(scope="module")
def central() -> AppCentral:
    with app_central() as central:
        yield central


def _code(answer: requests.Response, state: str = "s1") -> str:
    assert answer.status_code == 302, answer.text
    location = urlsplit(answer.headers["Location"])
    assert f"{location.scheme}://{location.netloc}{location.path}" in (REDIRECT, ) or location.scheme == "http"
    query = parse_qs(location.query)
    assert query["state"] == [state]
    return query["code"][0]


def test_pkce_sign_in_refresh_rotation_and_logout(central: AppCentral):
    verifier, challenge = pkce()
    code = _code(central.authorize("otto", challenge))
    assert central.query("SELECT count(*) FROM oauth_codes")[0][0] >= 1
    assert central.query("SELECT count(*) FROM oauth_codes WHERE code_sha256 = %s", [code]) == [(0,)]  # hashed
    wrong = central.exchange(code, pkce()[0])
    assert wrong.status_code == 400 and wrong.json()["error"] == "invalid_grant"
    code = _code(central.authorize("otto", challenge))
    tokens = central.exchange(code, verifier)
    assert tokens.status_code == 200, tokens.text
    body = tokens.json()
    assert body["token_type"] == "Bearer" and body["expires_in"] == 900 and "alerts:write" in body["scope"].split()
    again = central.exchange(code, verifier)           # a code works once
    assert again.status_code == 400 and again.json()["error"] == "invalid_grant"
    access, refresh = body["access_token"], body["refresh_token"]
    me = central.get(access, "/me")
    assert me.status_code == 200 and me.json()["username"] == "otto" and me.json()["role"] == "operator"
    assert central.get(access, "/events").status_code == 200        # the feed, with the user's token

    renewed = requests.post(f"{central.api}/oauth/token", data={"grant_type": "refresh_token", "client_id": CLIENT,
                                                                "refresh_token": refresh}, timeout=10)
    assert renewed.status_code == 200, renewed.text
    new_access, new_refresh = renewed.json()["access_token"], renewed.json()["refresh_token"]
    assert new_refresh != refresh
    reused = requests.post(f"{central.api}/oauth/token", data={"grant_type": "refresh_token", "client_id": CLIENT,
                                                               "refresh_token": refresh}, timeout=10)
    assert reused.status_code == 400 and reused.json()["error"] == "invalid_grant"
    assert central.get(access, "/me").status_code == 401             # rotated out with its refresh token

    assert central.send("PUT", new_access, "/push-tokens", {"token": PUSH}).status_code == 200
    assert central.query("SELECT username FROM expo_push_tokens WHERE token = %s", [PUSH]) == [("otto",)]
    bad = central.send("PUT", new_access, "/push-tokens", {"token": "not-a-token"})
    assert bad.status_code == 400 and "token" in bad.json()["error"]

    logout = requests.post(f"{central.api}/oauth/revoke", data={"client_id": CLIENT, "token": new_refresh}, timeout=10)
    assert logout.status_code == 200, logout.text
    revoked = central.get(new_access, "/me")
    assert revoked.status_code == 401 and "revoked" in revoked.json()["error"]
    assert central.query("SELECT count(*) FROM expo_push_tokens WHERE token = %s", [PUSH]) == [(0,)]


def test_authorization_requests_that_are_refused(central: AppCentral):
    _, challenge = pkce()
    base = {"response_type": "code", "client_id": CLIENT, "redirect_uri": REDIRECT, "state": "x",
            "code_challenge": challenge, "code_challenge_method": "S256"}
    plain = requests.get(central.authorize_url, params={**base, "code_challenge_method": "plain"},
                         allow_redirects=False, timeout=10)
    assert plain.status_code == 302 and "error=invalid_request" in plain.headers["Location"]
    assert plain.headers["Location"].startswith(REDIRECT)
    missing = requests.get(central.authorize_url, params={k: v for k, v in base.items() if k != "code_challenge"},
                           allow_redirects=False, timeout=10)
    assert missing.status_code == 302 and "error=invalid_request" in missing.headers["Location"]
    for wrong in ({"redirect_uri": "https://evil.example/auth"}, {"redirect_uri": "http://127.0.0.1:9/other"},
                  {"client_id": "no-such-app"}):
        page = requests.get(central.authorize_url, params={**base, **wrong}, allow_redirects=False, timeout=10)
        assert page.status_code == 400 and "Location" not in page.headers, page.text
    loopback = central.authorize("vera", challenge, redirect="http://127.0.0.1:8081/auth")   # the web build in tests
    assert loopback.status_code == 302 and loopback.headers["Location"].startswith("http://127.0.0.1:8081/auth?code=")
    wrong_password = requests.post(central.authorize_url, data={**base, "username": "vera", "password": "nope"},
                                   allow_redirects=False, timeout=30)
    assert wrong_password.status_code == 401 and "Wrong username or password" in wrong_password.text
    no_pkce = requests.post(f"{central.api}/oauth/token", data={"grant_type": "authorization_code", "client_id": CLIENT,
                                                                "code": "x" * 30, "redirect_uri": REDIRECT}, timeout=10)
    assert no_pkce.status_code == 400


def test_operator_acknowledges_and_comments_a_viewer_only_reads(central: AppCentral):
    now = dt.datetime.now(dt.timezone.utc)

    async def raise_alert():
        import psycopg

        async with await psycopg.AsyncConnection.connect(central.dsn, autocommit=True) as conn:
            opened, _ = await store.sync(conn, [Finding("device_offline", "gate-07", "gate-07", None,
                                                        "gate-07 offline for 12 min", {"minutes": 12})], now)
            return opened[0].id
    alert_id = central.call(raise_alert())
    viewer = central.sign_in("vera")
    assert "alerts:write" not in viewer.scope.split()
    listed = central.get(viewer.access, "/alerts")
    assert listed.status_code == 200 and alert_id in [a["id"] for a in listed.json()["items"]]
    denied = central.send("POST", viewer.access, f"/alerts/{alert_id}/ack")
    assert denied.status_code == 403 and "alerts:write" in denied.json()["error"]

    operator = central.sign_in("otto")
    comment = central.send("POST", operator.access, f"/alerts/{alert_id}/comments", {"body": "on my way"})
    assert comment.status_code == 201 and comment.json()["username"] == "otto"
    assert central.send("POST", operator.access, f"/alerts/{alert_id}/comments", {"body": ""}).status_code == 400
    acked = central.send("POST", operator.access, f"/alerts/{alert_id}/ack")
    assert acked.status_code == 200 and acked.json()["acknowledged"] is True
    assert acked.json()["alert"]["acked_by"] == "otto"
    twice = central.send("POST", operator.access, f"/alerts/{alert_id}/ack")
    assert twice.json()["acknowledged"] is False
    one = central.get(viewer.access, f"/alerts/{alert_id}").json()
    assert one["acked_by"] == "otto" and [c["body"] for c in one["comments"]] == ["on my way"]
    assert [(a["action"], a["actor"], a["via"]) for a in one["audit"]][-1] == ("acknowledged", "otto", "app")
    assert central.get(viewer.access, f"/alerts/{alert_id + 1000}").status_code == 404


def test_escalation_reaches_the_users_phone_through_expo_and_the_notification_acknowledges(central: AppCentral):
    """Central's hand-off to Expo's push API (a local receiver checking Expo's request format)."""
    import asyncio

    import psycopg

    from vigia.central.alerts.config import parse_config
    from vigia.central.alerts.watch import Evaluator

    operator, viewer = central.sign_in("otto"), central.sign_in("vera")
    otto_phone, vera_phone, old_phone = ("ExponentPushToken[otto-phone-0001]", "ExponentPushToken[vera-phone-0001]",
                                         "ExponentPushToken[otto-old-phone-01]")
    for tokens, phone in ((operator, otto_phone), (operator, old_phone), (viewer, vera_phone)):
        assert central.send("PUT", tokens.access, "/push-tokens", {"token": phone}).status_code == 200
    now = dt.datetime.now(dt.timezone.utc)
    central.query("INSERT INTO devices (device_id, cert_serial, enrolled_at, last_seen_at) VALUES ('dock-9', '1', %s, %s)",
                  [now - dt.timedelta(days=1), now - dt.timedelta(minutes=30)])
    with ExpoPushApi(gone={old_phone}) as expo:
        config = parse_config({"alerts": {
            "public_url": f"http://127.0.0.1:{central.dashboard_port}/dashboard", "retry_s": 1,
            "conditions": {"device_offline_minutes": 10}, "levels": {"device_offline": [{"notify": ["expo:otto"]}]},
            "expo": {"url": expo.url, "timeout_s": 5}}}, Path("."))

        async def evaluate():
            async with await psycopg.AsyncConnection.connect(central.dsn, autocommit=True) as conn:
                return await (await Evaluator.create(conn, config)).evaluate(conn, now)
        result = asyncio.run(evaluate())
        assert result.opened >= 1 and result.delivered >= 1 and expo.rejected == []
    raised = [m for m in expo.messages if m["data"]["alert"]["subject"] == "dock-9"]
    assert sorted(m["to"] for m in raised) == sorted([otto_phone, old_phone])       # otto's phones only
    pushed = next(m for m in raised if m["to"] == otto_phone)
    assert pushed["title"].endswith("Device offline: dock-9") and pushed["categoryId"] == "vigia-alert"
    assert pushed["priority"] == "high" and pushed["sound"] == "default" and pushed["data"]["change"] == "raised"
    assert all(r.get("Accept-Encoding") == "gzip, deflate" for r in expo.requests)
    assert central.query("SELECT token FROM expo_push_tokens WHERE username = 'otto'") == [(otto_phone,)]  # gone: removed

    acked = requests.post(pushed["data"]["ack"]["url"], json={"token": pushed["data"]["ack"]["token"]}, timeout=10)
    assert acked.status_code == 200, acked.text
    alert = next(a for a in central.get(viewer.access, "/alerts").json()["items"] if a["subject"] == "dock-9")
    assert alert["acked_at"] is not None


def test_expo_settings_are_checked():
    from vigia.central.alerts.config import ConfigError, parse_config

    base = {"public_url": "https://c.example.org/dashboard", "conditions": {"device_offline_minutes": 10},
            "levels": {"default": [{"notify": ["expo"]}]}}
    with pytest.raises(ConfigError, match="alerts.expo"):
        parse_config({"alerts": base}, Path("."))
    with pytest.raises(ConfigError, match=r"alerts.expo.url: https, or http only to this machine"):
        parse_config({"alerts": {**base, "expo": {"url": "http://push.example.org/send"}}}, Path("."))
    assert parse_config({"alerts": {**base, "expo": {}}}, Path(".")).expo.url == "https://exp.host/--/api/v2/push/send"


def test_the_apps_routes_answer_as_the_openapi_document_says(central: AppCentral):
    """The contract the app's generated types come from, checked against the real answers."""
    import jsonschema

    from vigia.central.api.openapi import openapi_document

    document = openapi_document()
    operator = central.sign_in("otto")
    now = dt.datetime.now(dt.timezone.utc)

    async def raise_alert():
        import psycopg

        async with await psycopg.AsyncConnection.connect(central.dsn, autocommit=True) as conn:
            opened, _ = await store.sync(conn, [Finding("disk_low", "yard-3", "yard-3", None, "yard-3 disk 4% free",
                                                        {"free_ratio": 0.04})], now)
            return opened[0].id
    alert_id = central.call(raise_alert())

    def check(method: str, route: str, answer: requests.Response) -> None:
        status = str(answer.status_code)
        schema = document["paths"][f"/api/v1{route}"][method]["responses"][status]["content"]["application/json"]["schema"]
        jsonschema.Draft202012Validator({**schema, "components": document["components"]}).validate(answer.json())

    check("get", "/me", central.get(operator.access, "/me"))
    check("get", "/alerts", central.get(operator.access, "/alerts", state="all"))
    check("post", "/alerts/{alert_id}/comments",
          central.send("POST", operator.access, f"/alerts/{alert_id}/comments", {"body": "checking"}))
    check("get", "/alerts/{alert_id}", central.get(operator.access, f"/alerts/{alert_id}"))
    check("post", "/alerts/{alert_id}/ack", central.send("POST", operator.access, f"/alerts/{alert_id}/ack"))
    check("put", "/push-tokens", central.send("PUT", operator.access, "/push-tokens", {"token": PUSH}))
    check("delete", "/push-tokens", central.send("DELETE", operator.access, "/push-tokens", {"token": PUSH}))
    check("get", "/alerts/{alert_id}", central.get(operator.access, "/alerts/x"))          # 400, as documented
    with pytest.raises(jsonschema.ValidationError):           # the check can fail: an answer of another shape
        jsonschema.Draft202012Validator({**document["paths"]["/api/v1/me"]["get"]["responses"]["200"]["content"][
            "application/json"]["schema"], "components": document["components"]}).validate({"username": "otto"})
