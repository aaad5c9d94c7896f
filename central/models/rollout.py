"""Staged rollouts of an approved model: canaries first, then waves, through the command channel (`install_model`).
A release of Vigia itself (vigia.central.software) goes the same way (`install_software`): there the device's own
health check after its switch is the judge, so a device that installed it is `updated` at once.

`step` moves a rollout on; `vigia central models rollout --follow` calls it until the rollout is done or paused.
Per device: `waiting` -> `installing` (command issued, with the device's baseline: its roll-ups' model health so
far, under the old model) -> `watching` (installed; health roll-ups under the new model come in) -> `updated`,
or `refused` (the device refused the model: the reason is its acknowledgement's) or `rolled_back` (its health left
the thresholds against its own baseline: central sends `rollback_model`; or the device rolled back on its own).
A device refused or rolled back pauses the rollout: the devices of later stages never get the model. A stage
starts when every device of the one before is updated. Every step is written to `model_audit`.
"""
from __future__ import annotations

import math
from dataclasses import asdict, dataclass

import psycopg
from psycopg.rows import dict_row
from psycopg.types.json import Jsonb

from vigia.central.ingest.command_store import issue
from vigia.central.ingest.media import MediaSettings
from vigia.central.models.registry import RegistryError, audit, download_url, get_model, set_state
from vigia.central.software.registry import get_release, install_body, set_release_state

ACTOR = "central:rollout"


@dataclass(frozen=True)
class RolloutPlan:
    stages: list[list[str]]            # canaries first, then the waves
    watch_s: float = 300.0             # the device's own watch of a new model's first minutes (errors: it rolls back)
    health_rollups: int = 2            # roll-ups under the new model before a device is judged
    min_detection_ratio: float = 0.5   # a label's detections/hour under the new model below this share of the baseline
    max_inference_ratio: float = 3.0   # inference ms above this multiple of the baseline
    min_baseline_per_hour: float = 10.0  # labels rarer than this in the baseline are not judged


def make_plan(devices: list[str], *, canaries: list[str] | None = None, canary_percent: float | None = None,
              wave_size: int = 10, **thresholds) -> RolloutPlan:
    """Stages for `devices`: the named canaries (or the first `canary_percent` % of them, at least one), then waves of
    `wave_size`. ValueError naming the option when the plan cannot be made."""
    devices = list(dict.fromkeys(devices))
    if not devices:
        raise ValueError("devices: the rollout has no device (give --devices or a --site with devices)")
    if wave_size < 1:
        raise ValueError("wave_size: at least 1")
    if canaries:
        unknown = sorted(set(canaries) - set(devices))
        if unknown:
            raise ValueError(f"canaries: {', '.join(unknown)} not among the rollout's devices")
    elif canary_percent is not None:
        if not 0 < canary_percent <= 100:
            raise ValueError("canary_percent: between 0 (excluded) and 100")
        canaries = devices[:max(1, math.ceil(len(devices) * canary_percent / 100))]
    else:
        raise ValueError("canaries: name canary devices or give a canary percentage")
    rest = [d for d in devices if d not in canaries]
    return RolloutPlan([list(canaries), *[rest[i:i + wave_size] for i in range(0, len(rest), wave_size)]], **thresholds)


async def site_devices(conn: psycopg.AsyncConnection, site: str) -> list[str]:
    """The devices the dashboard places at `site`."""
    cursor = await conn.execute("SELECT device_id FROM dashboard_device_sites WHERE site = %s ORDER BY device_id", [site])
    return [row[0] for row in await cursor.fetchall()]


@dataclass(frozen=True)
class Target:
    """What a rollout ships: an approved model (central judges its health from the roll-ups) or a release of Vigia
    itself (the device's own health check after its switch is the judge)."""

    model_id: str | None
    software_version: str | None
    command: str     # the device command that installs it
    body: dict       # that command's body, but its download URL
    s3_key: str
    watched: bool

    @property
    def name(self) -> str:
        return f"model {self.model_id}" if self.model_id else f"release {self.software_version}"

    @property
    def refs(self) -> dict:
        """Its reference in the audit trail besides model_id."""
        return {"software_version": self.software_version} if self.software_version else {}


