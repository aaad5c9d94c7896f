"""The model registry and rollouts in the dashboard (vigia.central.models): every model with its lineage and the
evaluation gate's numbers, approving and retiring (admin), starting a rollout, following it per device, pausing and
resuming it, and the audit trail. Every change is written to `model_audit` with the admin's username.

    GET  /dashboard/api/v1/models                          every model, newest first
    GET  /dashboard/api/v1/models/{model_id}               one model, its rollouts and its audit trail
    POST /dashboard/api/v1/models/{model_id}/approve       {"override"?} sign it (admin; a gate-rejected one: override)
    POST /dashboard/api/v1/models/{model_id}/retire        offer it no more (admin)
    POST /dashboard/api/v1/models/{model_id}/rollouts      {"devices" | "site", "canaries" | "canary_percent",
                                                            "wave_size"?} start a rollout (admin)
    GET  /dashboard/api/v1/rollouts/{rollout_id}           the rollout: per device stage, state, baseline and health
    POST /dashboard/api/v1/rollouts/{rollout_id}/pause     (admin)
    POST /dashboard/api/v1/rollouts/{rollout_id}/resume    (admin)

Central's own rollout driver (`vigia central serve --bucket`) moves a running rollout on; the dashboard only starts,
pauses and resumes it.
"""
from __future__ import annotations

import logging
import re

from aiohttp import web
from psycopg.rows import dict_row

from vigia.central.dashboard.common import API_PREFIX, DASHBOARD, json_row, require
from vigia.central.dashboard.device_routes import SITE
from vigia.central.models import registry, rollout
from vigia.central.models.signing import KEY_FILE, load_or_create_signing_key
from vigia.kit.http import ApiError, json_body, only_fields, query_params
from vigia.sync.protocol import DEVICE_ID_PATTERN

log = logging.getLogger(__name__)

MODEL_ID = re.compile(r"^[A-Za-z0-9._-]{1,200}$")
DEVICE_ID = re.compile(DEVICE_ID_PATTERN)
MAX_DEVICES = 500
AUDIT_SHOWN = 500


def add_routes(app: web.Application) -> None:
    r = app.router
    r.add_get(f"{API_PREFIX}/models", listing, allow_head=False)
    r.add_get(f"{API_PREFIX}/models/{{model_id}}", detail, allow_head=False)
    r.add_post(f"{API_PREFIX}/models/{{model_id}}/approve", approve)
    r.add_post(f"{API_PREFIX}/models/{{model_id}}/retire", retire)
    r.add_post(f"{API_PREFIX}/models/{{model_id}}/rollouts", start)
    r.add_get(f"{API_PREFIX}/rollouts/{{rollout_id}}", rollout_detail, allow_head=False)
    r.add_post(f"{API_PREFIX}/rollouts/{{rollout_id}}/pause", pause)
    r.add_post(f"{API_PREFIX}/rollouts/{{rollout_id}}/resume", resume)


def model_id_param(request: web.Request) -> str:
    model_id = request.match_info["model_id"]
    if not MODEL_ID.fullmatch(model_id):
        raise ApiError(400, "not a model id (letters, digits, '.', '_' and '-')")
    return model_id


def rollout_id_param(request: web.Request) -> int:
    text = request.match_info["rollout_id"]
    if not text.isascii() or not text.isdigit() or len(text) > 18:
        raise ApiError(400, "not a rollout id (a whole number)")
    return int(text)


def model_json(model: registry.ModelRecord) -> dict:
    """A model as the dashboard shows it: its record (no signature bytes: whether it is signed) and the gate's verdict."""
    out = model.as_json()
    out["signed"] = out.pop("signature") is not None
    out["gate_rejected"] = model.gate_rejected
    return out


async def _model(conn, model_id: str) -> registry.ModelRecord:
    try:
        return await registry.get_model(conn, model_id)
    except registry.RegistryError as exc:
        raise ApiError(404, str(exc)) from None


