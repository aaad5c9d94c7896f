"""`vigia bench rollout`: a model rollout to enrolled devices through NGINX and central (vigia.app.modelfleet).

An unsigned model offered to one device (refused: `refused_unsigned`); a bad model (class scores zeroed) rolled out
with one canary (rolled back by central, the rollout paused, the others never get it: `rolled_back`,
`bad_model_elsewhere`); then a good model (a re-export of the factory model) to the whole fleet, canary first then
waves of one: `updated` devices and `seconds_to_fleet` from the rollout's start to its end, against
`canary_seconds` (its first stage alone) in the same run.
"""
from __future__ import annotations

import asyncio
import json
import tempfile
import time
from pathlib import Path

import psycopg

from vigia.app.bench.common import default_media, default_model
from vigia.app.modelfleet import FACTORY_MODEL, ModelFleet, edited_model, model_fleet, wait_until
from vigia.central.ingest.command_store import issue
from vigia.central.models.registry import approve_model, download_url, get_model, register_model
from vigia.central.models.rollout import make_plan, rollout_status, start_rollout, step
from vigia.central.models.signing import load_or_create_signing_key


async def _registered(fleet: ModelFleet, path: Path) -> str:
    async with await psycopg.AsyncConnection.connect(fleet.stack.dsn, autocommit=True) as conn:
        record = await register_model(conn, fleet.bucket, path, {"base": FACTORY_MODEL, "bench": "rollout"}, {})
        record = await approve_model(conn, record.id, load_or_create_signing_key(fleet.stack.ca_dir), "bench")
        return record.id


async def _unsigned(fleet: ModelFleet, model_id: str) -> tuple[str, dict]:
    device = fleet.devices[-1]
    async with await psycopg.AsyncConnection.connect(fleet.stack.dsn, autocommit=True) as conn:
        model = await get_model(conn, model_id)
        command_id = await issue(conn, device.device_id, "install_model",
                                 {"model_id": model_id, "sha256": model.sha256, "size": model.size, "signature": None,
                                  "url": download_url(fleet.bucket, model)}, "bench")
        for _ in range(600):
            cursor = await conn.execute("SELECT state, result FROM device_commands WHERE id = %s AND state <> 'pending'",
                                        [command_id])
            row = await cursor.fetchone()
            if row:
                return row
            await asyncio.sleep(0.1)
    raise TimeoutError("the unsigned model's command was not acknowledged in 60 s")


async def _rollout(fleet: ModelFleet, model_id: str, timeout: float) -> tuple[dict, float, float | None]:
    """Run a rollout (canary fleet-01, waves of one) to its end or pause: its status, seconds, and the first stage's."""
    plan = make_plan([d.device_id for d in fleet.devices], canaries=[fleet.devices[0].device_id], wave_size=1,
                     watch_s=30.0, health_rollups=2)
    async with await psycopg.AsyncConnection.connect(fleet.stack.dsn, autocommit=True) as conn:
        began = time.monotonic()
        rollout_id = await start_rollout(conn, model_id, plan, "bench")
        status, canary_s = await step(conn, fleet.bucket, rollout_id), None
        while status["state"] == "running" and time.monotonic() - began < timeout:
            await asyncio.sleep(0.2)
            status = await step(conn, fleet.bucket, rollout_id)
            if canary_s is None and status["stage"] > 0:
                canary_s = time.monotonic() - began
        return await rollout_status(conn, rollout_id), time.monotonic() - began, canary_s


def run(args) -> int:
    model, clip = args.model or default_model(), args.media or default_media()
    with tempfile.TemporaryDirectory(prefix="vigia-bench-rollout-") as tmp:
        root = Path(tmp)
        good = edited_model(model, root / "retrained.onnx", class_scale=1.0)
        bad = edited_model(model, root / "zeroed.onnx", class_scale=0.0)
        with model_fleet(root, args.devices, model, clip, fps=args.fps, rollup_s=1.0) as fleet:
            good_id, bad_id = asyncio.run(_registered(fleet, good)), asyncio.run(_registered(fleet, bad))
            state, result = asyncio.run(_unsigned(fleet, good_id))
            refused_unsigned = (state == "failed" and result.get("refused") is True
                                and fleet.devices[-1].model_id == FACTORY_MODEL)
            wait_until(lambda: all(len(fleet.stack.query(
                "SELECT 1 FROM device_records WHERE device_id = %s AND kind = 'metrics' AND "
                "(body->'model_health'->'health'->>'frames')::int > 0", [d.device_id])) >= 3 for d in fleet.devices), 120)
            bad_status, _, _ = asyncio.run(_rollout(fleet, bad_id, args.timeout))
            wait_until(lambda: fleet.devices[0].model_id == FACTORY_MODEL, 60)
            bad_elsewhere = fleet.stack.query("SELECT count(*) FROM device_commands WHERE kind = 'install_model' AND "
                                              "body->>'model_id' = %s AND device_id <> %s",
                                              [bad_id, fleet.devices[0].device_id])[0][0]
            good_status, seconds, canary_s = asyncio.run(_rollout(fleet, good_id, args.timeout))
            updated = sum(d.model_id == good_id for d in fleet.devices)
    rolled_back = [d["device_id"] for d in bad_status["devices"] if d["state"] == "rolled_back"]
    output = {"devices": args.devices, "updated": updated, "rolled_back": len(rolled_back),
              "rolled_back_devices": rolled_back, "bad_rollout_state": bad_status["state"],
              "bad_rollout_reason": bad_status["reason"], "bad_model_elsewhere": bad_elsewhere,
              "good_rollout_state": good_status["state"], "seconds_to_fleet": round(seconds, 2),
              "canary_seconds": round(canary_s, 2) if canary_s else None,
              "fleet_vs_canary_ratio": round(seconds / canary_s, 2) if canary_s else None,
              "refused_unsigned": refused_unsigned, "refused_unsigned_reason": result.get("error"),
              "health_rollups": 2, "rollup_s": 1.0, "detect_fps_per_device": args.fps}
    print(json.dumps(output))
    ok = (refused_unsigned and updated == args.devices and len(rolled_back) == 1 and bad_elsewhere == 0
          and bad_status["state"] == "paused")
    return 0 if ok else 1