async def _target(conn: psycopg.AsyncConnection, rollout: dict, plan: RolloutPlan) -> Target:
    if rollout["software_version"] is not None:
        release = await get_release(conn, rollout["software_version"])
        return Target(None, release.version, "install_software", install_body(release), release.s3_key, False)
    model = await get_model(conn, rollout["model_id"])
    body = {"model_id": model.id, "sha256": model.sha256, "size": model.size, "signature": model.signature,
            "watch_s": plan.watch_s}
    return Target(model.id, None, "install_model", body, model.s3_key, True)


async def start_rollout(conn: psycopg.AsyncConnection, model_id: str, plan: RolloutPlan, actor: str) -> int:
    """A new running rollout of an approved (signed) model; its first stage is issued by the first `step`."""
    model = await get_model(conn, model_id)
    if model.signature is None:
        raise RegistryError(f"model {model_id} is not signed: approve it first (`vigia central models approve`)")
    async with conn.transaction():
        await set_state(conn, model_id, "rolling_out", actor, ("approved", "deployed", "rolling_out"))
        return await _create(conn, plan, actor, model_id=model_id)


async def start_software_rollout(conn: psycopg.AsyncConnection, version: str, plan: RolloutPlan, actor: str) -> int:
    """A new running rollout of a signed Vigia release (vigia.central.software)."""
    release = await get_release(conn, version)
    if release.state == "retired":
        raise RegistryError(f"release {version} is retired")
    async with conn.transaction():
        await set_release_state(conn, version, "rolling_out", actor)
        return await _create(conn, plan, actor, software_version=version)


async def _create(conn: psycopg.AsyncConnection, plan: RolloutPlan, actor: str, *, model_id: str | None = None,
                  software_version: str | None = None) -> int:
    cursor = await conn.execute("INSERT INTO rollouts (model_id, software_version, plan, created_by) "
                                "VALUES (%s, %s, %s, %s) RETURNING id", [model_id, software_version, Jsonb(asdict(plan)), actor])
    rollout_id = (await cursor.fetchone())[0]
    for stage, devices in enumerate(plan.stages):
        for device_id in devices:
            await conn.execute("INSERT INTO rollout_devices (rollout_id, device_id, stage) VALUES (%s, %s, %s)",
                               [rollout_id, device_id, stage])
    await audit(conn, model_id, "rollout_started", actor, asdict(plan), rollout_id=rollout_id,
                software_version=software_version)
    return rollout_id


@dataclass(frozen=True)
class Health:
    """Model health over roll-ups: detections per hour per label, mean inference ms, errors."""

    per_hour: dict[str, float]
    inference_ms: float | None
    errors: int
    seconds: float
    rollups: int


def combine(bodies: list[dict]) -> Health:
    """The health of several roll-ups' `model_health`, weighted by their periods."""
    seconds = sum(b["health"]["period_s"] for b in bodies)
    counts: dict[str, float] = {}
    frames, ms = 0, 0.0
    for body in bodies:
        health = body["health"]
        for label, rate in health["detections_per_hour"].items():
            counts[label] = counts.get(label, 0.0) + rate * health["period_s"] / 3600
        if health["inference_ms"] is not None:
            frames += health["frames"]
            ms += health["inference_ms"] * health["frames"]
    hours = max(seconds, 1e-6) / 3600
    return Health({label: round(n / hours, 1) for label, n in counts.items()}, round(ms / frames, 2) if frames else None,
                  sum(b["health"]["errors"] for b in bodies), round(seconds, 3), len(bodies))


def regression(plan: RolloutPlan, baseline: Health | None, health: Health) -> str | None:
    """Why the new model's health is out of the thresholds against the device's baseline; None when it is not."""
    if health.errors:
        return f"{health.errors} inference errors under the new model"
    if baseline is None:
        return None
    for label, rate in sorted(baseline.per_hour.items()):
        new = health.per_hour.get(label, 0.0)
        if rate >= plan.min_baseline_per_hour and new < rate * plan.min_detection_ratio:
            return (f"{label}: {new:.0f} detections/hour under the new model against {rate:.0f} under the old"
                    f" (below {plan.min_detection_ratio:.0%})")
    if baseline.inference_ms and health.inference_ms and health.inference_ms > baseline.inference_ms * plan.max_inference_ratio:
        return f"inference {health.inference_ms:.1f} ms against {baseline.inference_ms:.1f} ms under the old model"
    return None