async def listing(request: web.Request) -> web.Response:
    require(request)
    query_params(request, set())
    async with request.app[DASHBOARD].pool.connection() as conn:
        models = await registry.list_models(conn)
        cursor = await conn.execute("SELECT DISTINCT ON (model_id) model_id, id, state FROM rollouts "
                                    "ORDER BY model_id, id DESC")
        latest = {model_id: {"id": rollout_id, "state": state} for model_id, rollout_id, state in await cursor.fetchall()}
    folder = request.app[DASHBOARD].settings.model_signing_dir
    return web.json_response({"models": [{**model_json(m), "latest_rollout": latest.get(m.id)} for m in reversed(models)],
                              "can_sign": folder is not None and (folder / KEY_FILE).is_file()})


async def detail(request: web.Request) -> web.Response:
    require(request)
    model_id = model_id_param(request)
    async with request.app[DASHBOARD].pool.connection() as conn:
        model = await _model(conn, model_id)
        cursor = conn.cursor(row_factory=dict_row)
        await cursor.execute("SELECT id, state, stage, reason, created_by, created_at, finished_at FROM rollouts "
                             "WHERE model_id = %s ORDER BY id DESC", [model_id])
        rollouts = [json_row(r) for r in await cursor.fetchall()]
        audit = await _audit(conn, "model_id = %s", [model_id])
    return web.json_response({"model": model_json(model), "rollouts": rollouts, "audit": audit})


async def _audit(conn, where: str, params: list) -> list[dict]:
    cursor = conn.cursor(row_factory=dict_row)
    await cursor.execute(f"SELECT id, at, rollout_id, device_id, action, actor, detail FROM model_audit WHERE {where} "
                         f"ORDER BY id DESC LIMIT {AUDIT_SHOWN}", params)
    return [json_row(r) for r in await cursor.fetchall()]


def _registry_call(work):
    """A registry change: a model or rollout in the wrong state is a 409 with the registry's reason."""
    async def call(*args, **kwargs):
        try:
            return await work(*args, **kwargs)
        except registry.RegistryError as exc:
            raise ApiError(409, str(exc)) from None
    return call


async def approve(request: web.Request) -> web.Response:
    """Sign the model with central's model-signing key (the dashboard's --ca-dir); 503 without one."""
    session = require(request, "admin")
    model_id = model_id_param(request)
    body = await json_body(request, required=False)
    only_fields(body, {"override"}, "field")
    override = body.get("override", False)
    if not isinstance(override, bool):
        raise ApiError(400, "override must be true or false")
    folder = request.app[DASHBOARD].settings.model_signing_dir
    if folder is None or not (folder / KEY_FILE).is_file():   # made by `central serve`, never here: one key
        raise ApiError(503, "this dashboard has no model-signing key (vigia central dashboard --ca-dir: central's CA"
                            f" folder, where `central serve` made {KEY_FILE})")
    key = load_or_create_signing_key(folder)
    async with request.app[DASHBOARD].pool.connection() as conn:
        await _model(conn, model_id)
        model = await _registry_call(registry.approve_model)(conn, model_id, key, f"dashboard:{session.username}",
                                                             override=override)
    log.info("%s approved model %s%s", session.username, model_id, " overriding the gate" if override else "")
    return web.json_response(model_json(model))


async def retire(request: web.Request) -> web.Response:
    session = require(request, "admin")
    model_id = model_id_param(request)
    async with request.app[DASHBOARD].pool.connection() as conn:
        await _model(conn, model_id)
        model = await _registry_call(registry.retire_model)(conn, model_id, f"dashboard:{session.username}")
    log.info("%s retired model %s", session.username, model_id)
    return web.json_response(model_json(model))


def _device_list(body: dict, name: str) -> list[str] | None:
    value = body.get(name)
    if value is None:
        return None
    if (not isinstance(value, list) or not 1 <= len(value) <= MAX_DEVICES
            or not all(isinstance(d, str) and DEVICE_ID.fullmatch(d) for d in value)):
        raise ApiError(400, f"{name} must be a list of 1 to {MAX_DEVICES} device ids")
    return value


def _number(body: dict, name: str, kind: type, low: float, high: float) -> float | None:
    value = body.get(name)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, (int, float) if kind is float else int) or not low <= value <= high:
        raise ApiError(400, f"{name} must be a{'n integer' if kind is int else ' number'} between {low} and {high}")
    return value


