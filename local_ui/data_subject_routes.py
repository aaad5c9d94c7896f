"""Data-subject requests and the audit chain in the guards' API (admin only; vigia.appliance.privacy.requests;
exports for disclosure and the signage notice are in vigia.local_ui.privacy_routes):

    GET  /api/v1/privacy/requests        the requests made, newest first, with their receipts
    POST /api/v1/privacy/requests        {"kind": "find"|"erase", "camera", "from", "to", "reason"}
                                         -> find: the events and recordings; erase: the receipt (central's part is
                                         sent by the uploader and added to the receipt when central answers)
                                         -> 409 when a legal hold (a kept event) covers the window: nothing erased
    GET  /api/v1/privacy/audit/verify    the audit log's hash chain: ok, entries, head, where it breaks
"""
from __future__ import annotations

from typing import Annotated, Literal

from aiohttp import web
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from vigia.appliance import audit_log
from vigia.appliance.privacy import requests
from vigia.appliance.transactions import write_transaction
from vigia.kit.http import ApiError, json_body
from vigia.local_ui.common import API, remote_address, require
from vigia.sync.identity import identity_folder, load_identity

_EPOCH = {"type": "number", "minimum": 946684800, "maximum": 7258118400, "description": "epoch seconds"}


class RequestBody(BaseModel):
    model_config = ConfigDict(extra="forbid", populate_by_name=True)
    kind: Literal["find", "erase"]
    camera: Annotated[str, Field(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9_.-]+$")]
    start: Annotated[float, Field(alias="from", ge=946684800, le=7258118400)]
    end: Annotated[float, Field(alias="to", ge=946684800, le=7258118400)]
    reason: Annotated[str, Field(max_length=500)] = ""


def add_routes(app: web.Application) -> None:
    app.router.add_get("/api/v1/privacy/requests", list_requests, allow_head=False)
    app.router.add_post("/api/v1/privacy/requests", new_request)
    app.router.add_get("/api/v1/privacy/audit/verify", verify_chain, allow_head=False)


async def list_requests(request: web.Request) -> web.Response:
    require(request, "admin")
    return web.json_response({"requests": await request.app[API].db(lambda db: requests.requests(db.conn))})


async def new_request(request: web.Request) -> web.Response:
    api = request.app[API]
    session = require(request, "admin")
    try:
        body = RequestBody.model_validate(await json_body(request, required=True))
        window = requests.Window(body.camera, body.start, body.end)
    except ValidationError as exc:
        error = exc.errors(include_url=False)[0]
        raise ApiError(400, f"{'.'.join(str(p) for p in error['loc']) or 'body'}: {error['msg']}") from None
    except requests.RequestError as exc:
        raise ApiError(422, str(exc)) from None
    remote = remote_address(request)
    if body.kind == "find":
        def find(db) -> dict:
            findings = requests.find(db.conn, window)
            with write_transaction(db.conn):
                request_id = requests.record_request(db.conn, "find", window, session.username, body.reason, "done", {
                    "events": len(findings.events), "recordings": len(findings.recordings)}, remote)
            return {"request": request_id, **window.as_json(), **findings.as_json()}
        return web.json_response(await api.db(find))
    central = load_identity(identity_folder(api.config.storage.data_dir)) is not None
    try:
        receipt = await api.db(lambda db: requests.erase(db.conn, api.config.storage.data_dir, window,
                                                         session.username, body.reason, remote, central))
    except requests.ErasureRefused as exc:
        return web.json_response({"error": str(exc), "receipt": exc.receipt}, status=409)
    except requests.RequestError as exc:
        raise ApiError(422, str(exc)) from None
    return web.json_response(receipt)


async def verify_chain(request: web.Request) -> web.Response:
    require(request, "admin")
    check = await request.app[API].db(lambda db: audit_log.verify(db.conn))
    return web.json_response(check.as_json())


def openapi_paths() -> dict:
    """These routes in the OpenAPI document (vigia.local_ui.openapi)."""
    errors = {str(code): {"description": text, "content": {"application/json": {"schema": {
        "$ref": "#/components/schemas/Error"}}}} for code, text in (
        (400, "malformed input (the message names the field)"), (401, "no live session"),
        (403, "missing or wrong X-CSRF-Token, or not an admin"), (409, "a legal hold covers the window"),
        (415, "the body is not application/json"),
        (422, "well-formed, but not acceptable here: a window that ends before it starts, an unknown camera"))}
    csrf = {"name": "X-CSRF-Token", "in": "header", "required": True, "description": "the session's CSRF token",
            "schema": {"type": "string"}}
    body = {"type": "object", "required": ["kind", "camera", "from", "to"], "additionalProperties": False,
            "properties": {"kind": {"type": "string", "enum": ["find", "erase"]},
                           "camera": {"type": "string", "minLength": 1, "maxLength": 64, "pattern": "^[A-Za-z0-9_.-]+$"},
                           "from": _EPOCH, "to": _EPOCH, "reason": {"type": "string", "maxLength": 500,
                                                                    "description": "required to erase"}}}
    return {
        "/api/v1/privacy/requests": {
            "get": {"summary": "data-subject requests made, newest first, with their receipts (admin)",
                    "responses": {"200": {"description": "ok"}, **{k: errors[k] for k in ("401", "403")}}},
            "post": {"summary": "a data-subject request: find a camera's events and recordings over a window, or "
                                "erase them here and at central (admin; audited; refused under a legal hold)",
                     "parameters": [csrf], "requestBody": {"required": True,
                                                           "content": {"application/json": {"schema": body}}},
                     "responses": {"200": {"description": "the findings, or the erasure receipt"}, **errors}}},
        "/api/v1/privacy/audit/verify": {"get": {
            "summary": "check the audit log's hash chain (admin)",
            "responses": {"200": {"description": "ok, entries, head, broken_at, reason"},
                          **{k: errors[k] for k in ("401", "403")}}}},
    }