async def _rollups(conn: psycopg.AsyncConnection, device_id: str, where: str, params: list) -> list[tuple[int, dict]]:
    cursor = await conn.execute(
        "SELECT seq, body->'model_health' FROM device_records WHERE device_id = %s AND kind = 'metrics' "
        f"AND body->'model_health' IS NOT NULL AND jsonb_typeof(body->'model_health') = 'object' AND {where} ORDER BY seq",
        [device_id, *params])
    return await cursor.fetchall()


async def _baseline(conn: psycopg.AsyncConnection, device_id: str, model_id: str, count: int) -> dict:
    """The device's last roll-ups under another model than `model_id`, and the last seq seen."""
    rows = await _rollups(conn, device_id, "body->'model_health'->>'id' <> %s", [model_id])
    cursor = await conn.execute("SELECT coalesce(max(seq), 0) FROM device_records WHERE device_id = %s", [device_id])
    seq = (await cursor.fetchone())[0]
    recent = [body for _, body in rows if body["health"]["frames"]][-count:]
    return {"seq": seq, "health": asdict(combine(recent)) if recent else None}


async def step(conn: psycopg.AsyncConnection, bucket: MediaSettings, rollout_id: int) -> dict:
    """Move the rollout on as far as it can go now; returns its state and its devices'."""
    async with conn.transaction():
        cursor = conn.cursor(row_factory=dict_row)
        await cursor.execute("SELECT * FROM rollouts WHERE id = %s FOR UPDATE", [rollout_id])
        rollout = await cursor.fetchone()
        if rollout is None:
            raise RegistryError(f"no rollout {rollout_id}")
        plan = RolloutPlan(**rollout["plan"])
        target = await _target(conn, rollout, plan)
        while rollout["state"] == "running":
            await cursor.execute("SELECT * FROM rollout_devices WHERE rollout_id = %s AND stage = %s ORDER BY device_id",
                                 [rollout_id, rollout["stage"]])
            for device in await cursor.fetchall():
                reason = await _device_step(conn, bucket, plan, target, rollout_id, device)
                if reason is not None:
                    await _set_rollout(conn, rollout, "paused", reason)
                    break
            if rollout["state"] != "running":
                break
            await cursor.execute("SELECT count(*) AS open FROM rollout_devices WHERE rollout_id = %s AND stage = %s "
                                 "AND state IN ('waiting', 'installing', 'watching')", [rollout_id, rollout["stage"]])
            if (await cursor.fetchone())["open"]:
                break
            if rollout["stage"] + 1 >= len(plan.stages):
                await _set_rollout(conn, rollout, "done", None)
                if target.model_id:
                    await set_state(conn, target.model_id, "deployed", ACTOR, ("rolling_out",), {"rollout": rollout_id})
                else:
                    await set_release_state(conn, target.software_version, "deployed", ACTOR, {"rollout": rollout_id})
                break
            rollout["stage"] += 1
            await conn.execute("UPDATE rollouts SET stage = %s WHERE id = %s", [rollout["stage"], rollout_id])
            await audit(conn, target.model_id, "stage_started", ACTOR, {"stage": rollout["stage"]}, rollout_id=rollout_id,
                        **target.refs)
    return await rollout_status(conn, rollout_id)


async def _set_rollout(conn: psycopg.AsyncConnection, rollout: dict, state: str, reason: str | None) -> None:
    rollout["state"] = state
    await conn.execute("UPDATE rollouts SET state = %s, reason = %s, finished_at = CASE WHEN %s = 'done' THEN now() END "
                       "WHERE id = %s", [state, reason, state, rollout["id"]])
    await audit(conn, rollout["model_id"], f"rollout_{state}", ACTOR, {"reason": reason}, rollout_id=rollout["id"],
                software_version=rollout["software_version"])