async def start(request: web.Request) -> web.Response:
    """A new rollout of an approved model to `devices` or the devices at `site`: canaries first, then waves."""
    session = require(request, "admin")
    model_id = model_id_param(request)
    body = await json_body(request, required=True)
    only_fields(body, {"devices", "site", "canaries", "canary_percent", "wave_size"}, "field")
    devices, canaries = _device_list(body, "devices"), _device_list(body, "canaries")
    site = body.get("site")
    if site is not None and (not isinstance(site, str) or not SITE.fullmatch(site)):
        raise ApiError(400, "site must be 1 to 64 characters, no control characters")
    percent = _number(body, "canary_percent", float, 0, 100)
    wave_size = _number(body, "wave_size", int, 1, MAX_DEVICES) or 10
    if (devices is None) == (site is None):
        raise ApiError(422, "give devices or site, not both")
    if (canaries is None) == (percent is None):
        raise ApiError(422, "give canaries (device ids) or canary_percent, not both")
    async with request.app[DASHBOARD].pool.connection() as conn:
        model = await _model(conn, model_id)
        if devices is None:
            devices = await rollout.site_devices(conn, site)
        cursor = await conn.execute("SELECT device_id FROM devices WHERE device_id = ANY(%s) AND revoked_at IS NULL",
                                    [devices])
        unknown = sorted(set(devices) - {row[0] for row in await cursor.fetchall()})
        if unknown:
            raise ApiError(422, f"devices: {', '.join(unknown)} not enrolled (or revoked)")
        try:
            plan = rollout.make_plan(devices, canaries=canaries, canary_percent=percent, wave_size=wave_size)
        except ValueError as exc:
            raise ApiError(422, str(exc)) from None
        if model.signature is None:
            raise ApiError(409, f"model {model_id} is not approved (signed): approve it first")
        rollout_id = await _registry_call(rollout.start_rollout)(conn, model_id, plan, f"dashboard:{session.username}")
        status = await rollout.rollout_status(conn, rollout_id)
    log.info("%s started rollout %d of %s to %d devices", session.username, rollout_id, model_id, len(devices))
    return web.json_response(await _rollout_json(request, status), status=201)


async def _rollout_json(request: web.Request, status: dict) -> dict:
    async with request.app[DASHBOARD].pool.connection() as conn:
        cursor = conn.cursor(row_factory=dict_row)
        await cursor.execute("SELECT device_id, baseline->'health' AS baseline, updated_at FROM rollout_devices "
                             "WHERE rollout_id = %s", [status["id"]])
        extra = {row["device_id"]: row for row in await cursor.fetchall()}
        await cursor.execute("SELECT plan, created_at, finished_at FROM rollouts WHERE id = %s", [status["id"]])
        row = await cursor.fetchone()
        audit = await _audit(conn, "rollout_id = %s", [status["id"]])
    devices = [{**device, "baseline": extra[device["device_id"]]["baseline"],
                "updated_at": extra[device["device_id"]]["updated_at"].timestamp()} for device in status["devices"]]
    return {**status, "devices": devices, "plan": row["plan"], "created_at": row["created_at"].timestamp(),
            "finished_at": row["finished_at"] and row["finished_at"].timestamp(), "audit": audit}


async def rollout_detail(request: web.Request) -> web.Response:
    require(request)
    rollout_id = rollout_id_param(request)
    async with request.app[DASHBOARD].pool.connection() as conn:
        try:
            status = await rollout.rollout_status(conn, rollout_id)
        except registry.RegistryError as exc:
            raise ApiError(404, str(exc)) from None
    return web.json_response(await _rollout_json(request, status))


async def _change(request: web.Request, change) -> web.Response:
    session = require(request, "admin")
    rollout_id = rollout_id_param(request)
    async with request.app[DASHBOARD].pool.connection() as conn:
        try:
            await rollout.rollout_status(conn, rollout_id)
        except registry.RegistryError as exc:
            raise ApiError(404, str(exc)) from None
        await _registry_call(change)(conn, rollout_id, f"dashboard:{session.username}")
        status = await rollout.rollout_status(conn, rollout_id)
    log.info("%s: rollout %d now %s", session.username, rollout_id, status["state"])
    return web.json_response(await _rollout_json(request, status))


async def pause(request: web.Request) -> web.Response:
    return await _change(request, rollout.pause)


async def resume(request: web.Request) -> web.Response:
    return await _change(request, rollout.resume)
