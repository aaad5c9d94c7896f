"""Schemathesis over every operation of both OpenAPI documents (the guards' API and central's dashboard), against
the real servers (the appliance's over its own TLS certificate and SQLite; the dashboard on PostgreSQL and moto S3),
as an admin. A bounded budget (EXAMPLES per operation and phase). Each answer must:

- not be a 5xx (but a 502 the operation documents: the camera or central it was asked to reach did not answer);
- keep to its own schema (status code, content type, body);
- for a request the document calls valid, not be a 400: the document says what the server enforces.
"""
from __future__ import annotations

import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
import requests
import schemathesis
from hypothesis import HealthCheck, settings
from schemathesis.config import SchemathesisConfig
from schemathesis.generation import GenerationMode
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from tests.test_central_dashboard import USERS, events_at, fleet_central
from tests.test_local_api import PASSWORDS, ROLES, make_config, running
from vigia.appliance.storage import connect
from vigia.central.dashboard.openapi import openapi_document as dashboard_document
from vigia.local_ui import accounts
from vigia.local_ui.openapi import openapi_document as appliance_document

EXAMPLES = 2
CHECKS = [status_code_conformance, content_type_conformance, response_schema_conformance]
FUZZ = settings(max_examples=EXAMPLES, deadline=None, derandomize=True, database=None,
                suppress_health_check=list(HealthCheck))

# Coverage phase without methods the document does not name (aiohttp answers them 405 before any handler): budget.
CONFIG = SchemathesisConfig.from_dict({"phases": {"coverage": {"unexpected-methods": []}}})
appliance_schema = schemathesis.openapi.from_dict(appliance_document(), config=CONFIG)
dashboard_schema = schemathesis.openapi.from_dict(dashboard_document(), config=CONFIG)


@dataclass
class Target:
    base_url: str
    login: str          # the login operation's path
    cookie: str         # the session cookie's name
    username: str
    password: str
    ca: Path            # the certificate the server's is checked against
    http: requests.Session | None = None

    def session(self) -> requests.Session:
        """A logged-in session that sends the CSRF token on every request."""
        http = requests.Session()
        reply = http.post(self.base_url + self.login, json={"username": self.username, "password": self.password},
                          timeout=30, verify=self.ca)
        assert reply.status_code == 200, reply.text
        http.headers["X-CSRF-Token"] = reply.json()["csrf_token"]
        http.cookies.clear()  # sent by hand: a cookie jar keeps no cookie of a bare IP address
        http.headers["Cookie"] = f"{self.cookie}={reply.cookies[self.cookie]}"
        return http


@pytest.fixture(scope="module")
def appliance(tmp_path_factory: pytest.TempPathFactory, demo_clip: Path) -> Iterator[Target]:
    config = make_config(demo_clip, tmp_path_factory.mktemp("fuzz-appliance"))
    db = connect(config.storage.database)
    for user, password in PASSWORDS.items():
        accounts.add_user(db, user, password, ROLES[user], actor=None, remote="test", via="test")
    db.conn.close()
    with running(config) as server:
        yield Target(f"https://127.0.0.1:{server.port}", "/api/v1/login", "vigia_session", "ada", PASSWORDS["ada"],
                     server.data_dir / "tls" / "cert.pem")


@pytest.fixture(scope="module")
def dashboard(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Target]:
    with fleet_central(tmp_path_factory.mktemp("fuzz-dashboard")) as central:
        central.enrol("gate-01")
        central.send("gate-01", events_at(time.time() - 600, 3), {"gate": "online"})
        yield Target(f"https://127.0.0.1:{central.port}", "/dashboard/api/v1/login", "vigia_dashboard_session", "ada",
                     USERS["ada"][0], central.root / "ca" / "ca.crt")


def exercise(target: Target, case) -> None:
    """One case: an operation without login on a session of its own (a login ends the session it presents), logout
    on a fresh login, the rest as the admin; its answer checked."""
    if case.operation.definition.raw.get("security") == []:
        http = requests.Session()
    elif case.operation.path.endswith("/logout"):
        http = target.session()
    else:
        target.http = target.http or target.session()
        http = target.http
    if case.headers and "X-CSRF-Token" in case.headers:  # the session's: a generated one is refused (403), as it should
        case.headers["X-CSRF-Token"] = http.headers["X-CSRF-Token"]
    response = case.call(base_url=target.base_url, session=http, timeout=30, verify=str(target.ca))
    case.validate_response(response, checks=CHECKS)
    documented = set(case.operation.definition.raw["responses"])
    assert response.status_code < 500 or (response.status_code == 502 and "502" in documented), (
        f"{case.operation.label}: {response.status_code} {response.text[:300]}\n{case.as_curl_command()}")
    assert response.status_code != 401 or "Cookie" not in http.headers, f"{case.operation.label}: the admin's session was lost"
    websocket = "101" in documented  # a plain GET is no WebSocket handshake: 400 (the live tests speak WebSocket)
    if case._meta is not None and case._meta.generation.mode == GenerationMode.POSITIVE and not websocket:
        assert response.status_code != 400, (
            f"{case.operation.label}: the document calls this request valid, the server refused it: "
            f"{response.text[:300]}\n{case.as_curl_command()}")


@appliance_schema.parametrize()
@FUZZ
def test_appliance_api(case, appliance: Target):
    exercise(appliance, case)


@dashboard_schema.parametrize()
@FUZZ
def test_dashboard_api(case, dashboard: Target):
    exercise(dashboard, case)
