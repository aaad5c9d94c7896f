"""Single sign-on for the fleet dashboard (vigia.central.dashboard.sso): OpenID Connect against a real, certified
provider (panva's oidc-provider, tests/support/oidc_provider.py), the dashboard over HTTPS on a real PostgreSQL.

The browser's part is done here with aiohttp (the provider's own login form posted, redirects followed by hand, so
the callback can be tampered with); tests/test_browser_sso.py does it in Chromium."""
from __future__ import annotations

import asyncio
import re
import secrets
from collections.abc import Iterator
from contextlib import contextmanager
from urllib.parse import parse_qs, urljoin, urlsplit

import aiohttp
import pytest
from joserfc import jwt
from joserfc.jwk import KeySet, RSAKey
from support.oidc_provider import OidcProvider, oidc_provider

from tests.test_central_dashboard import USERS, FleetCentral, fleet_central
from vigia.app.devstack import free_port
from vigia.central.dashboard.app import COOKIE
from vigia.central.dashboard.sso import SsoError, validate_id_token
from vigia.central.dashboard.sso_config import SsoConfigError, SsoSettings, load_sso_settings
from vigia.kit.passwords import token_hash

CLIENT_ID = "vigia-dashboard"
SECRET = secrets.token_urlsafe(32)
ROLES = {"vigia-admins": "admin", "vigia-operators": "operator", "vigia-viewers": "viewer"}
ACCOUNTS = {
    "olga": {"preferred_username": "olga", "groups": ["staff", "vigia-viewers", "vigia-admins"]},
    "oscar": {"preferred_username": "oscar", "groups": "vigia-operators"},
    "nobody": {"preferred_username": "nobody", "groups": ["staff"]},
    "vera-sso": {"preferred_username": "vera", "groups": ["vigia-viewers"]},   # a local user's name
}


def client(port: int) -> dict:
    return {"client_id": CLIENT_ID, "client_secret": SECRET, "grant_types": ["authorization_code"],
            "response_types": ["code"], "token_endpoint_auth_method": "client_secret_basic",
            "redirect_uris": [f"https://127.0.0.1:{port}/dashboard/api/v1/sso/callback"]}


@pytest.fixture(scope="module")
def provider(tmp_path_factory) -> Iterator[tuple[OidcProvider, int]]:
    port = free_port()
    with oidc_provider(tmp_path_factory.mktemp("oidc"), [client(port)], ACCOUNTS) as provider:
        yield provider, port


def sso_settings(provider: OidcProvider, port: int, **changes) -> SsoSettings:
    return SsoSettings(**{"issuer": provider.issuer, "client_id": CLIENT_ID, "client_secret": SECRET,
                          "redirect_url": f"https://127.0.0.1:{port}/dashboard/api/v1/sso/callback",
                          "roles": ROLES, "button": "Company account",
                          "scopes": "openid profile groups", **changes})


@pytest.fixture(scope="module")
def central(provider, tmp_path_factory) -> Iterator[FleetCentral]:
    issuer, port = provider
    with fleet_central(tmp_path_factory.mktemp("sso"), port, sso=sso_settings(issuer, port)) as central:
        yield central


class Browser:
    """An aiohttp session that plays the browser: the dashboard's redirect, the provider's login form."""

    def __init__(self, central: FleetCentral):
        self.central = central

    async def __aenter__(self) -> Browser:
        self.session = aiohttp.ClientSession(cookie_jar=aiohttp.CookieJar(unsafe=True))
        return self

    async def __aexit__(self, *exc) -> None:
        await self.session.close()

    async def get(self, url: str) -> aiohttp.ClientResponse:
        async with self.session.get(url, ssl=False, allow_redirects=False) as response:
            await response.read()
            return response

    async def to_callback(self, login: str) -> str:
        """Start a sign-in and log in at the provider as `login`: the callback URL the provider sends back."""
        response = await self.get(self.central.url + "/api/v1/sso/login")
        assert response.status == 302, response.status
        url = response.headers["Location"]
        for _ in range(10):
            if url.startswith(self.central.url + "/api/v1/sso/callback"):
                return url
            async with self.session.get(url, allow_redirects=False) as page:
                text = await page.text()
                if page.status in (302, 303):
                    url = urljoin(url, page.headers["Location"])
                    continue
            form = re.search(r'<form[^>]*action="([^"]+)"', text)
            assert form, text[:2000]
            fields = dict(re.findall(r'<input[^>]*name="([^"]+)"[^>]*value="([^"]*)"', text))
            if 'name="login"' in text:
                fields |= {"login": login, "password": "any password"}
            async with self.session.post(urljoin(url, form.group(1)), data=fields, allow_redirects=False) as posted:
                await posted.read()
                assert posted.status in (302, 303), (posted.status, await posted.text())
                url = urljoin(url, posted.headers["Location"])
        raise AssertionError(f"no callback: ended at {url}")

    async def me(self) -> tuple[int, dict]:
        async with self.session.get(self.central.url + "/api/v1/me", ssl=False) as response:
            return response.status, await response.json()


