"""The model registry and rollouts in the fleet dashboard (vigia.central.dashboard.model_routes) on a real PostgreSQL
and an S3 protocol server: models registered as training registers them, approved (signed with central's key) by an
admin only, a gate-rejected candidate only with an explicit override, a rollout started, followed, paused and resumed,
and every step in the audit trail."""
from __future__ import annotations

import asyncio
from pathlib import Path

import psycopg
import pytest

from tests.test_central_dashboard import Client, FleetCentral, fleet_central, run
from vigia.app.modelfleet import edited_model
from vigia.central.models import rollout
from vigia.central.models.registry import register_model
from vigia.central.models.signing import load_or_create_signing_key, public_key_b64
from vigia.inference.model_signature import verify_model_signature

API = "/api/v1"
LINEAGE = {"base_model": "yolox_nano.onnx", "dataset": "hard@3", "seed": 7, "train_seconds": 41.5,
           "hyper_parameters": {"iterations": 60, "lr": 0.002}}


def gate_metrics(passed: bool, before: float, after: float) -> dict:
    def measured(map50: float) -> dict:
        return {"map50": map50, "recall": map50, "recall_per_class": {"person": map50}, "images": 4, "objects": 20}
    return {"gate": {"passed": passed, "reasons": [f"held-out mAP@0.5 {before:.4f} -> {after:.4f}: "
                                                   f"{'pass' if passed else 'REJECT'}"]},
            "base": {"heldout": measured(before), "regression": measured(0.5)},
            "candidate": {"heldout": measured(after), "regression": measured(0.5)}}


def register(central: FleetCentral, path: Path, metrics: dict) -> str:
    async def work():
        async with await psycopg.AsyncConnection.connect(central.dsn, autocommit=True) as conn:
            return (await register_model(conn, central.media, path, LINEAGE, metrics, actor="central:train")).id
    return central.call(work())   # on the dashboard's loop: a browser test's thread runs Playwright's


def query_one(central: FleetCentral, sql: str, params: list | None = None) -> tuple:
    with psycopg.connect(central.dsn) as conn:
        return conn.execute(sql, params or []).fetchone()


def step(central: FleetCentral, rollout_id: int) -> dict:
    async def work():
        async with await psycopg.AsyncConnection.connect(central.dsn, autocommit=True) as conn:
            return await rollout.step(conn, central.media, rollout_id)
    return asyncio.run(work())


@pytest.fixture(scope="module")
def central(tmp_path_factory, default_model: Path):
    folder = tmp_path_factory.mktemp("dashboard-models")
    with fleet_central(folder) as central:
        for device in ("gate-01", "dock-02", "yard-03"):
            central.enrol(device)
        central.models = {
            "good": register(central, edited_model(default_model, folder / "better.onnx", class_scale=1.0),
                             gate_metrics(True, 0.41, 0.47)),
            "rejected": register(central, edited_model(default_model, folder / "worse.onnx", class_scale=0.5),
                                 gate_metrics(False, 0.41, 0.12))}
        yield central


def test_models_are_listed_with_lineage_and_gate_and_only_an_admin_approves(central):
    good, rejected = central.models["good"], central.models["rejected"]

    async def work(client: Client):
        await client.login("vera")
        status, listed = await client.request("GET", f"{API}/models")
        assert status == 200 and listed["can_sign"] is True
        by_id = {m["id"]: m for m in listed["models"]}
        assert by_id[good]["state"] == "candidate" and not by_id[good]["gate_rejected"] and not by_id[good]["signed"]
        assert by_id[rejected]["gate_rejected"] and by_id[rejected]["lineage"]["dataset"] == "hard@3"
        assert by_id[good]["metrics"]["candidate"]["heldout"]["map50"] == 0.47 and by_id[good]["size"] > 100_000
        assert (await client.request("POST", f"{API}/models/{good}/approve"))[0] == 403   # a viewer
        await client.login("otto")
        assert (await client.request("POST", f"{API}/models/{good}/approve"))[0] == 403   # an operator
        await client.login("ada")
        assert (await client.request("POST", f"{API}/models/{good}/approve", headers={"X-CSRF-Token": "x"}))[0] == 403
        assert (await client.request("GET", f"{API}/models/no-such-model"))[0] == 404
        assert (await client.request("POST", f"{API}/models/{rejected}/approve", json={"override": "yes"}))[0] == 400
        status, refused = await client.request("POST", f"{API}/models/{rejected}/approve")
        assert status == 409 and "rejected by the evaluation gate" in refused["error"] and "0.1200" in refused["error"]
        status, forced = await client.request("POST", f"{API}/models/{rejected}/approve", json={"override": True})
        assert status == 200 and forced["state"] == "approved" and forced["signed"]
        status, approved = await client.request("POST", f"{API}/models/{good}/approve")
        assert status == 200 and approved["state"] == "approved"
        assert (await client.request("POST", f"{API}/models/{good}/approve"))[0] == 409   # approved already
        status, retired = await client.request("POST", f"{API}/models/{rejected}/retire")
        assert status == 200 and retired["state"] == "retired"
        return (await client.request("GET", f"{API}/models/{rejected}"))[1], (await client.request(
            "GET", f"{API}/models/{good}"))[1]

    rejected_detail, good_detail = run(central, work)
    actions = [(a["action"], a["actor"]) for a in reversed(rejected_detail["audit"])]
    assert actions == [("registered", "central:train"), ("approved", "dashboard:ada"), ("retired", "dashboard:ada")]
    override = rejected_detail["audit"][1]["detail"]
    assert override["override"] is True and "REJECT" in override["gate_reasons"][0]
    signature = query_one(central, "SELECT signature, sha256, size FROM models WHERE id = %s", [good])
    verify_model_signature(public_key_b64(load_or_create_signing_key(central.root / "ca")), *signature)
    assert good_detail["model"]["signed"] and good_detail["rollouts"] == []


