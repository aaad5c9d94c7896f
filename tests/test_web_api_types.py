"""The front ends' API types are generated from the servers' OpenAPI documents, and the dashboard's document
describes its routes.

The generator (web-common/scripts/api-types.mjs, openapi-typescript) runs from the workspace's node_modules
(`make setup` installs them): no network. A stale committed file fails here; `npm run api-types` rewrites it.
"""
from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

from vigia.central.dashboard.app import DashboardSettings, create_app
from vigia.central.dashboard.openapi import openapi_document

ROOT = Path(__file__).resolve().parents[1]
GENERATOR = ROOT / "web-common" / "scripts" / "api-types.mjs"


def test_committed_api_types_match_the_openapi_documents():
    assert shutil.which("node"), "Node.js is missing: run `make setup`"
    assert (ROOT / "node_modules" / "@vigia" / "web-common").exists(), "the npm workspace is not installed: run `make setup`"
    run = subprocess.run(["node", str(GENERATOR), "--check"], cwd=ROOT, capture_output=True, text=True, timeout=120,
                         env={"PATH": str(Path(sys.executable).parent) + ":/usr/bin:/bin", "PYTHON": sys.executable})
    assert run.returncode == 0, run.stderr or run.stdout


def test_the_dashboard_openapi_lists_every_route_and_only_those():
    app = create_app(DashboardSettings(dsn="postgresql:///unused"))
    routes = {(route.method.lower(), route.resource.canonical) for route in app.router.routes()}
    documented = {(method, path) for path, item in openapi_document()["paths"].items() for method in item}
    assert routes == documented
    assert len(routes) == 48  # 31, single sign-on (3), TOTP (4), models and rollouts (8), the app's sign-in page (2)