def run(central: FleetCentral, work):
    async def main():
        async with Browser(central) as browser:
            return await work(browser)
    return asyncio.run(main())


def audit(central: FleetCentral, action: str) -> list[tuple[str, dict]]:
    async def rows():
        async with central.pool.connection() as conn:
            cursor = await conn.execute("SELECT username, details FROM access_audit WHERE action = %s ORDER BY id", [action])
            return await cursor.fetchall()
    return central.call(rows())


def test_sso_is_offered_with_its_button(central):
    async def work(browser: Browser):
        async with browser.session.get(central.url + "/api/v1/sso", ssl=False) as response:
            return response.status, await response.json()
    assert run(central, work) == (200, {"enabled": True, "button": "Company account", "password_login": True})


def test_first_sign_in_creates_the_user_with_the_highest_role_its_groups_map_to(central):
    async def work(browser: Browser):
        callback = await browser.to_callback("olga")
        response = await browser.get(callback)
        assert response.status == 303 and response.headers["Location"] == "/dashboard/"
        cookie = response.cookies[COOKIE]
        assert cookie["secure"] and cookie["httponly"] and cookie["samesite"] == "Strict"
        status, me = await browser.me()
        assert status == 200 and (me["username"], me["role"]) == ("olga", "admin")
        assert (await browser.get(callback)).status == 400  # the same answer again: its state is spent

    async def oscar(browser: Browser):  # another browser (no session at the provider), a string claim, not a list
        assert (await browser.get(await browser.to_callback("oscar"))).status == 303
        return await browser.me()
    run(central, work)
    status, me = run(central, oscar)
    assert (status, me["username"], me["role"]) == (200, "oscar", "operator")
    signed_in = audit(central, "sso_login")
    assert [(user, d["role"], d["created"]) for user, d in signed_in[-2:]] == [("olga", "admin", True),
                                                                             ("oscar", "operator", True)]

    async def users():
        async with central.pool.connection() as conn:
            cursor = await conn.execute("SELECT username, role, password_hash, subject FROM dashboard_users"
                                        " JOIN dashboard_sso_identities USING (username) ORDER BY username")
            return await cursor.fetchall()
    made = central.call(users())
    assert [(user, role, subject) for user, role, _, subject in made] == [("olga", "admin", "olga"),
                                                                         ("oscar", "operator", "oscar")]
    assert all(hashed.startswith("scrypt$") for _, _, hashed, _ in made)  # of a random password nobody is told

    async def password(browser: Browser):  # no password logs in as a user single sign-on made
        async with browser.session.post(central.url + "/api/v1/login", ssl=False,
                                        json={"username": "olga", "password": "a-guessed-password"}) as response:
            return response.status
    assert run(central, password) == 401


def test_a_later_sign_in_finds_the_same_user_and_sets_its_role_from_the_claims(central):
    async def work(browser: Browser):
        assert (await browser.get(await browser.to_callback("oscar"))).status == 303
        return await browser.me()
    assert run(central, work)[1]["username"] == "oscar"

    async def promote():  # changed here since: the provider's groups decide again at the next sign-in
        async with central.pool.connection() as conn:
            await conn.execute("UPDATE dashboard_users SET role = 'admin' WHERE username = 'oscar'")
    central.call(promote())
    status, me = run(central, work)
    assert (status, me["username"], me["role"]) == (200, "oscar", "operator")
    last = audit(central, "sso_login")[-1]
    assert last == ("oscar", {"issuer": last[1]["issuer"], "subject": "oscar", "role": "operator", "created": False,
                              "previous_role": "admin"})