async def _device_step(conn: psycopg.AsyncConnection, bucket: MediaSettings, plan: RolloutPlan, target: Target,
                       rollout_id: int, device: dict) -> str | None:
    """One device's next step; returns the reason to pause the rollout, if any."""
    device_id, state = device["device_id"], device["state"]

    async def move(new_state: str, action: str, detail: dict, **columns) -> None:
        sets = ", ".join(f"{name} = %s" for name in columns)
        await conn.execute(f"UPDATE rollout_devices SET state = %s, updated_at = now(){', ' + sets if sets else ''} "
                           "WHERE rollout_id = %s AND device_id = %s",
                           [new_state, *[Jsonb(v) if isinstance(v, dict) else v for v in columns.values()], rollout_id,
                            device_id])
        await audit(conn, target.model_id, action, ACTOR, detail, rollout_id=rollout_id, device_id=device_id, **target.refs)

    if state == "waiting":
        baseline = await _baseline(conn, device_id, target.model_id, plan.health_rollups * 2) if target.watched else None
        command_id = await issue(conn, device_id, target.command, {**target.body, "url": download_url(bucket, target)},
                                 ACTOR)
        await move("installing", "install_issued", {"command": command_id}, command_id=command_id, baseline=baseline)
    elif state == "installing":
        cursor = await conn.execute("SELECT state, result FROM device_commands WHERE id = %s", [device["command_id"]])
        command_state, result = await cursor.fetchone()
        if command_state == "done":
            await move(*(("watching", "installed") if target.watched else ("updated", "updated")), result)
        elif command_state == "failed":
            reason = f"{device_id} refused the {target.name.split()[0]}: {result.get('error', result)}"
            await move("refused", "refused", result, reason=reason)
            return reason
    elif state == "watching":
        rows = await _rollups(conn, device_id, "seq > %s", [device["baseline"]["seq"]])
        if any(e.get("action") == "rolled_back" and e.get("model_id") == target.model_id
               for _, body in rows for e in body.get("events", [])):
            reason = f"{device_id} rolled the model back on its own"
            await move("rolled_back", "device_rolled_back", {}, reason=reason)
            return reason
        under_new = [body for _, body in rows if body["id"] == target.model_id and body["health"]["frames"]]
        if len(under_new) < plan.health_rollups:
            return None
        base = device["baseline"]["health"]
        health = combine(under_new[:plan.health_rollups])
        why = regression(plan, Health(**base) if base else None, health)
        if why is None:
            await move("updated", "updated", asdict(health), health=asdict(health))
            return None
        command_id = await issue(conn, device_id, "rollback_model", {"model_id": target.model_id, "reason": why}, ACTOR)
        reason = f"{device_id}: {why}"
        await move("rolled_back", "rolled_back", {"reason": why, "command": command_id}, health=asdict(health),
                   reason=reason)
        return reason
    return None


async def rollout_status(conn: psycopg.AsyncConnection, rollout_id: int) -> dict:
    cursor = conn.cursor(row_factory=dict_row)
    await cursor.execute("SELECT id, model_id, software_version, state, stage, reason, created_by FROM rollouts WHERE id = %s",
                         [rollout_id])
    rollout = await cursor.fetchone()
    if rollout is None:
        raise RegistryError(f"no rollout {rollout_id}")
    await cursor.execute("SELECT device_id, stage, state, reason, health FROM rollout_devices WHERE rollout_id = %s "
                         "ORDER BY stage, device_id", [rollout_id])
    return {**rollout, "devices": await cursor.fetchall()}


async def resume(conn: psycopg.AsyncConnection, rollout_id: int, actor: str) -> None:
    """A paused rollout runs again (its refused and rolled-back devices stay so)."""
    cursor = await conn.execute("UPDATE rollouts SET state = 'running', reason = NULL WHERE id = %s AND state = 'paused' "
                                "RETURNING model_id, software_version", [rollout_id])
    row = await cursor.fetchone()
    if row is None:
        raise RegistryError(f"rollout {rollout_id} is not paused")
    await audit(conn, row[0], "rollout_resumed", actor, {}, rollout_id=rollout_id, software_version=row[1])


async def pause(conn: psycopg.AsyncConnection, rollout_id: int, actor: str) -> None:
    """A running rollout stops where it is (devices already told keep going; no later stage starts) until resumed."""
    cursor = await conn.execute("UPDATE rollouts SET state = 'paused', reason = %s WHERE id = %s AND state = 'running' "
                                "RETURNING model_id, software_version", [f"paused by {actor}", rollout_id])
    row = await cursor.fetchone()
    if row is None:
        raise RegistryError(f"rollout {rollout_id} is not running")
    await audit(conn, row[0], "rollout_paused", actor, {}, rollout_id=rollout_id, software_version=row[1])