def test_an_admin_starts_follows_pauses_and_resumes_a_rollout(central):
    good = central.models["good"]
    run(central, lambda client: _approved(client, good))

    async def work(client: Client):
        await client.login("ada")
        path = f"{API}/models/{good}/rollouts"
        for wrong, code in (({"devices": ["gate-01"], "site": "north", "canaries": ["gate-01"]}, 422),
                            ({"devices": ["gate-01"]}, 422),
                            ({"devices": ["gate-01", "nowhere-9"], "canary_percent": 50}, 422),
                            ({"devices": ["gate-01"], "canaries": ["dock-02"]}, 422),
                            ({"devices": ["gate-01"], "canary_percent": 50, "waves": 2}, 400),
                            ({"devices": "gate-01", "canary_percent": 50}, 400)):
            status, answer = await client.request("POST", path, json=wrong)
            assert status == code, (wrong, answer)
        status, started = await client.request("POST", path, json={"devices": ["gate-01", "dock-02", "yard-03"],
                                                                    "canaries": ["gate-01"], "wave_size": 1})
        assert status == 201, started
        assert [(d["device_id"], d["stage"], d["state"]) for d in started["devices"]] == [
            ("gate-01", 0, "waiting"), ("dock-02", 1, "waiting"), ("yard-03", 2, "waiting")]
        return started["id"]

    rollout_id = run(central, work)
    assert step(central, rollout_id)["devices"][0]["state"] == "installing"   # the driver's step: the canary told
    command = query_one(central, "SELECT kind, body->>'model_id' FROM device_commands WHERE device_id = 'gate-01'")
    assert command == ("install_model", good)

    async def follow(client: Client):
        await client.login("vera")
        status, seen = await client.request("GET", f"{API}/rollouts/{rollout_id}")
        assert status == 200 and seen["state"] == "running"
        assert {d["device_id"]: d["state"] for d in seen["devices"]} == {
            "gate-01": "installing", "dock-02": "waiting", "yard-03": "waiting"}
        assert seen["plan"]["stages"] == [["gate-01"], ["dock-02"], ["yard-03"]]
        assert (await client.request("POST", f"{API}/rollouts/{rollout_id}/pause"))[0] == 403
        await client.login("ada")
        status, paused = await client.request("POST", f"{API}/rollouts/{rollout_id}/pause")
        assert status == 200 and paused["state"] == "paused" and paused["reason"] == "paused by dashboard:ada"
        assert (await client.request("POST", f"{API}/rollouts/{rollout_id}/pause"))[0] == 409
        assert (await client.request("POST", f"{API}/models/{good}/retire"))[0] == 409   # rolling out
        status, resumed = await client.request("POST", f"{API}/rollouts/{rollout_id}/resume")
        assert status == 200 and resumed["state"] == "running"
        assert (await client.request("GET", f"{API}/rollouts/99999"))[0] == 404
        return resumed

    resumed = run(central, follow)
    assert [a["action"] for a in reversed(resumed["audit"])] == [
        "rollout_started", "install_issued", "rollout_paused", "rollout_resumed"]
    assert resumed["audit"][0]["actor"] == "dashboard:ada"


async def _approved(client: Client, model_id: str) -> None:
    await client.login("ada")
    status, model = await client.request("GET", f"{API}/models/{model_id}")
    if model["model"]["state"] == "candidate":
        assert (await client.request("POST", f"{API}/models/{model_id}/approve"))[0] == 200