def test_a_forged_or_foreign_state_is_refused_and_audited(central):
    async def work(browser: Browser):
        callback = await browser.to_callback("olga")
        forged = re.sub(r"state=[^&]+", "state=" + secrets.token_urlsafe(32), callback)
        assert (await browser.get(forged)).status == 400
        no_state = re.sub(r"&?state=[^&]+", "", callback)
        assert (await browser.get(no_state)).status == 400
        async with Browser(central) as other:  # the right answer, in a browser that did not start the sign-in
            response = await other.get(callback)
            assert response.status == 400 and COOKIE not in response.cookies
        assert (await browser.me())[0] == 401
    run(central, work)
    reasons = [d["reason"] for _, d in audit(central, "sso_refused")]
    assert {"unknown or expired state", "no state", "state of another browser"} <= set(reasons)


def test_a_wrong_nonce_is_refused(central):
    async def work(browser: Browser):
        callback = await browser.to_callback("olga")
        state = parse_qs(urlsplit(callback).query)["state"][0]

        async def tamper():
            async with central.pool.connection() as conn:
                await conn.execute("UPDATE dashboard_sso_pending SET nonce = 'another-login' WHERE state_hash = %s",
                                   [token_hash(state)])
        await asyncio.wrap_future(asyncio.run_coroutine_threadsafe(tamper(), central.loop))
        async with browser.session.get(callback, ssl=False, allow_redirects=False) as response:
            return response.status, await response.json(), await browser.me()
    status, body, me = run(central, work)
    assert status == 401 and "nonce" in body["error"], body
    assert me[0] == 401
    assert "nonce" in audit(central, "sso_refused")[-1][1]["reason"]


def test_no_role_and_a_local_users_name_are_refused(central):
    async def work(browser: Browser):
        async with browser.session.get(await browser.to_callback(browser.login), ssl=False, allow_redirects=False) as r:
            return r.status, (await r.json())["error"]
    answers = []
    for login in ("nobody", "vera-sso"):
        async def as_login(browser: Browser, login=login):
            browser.login = login
            return await work(browser)
        answers.append(run(central, as_login))
    (no_role, no_role_error), (taken, taken_error) = answers
    assert no_role == 403 and "no dashboard role" in no_role_error
    assert taken == 409 and "signs in with a password" in taken_error
    refused = audit(central, "sso_refused")
    assert [user for user, _ in refused[-2:]] == ["nobody", "vera"]

    async def vera_role():
        async with central.pool.connection() as conn:
            return (await (await conn.execute("SELECT role FROM dashboard_users WHERE username = 'vera'")).fetchone())[0]
    assert central.call(vera_role()) == USERS["vera"][1]  # the local user is untouched


def test_the_id_token_check_refuses_wrong_audience_expiry_nonce_and_signature(central, provider):
    """A real ID token from the provider (the code exchanged here, with the sign-in's PKCE verifier): accepted as
    it is; refused for another audience, once expired, for another nonce, and when another key signed it."""
    issuer = provider[0].issuer

    async def work(browser: Browser):
        callback = await browser.to_callback("olga")
        query = parse_qs(urlsplit(callback).query)

        async def pending():
            async with central.pool.connection() as conn:
                cursor = await conn.execute("SELECT nonce, verifier FROM dashboard_sso_pending WHERE state_hash = %s",
                                            [token_hash(query["state"][0])])
                return await cursor.fetchone()
        nonce, verifier = await asyncio.wrap_future(asyncio.run_coroutine_threadsafe(pending(), central.loop))
        discovery = await (await browser.session.get(issuer + "/.well-known/openid-configuration")).json()
        basic = {"Authorization": aiohttp.encode_basic_auth(CLIENT_ID, SECRET)}
        async with browser.session.post(discovery["token_endpoint"], headers=basic, data={
                "grant_type": "authorization_code", "code": query["code"][0], "code_verifier": verifier,
                "redirect_uri": central.url + "/api/v1/sso/callback"}) as response:
            assert response.status == 200, await response.text()
            id_token = (await response.json())["id_token"]
        keys = KeySet.import_key_set(await (await browser.session.get(discovery["jwks_uri"])).json())
        return id_token, keys, nonce
    id_token, keys, nonce = run(central, work)
    check = {"issuer": issuer, "client_id": CLIENT_ID, "nonce": nonce}
    claims = validate_id_token(id_token, keys, **check)
    assert (claims["sub"], claims["groups"]) == ("olga", ACCOUNTS["olga"]["groups"])
    with pytest.raises(SsoError, match="aud"):
        validate_id_token(id_token, keys, **{**check, "client_id": "another-client"})
    with pytest.raises(SsoError, match="expired"):
        validate_id_token(id_token, keys, **check, now=claims["exp"] + 3600)
    with pytest.raises(SsoError, match="nonce"):
        validate_id_token(id_token, keys, **{**check, "nonce": "another-login"})
    with pytest.raises(SsoError, match="iss"):
        validate_id_token(id_token, keys, **{**check, "issuer": "https://impostor.example"})
    forger = RSAKey.generate_key(2048, {"kid": "test-signing-key"})
    forged = jwt.encode({"alg": "RS256", "kid": "test-signing-key"}, dict(claims), forger)
    with pytest.raises(SsoError, match="refused"):
        validate_id_token(forged, keys, **check)


@contextmanager
def sso_only(central: FleetCentral, provider: OidcProvider) -> Iterator[int]:
    """A second dashboard on the same database (on the port it yields), single sign-on only."""
    from aiohttp import web

    from vigia.central.dashboard.app import DashboardSettings, create_app

    port = free_port()
    settings = DashboardSettings(central.dsn, sso=sso_settings(provider, port, password_login=False))

    async def serve():
        runner = web.AppRunner(create_app(settings), access_log=None)
        await runner.setup()
        await web.TCPSite(runner, "127.0.0.1", port, ssl_context=central.tls).start()
        return runner
    runner = central.call(serve())
    try:
        yield port
    finally:
        central.call(runner.cleanup())


def test_password_login_can_be_turned_off(central, provider):
    """Single sign-on only: POST login is 403, SSO says so."""
    with sso_only(central, provider[0]) as port:
        async def work(browser: Browser):
            base = f"https://127.0.0.1:{port}/dashboard/api/v1"
            async with browser.session.post(base + "/login", ssl=False,
                                            json={"username": "ada", "password": USERS["ada"][0]}) as response:
                refused = response.status, await response.json()
            async with browser.session.get(base + "/sso", ssl=False) as response:
                return refused, await response.json()
        refused, info = run(central, work)
    assert refused == (403, {"error": "password login is turned off here: sign in with single sign-on"})
    assert info["password_login"] is False


def test_settings_file_secret_from_a_file_and_errors_name_field_and_line(tmp_path):
    secret = tmp_path / "client.secret"
    secret.write_text(SECRET + "\n")
    secret.chmod(0o600)
    config = tmp_path / "sso.yml"
    body = ("issuer: https://login.example.org/realms/vigia\nclient_id: vigia-dashboard\n"
            "client_secret_file: client.secret\nredirect_url: https://central.example.org/dashboard/api/v1/sso/callback\n"
            "roles:\n  vigia-admins: admin\n")
    config.write_text(body)
    settings = load_sso_settings(config)
    assert (settings.client_secret, settings.roles, settings.password_login) == (SECRET, {"vigia-admins": "admin"}, True)
    assert SECRET not in repr(settings)
    for text, expected in [
        (body.replace("https://login", "http://login"), "line 1: issuer: must be an https:// URL"),
        (body.replace("admin\n", "boss\n"), "line 6: roles.vigia-admins: Input should be 'viewer', 'operator' or 'admin'"),
        (body + "pasword_login: false\n", "line 7: pasword_login: unknown field"),
        (body.replace("client_id: vigia-dashboard\n", ""), "client_id: Field required"),
    ]:
        config.write_text(text)
        with pytest.raises(SsoConfigError, match=re.escape(expected)):
            load_sso_settings(config)
    config.write_text(body)
    secret.chmod(0o644)
    with pytest.raises(SsoConfigError, match=r"line 3: client_secret_file: .*\(chmod 600\)"):
        load_sso_settings(config)




def test_the_dashboard_command_refuses_bad_settings_naming_field_and_line(tmp_path, capsys):
    from vigia.app.cli.main import main

    config = tmp_path / "sso.yml"
    config.write_text("issuer: http://login.example.org\n")
    assert main(["central", "dashboard", "--sso-config", str(config)]) == 2
    err = capsys.readouterr().err
    assert "line 1: issuer: must be an https:// URL" in err and "client_id: Field required" in err, err
