"""The OpenAPI 3 description of the appliance's HTTP API (served at GET /api/v1/openapi.json).

Hand-written, but for the rule kinds: their schemas come from their pydantic models (`vigia.scene.rules.KINDS`).
A test checks that every route the server registers is described here, and back.
"""
from __future__ import annotations

import zoneinfo
from typing import Any

from pydantic import TypeAdapter

from vigia.appliance.notify.push_subscriptions import MAX_ENDPOINT
from vigia.kit.api_schema import (
    EVENT_ID,
    LOGIN_PASSWORD,
    LOGIN_USERNAME,
    NEW_PASSWORD,
    TEXT_FILTER,
    TIME_FILTER,
    USERNAME_SCHEMA,
    body,
    fields,
    query,
)
from vigia.local_ui import data_subject_routes, totp_routes
from vigia.local_ui.common import MAX_AUDIT
from vigia.local_ui.event_routes import MAX_COMMENT, MAX_EVENTS
from vigia.local_ui.setup_routes import (
    CAMERA_NAME,
    CENTRAL_URL,
    MAX_CAMERA_PASSWORD,
    MAX_CAMERA_USER,
    MAX_RETAIN_DAYS,
    MAX_URL,
    ONVIF_XADDR,
    PEM_CERTIFICATE,
    RTSP_URL,
)
from vigia.scene.rules import KINDS, Rule

_ERROR = {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}}


def _json(ref: str) -> dict:
    return {"application/json": {"schema": {"$ref": f"#/components/schemas/{ref}"}}}


def _errors(*codes: int) -> dict:
    text = {400: "malformed input", 401: "no live session", 403: "missing or wrong X-CSRF-Token, or the role is too low",
            404: "no such event, camera, media or export", 409: "the username is taken; a second factor is already on; "
                 "the export is not done; the config file's privacy section is not filled in",
            410: "the export's files are deleted",
            415: "the body is not application/json",
            422: "well-formed, but not acceptable here: a code that is not the authenticator's current one, a "
                 "camera this appliance does not have, a window that "
                 "ends before it starts or is too long, an event that is not there",
            416: "range not satisfiable", 429: "too many failed logins (see Retry-After)",
            502: "the camera or central did not answer as it should (the message says why)"}
    return {str(code): {"description": text[code], "content": _ERROR} for code in codes}


def _ref(name: str) -> dict:
    return {"$ref": f"#/components/schemas/{name}"}


def _reply(description: str, **properties: dict) -> dict:
    return {"description": description, "content": {"application/json": {"schema": _object(**properties)}}}


_EVENT_ID = {"name": "id", "in": "path", "required": True, "description": "event id (ULID)",
             "schema": {key: value for key, value in EVENT_ID.items() if key != "description"}}
_RECORD = {"type": "string", "enum": ["off", "events", "continuous"]}
_CAMERA_CREDENTIALS = {"username": {"type": "string", "maxLength": MAX_CAMERA_USER},
                       "password": {"type": "string", "maxLength": MAX_CAMERA_PASSWORD}}
_CSRF = {"name": "X-CSRF-Token", "in": "header", "required": True, "description": "the session's CSRF token",
         "schema": {"type": "string"}}
_CAMERA = {"name": "name", "in": "path", "required": True, "description": "camera name", "schema": {"type": "string"}}
_PUBLIC: list = []  # no security requirement
_POINT = {"type": "array", "items": {"type": "number", "minimum": 0, "maximum": 1}, "minItems": 2, "maxItems": 2}
_BOX = {"type": "array", "items": {"type": "number"}, "minItems": 4, "maxItems": 4, "description": "x1, y1, x2, y2"}
_EPOCH = {"type": "number", "description": "epoch seconds"}
_NULLABLE_EPOCH = {**_EPOCH, "nullable": True}


def _object(**properties: dict) -> dict:
    return {"type": "object", "properties": properties}


def _rule_schemas() -> dict[str, Any]:
    """The rule kinds' schemas, from their pydantic models: `kinds` (one component each) and `item` (one of them)."""
    schema = _openapi_30(TypeAdapter(Rule).json_schema(ref_template="#/components/schemas/{model}"))
    kinds = {name: {key: value for key, value in kind.items() if key != "additionalProperties"}
             for name, kind in schema.pop("$defs").items()}
    schema["description"] = ("one rule kind, by `type`; a rule may also carry the other kinds' parameters "
                             "(GET returns them, null or at their defaults), which it ignores")
    return {"kinds": kinds, "item": schema}


def _openapi_30(schema: Any) -> Any:
    """A JSON Schema (2020-12, as pydantic writes it) in OpenAPI 3.0's dialect, titles left out."""
    if isinstance(schema, list):
        return [_openapi_30(item) for item in schema]
    if not isinstance(schema, dict):
        return schema
    out = {key: _openapi_30(value) for key, value in schema.items() if key != "title"}
    options = out.get("anyOf", [])
    if {"type": "null"} in options and len(options) == 2:  # X | None
        del out["anyOf"]
        other = next(option for option in options if option != {"type": "null"})
        # A $ref's siblings are ignored in OpenAPI 3.0: a nullable reference is an allOf of one.
        out |= ({"allOf": [other]} if "$ref" in other else other) | {"nullable": True}
    if "const" in out:
        out["enum"] = [out.pop("const")]
    for bound, limit in (("exclusiveMinimum", "minimum"), ("exclusiveMaximum", "maximum")):
        if isinstance(out.get(bound), int | float) and not isinstance(out[bound], bool):
            out[limit], out[bound] = out[bound], True
    return out


def openapi_document() -> dict[str, Any]:
    """A fresh copy of the document (callers may change it)."""
    rules = _rule_schemas()
    return {
        "openapi": "3.0.3",
        "info": {"title": "Vigia appliance API", "version": "1",
                 "description": "The guards' API of one appliance. Log in with POST /api/v1/login; the session is "
                                "the vigia_session cookie. State-changing requests carry X-CSRF-Token."},
        "components": {
            "securitySchemes": {"session": {"type": "apiKey", "in": "cookie", "name": "vigia_session"}},
            "schemas": {
                "Error": {"type": "object", "required": ["error"], "properties": {"error": {"type": "string"}}},
                "Session": {"type": "object", "properties": {
                    "username": {"type": "string"}, "role": {"type": "string", "enum": ["guard", "installer", "admin"]},
                    "csrf_token": {"type": "string"}, "expires_at": {"type": "number", "description": "epoch seconds"},
                    "totp_enrolment_required": {"type": "boolean", "description": "an admin who must enrol a second "
                                                "factor before anything else (http.admin_totp: required)"}}},
                "LoginChallenge": {"type": "object", "required": ["second_factor", "challenge"], "properties": {
                    "second_factor": {"type": "string", "enum": ["totp"]},
                    "challenge": {"type": "string", "description": "for POST /api/v1/login/totp, within 5 minutes"}}},
                "Layout": {"type": "object", "required": ["zones", "lines", "rules"], "properties": {
                    "camera": {"type": "string", "readOnly": True}, "width": {"type": "integer", "nullable": True,
                    "readOnly": True, "description": "the camera's frame width; null before its first frame"},
                    "height": {"type": "integer", "nullable": True, "readOnly": True},
                    "zones": {"type": "array", "items": {"type": "object", "required": ["name", "polygon"], "properties": {
                        "name": {"type": "string"}, "polygon": {"type": "array", "items": _POINT, "minItems": 3},
                        "classes": {"type": "array", "nullable": True, "items": {"type": "string"}}}}},
                    "lines": {"type": "array", "items": {"type": "object", "required": ["name", "points"], "properties": {
                        "name": {"type": "string"}, "points": {"type": "array", "items": _POINT, "minItems": 2, "maxItems": 2}}}},
                    "rules": {"type": "array", "items": rules["item"]},
                    "privacy_masks": {"type": "array", "description": "never analysed, blacked out in the live view, "
                                      "snapshots, clips and exports; left out of a PUT, the camera keeps its masks",
                                      "items": {"type": "object", "required": ["name", "polygon"], "properties": {
                                          "name": {"type": "string"},
                                          "polygon": {"type": "array", "items": _POINT, "minItems": 3}}}}}},
                **rules["kinds"],
                "Event": {"type": "object", "properties": {
                    "id": {"type": "string"}, "camera": {"type": "string"}, "rule": {"type": "string"},
                    "kind": {"type": "string", "enum": [kind.kind() for kind in KINDS]},
                    "zone": {"type": "string", "nullable": True}, "label": {"type": "string"},
                    "track_id": {"type": "integer", "nullable": True},
                    "start": {"type": "number"}, "end": {"type": "number", "nullable": True},
                    "started_at": {"type": "number"}, "ended_at": {"type": "number", "nullable": True},
                    "max_score": {"type": "number"}, "box": _BOX,
                    "alert": {"type": "boolean"},
                    "path": {"type": "array", "items": _POINT},
                    "attributes": {"type": "object"}, "keep": {"type": "boolean"},
                    "acknowledged_at": {"type": "number", "nullable": True},
                    "acknowledged_by": {"type": "string", "nullable": True},
                    "snapshot_url": {"type": "string", "nullable": True}, "clip_url": {"type": "string"}}},
                # The answers' shapes the web interface reads (a schema without `required` has every property).
                "EventDetail": {"allOf": [_ref("Event"), {**_object(comments={"type": "array", "items": _ref("Comment")}),
                                                             "required": ["comments"]}]},
                "Comment": _object(id={"oneOf": [{"type": "integer"}, {"type": "string"}]}, at=_EPOCH,
                                   username={"type": "string"}, kind={"type": "string", "enum": ["comment", "ack"]},
                                   text={"type": "string"}),
                "Camera": _object(
                    name={"type": "string"}, enabled={"type": "boolean"},
                    recording={"type": "string", "enum": ["off", "events", "continuous"], "description": "the recording mode"},
                    state={"type": "string", "enum": ["online", "reconnecting", "offline", "ended", "stopped", "starting",
                                                      "disabled"]},
                    since=_NULLABLE_EPOCH, last_error={"type": "string", "nullable": True}, last_frame_at=_NULLABLE_EPOCH,
                    width={"type": "integer", "nullable": True}, height={"type": "integer", "nullable": True},
                    behind={"type": "boolean", "description": "decoding is behind the camera: only keyframes are "
                                                              "analysed until it catches up (recording goes on)"},
                    frames_undecoded={"type": "integer", "description": "frames not analysed (still recorded) because "
                                                                        "decoding was behind, as of the last change"},
                    retention=_object(
                        recording={"type": "string", "enum": ["off", "events", "continuous"]},
                        footage_days={"type": "number", "nullable": True,
                                      "description": "days continuous footage is kept; null: no continuous recording"},
                        event_days={"type": "object", "additionalProperties": {"type": "number"},
                                    "description": "days events (clips, snapshots) are kept, by label; default: others"}),
                    privacy_masks={"type": "integer", "description": "how many privacy masks the camera has"}),
                "ExportJob": {**_object(
                    id={"type": "string"}, camera={"type": "string"}, **{"from": _EPOCH, "to": _EPOCH},
                    redact={"type": "array", "items": {"type": "string", "enum": ["persons", "faces", "plates"]}},
                    keep_events={"type": "array", "items": {"type": "string"}}, requested_by={"type": "string"},
                    created_at=_EPOCH, state={"type": "string", "enum": ["running", "done", "failed"]},
                    finished_at=_NULLABLE_EPOCH, error={"type": "string", "nullable": True},
                    frames={"type": "integer", "nullable": True}, regions_hidden={"type": "integer", "nullable": True},
                    seconds={"type": "number", "nullable": True}),
                    "required": ["id", "camera", "from", "to", "redact", "keep_events", "requested_by", "created_at",
                                 "state"]},
                "SyncStatus": _object(
                    enrolled={"type": "boolean"}, central_url={"type": "string", "nullable": True},
                    backlog={"type": "integer", "description": "records waiting in the outbox"},
                    by_kind={"type": "object", "additionalProperties": {"type": "integer"}}, oldest_at=_NULLABLE_EPOCH,
                    dropped={"type": "integer"}, dead_letters={"type": "integer"}),
                "SetupStatus": {**_object(
                    state={"type": "string", "enum": ["unclaimed", "ready"]}, device={"type": "string"},
                    server_time={**_EPOCH, "description": "the appliance's clock when it answered"},
                    time_zone={"type": "string", "nullable": True}, finished_at=_NULLABLE_EPOCH,
                    cameras={"type": "array", "items": {"type": "string"}}, enrolled={"type": "boolean"}),
                    "required": ["state", "device", "server_time"],
                    "description": "the rest only to a logged-in user, or before the device is claimed"},
                "DiscoveredCamera": _object(endpoint={"type": "string"}, xaddr={"type": "string"}, address={"type": "string"},
                                            name={"type": "string", "nullable": True},
                                            hardware={"type": "string", "nullable": True}),
                "StreamProfile": _object(token={"type": "string"}, name={"type": "string"},
                                         encoding={"type": "string", "nullable": True},
                                         width={"type": "integer", "nullable": True},
                                         height={"type": "integer", "nullable": True}, url={"type": "string"}),
                "ProbeResult": _object(
                    profiles={"type": "array", "nullable": True, "items": _ref("StreamProfile")}, url={"type": "string"},
                    codec={"type": "string"}, width={"type": "integer"}, height={"type": "integer"},
                    fps={"type": "number", "nullable": True},
                    preview={"type": "string", "description": "data:image/jpeg;base64,..."}),
                "PushSubscription": _object(id={"type": "integer"}, endpoint={"type": "string"}, created_at=_EPOCH),
                "Track": _object(id={"type": "integer"}, label={"type": "string"}, score={"type": "number"}, box=_BOX),
                "FrameHeader": {**_object(camera={"type": "string"}, captured_at=_EPOCH, width={"type": "integer"},
                                          height={"type": "integer"}, tracks={"type": "array", "items": _ref("Track")}),
                                "description": "the JSON header of a binary live frame (GET /api/v1/live)"},
            },
        },
        "security": [{"session": []}],
        "paths": {
            **data_subject_routes.openapi_paths(),
            **totp_routes.openapi_paths(_errors, _json, _CSRF, _PUBLIC),
            "/healthz": {"get": {"summary": "camera states (no login)", "security": _PUBLIC,
                                 "responses": {"200": {"description": "ok"}}}},
            "/metrics": {"get": {"summary": "Prometheus metrics (no login; with http.metrics_token, Authorization: Bearer)",
                                 "security": _PUBLIC,
                                 "responses": {"200": {"description": "text exposition format"},
                                               **_errors(401)}}},
            "/api/v1/login": {"post": {
                "summary": "log in: sets the vigia_session cookie (HttpOnly, Secure, SameSite=Strict)", "security": _PUBLIC,
                "requestBody": body(fields(["username", "password"], username=LOGIN_USERNAME, password=LOGIN_PASSWORD)),
                "responses": {"200": {"description": "logged in", "content": _json("Session")},
                              "202": {"description": "password right, the user has a second factor: no session yet, "
                                                     "send a code with the challenge", "content": _json("LoginChallenge")},
                              **_errors(400, 401, 415, 429)}}},
            "/api/v1/logout": {"post": {"summary": "end the session", "parameters": [_CSRF],
                                        "responses": {"200": _reply("logged out", logged_out={"type": "boolean"}),
                                                      **_errors(401, 403)}}},
            "/api/v1/me": {"get": {"summary": "the session's user, role and CSRF token",
                                   "responses": {"200": {"description": "ok", "content": _json("Session")}, **_errors(401)}}},
            "/api/v1/events": {"get": {
                "summary": "events, newest first; next page: until = next.until",
                "parameters": [
                    *(query(name, TEXT_FILTER) for name in ("camera", "label", "zone")),
                    {"name": "alert", "in": "query", "schema": {"type": "string", "enum": ["true", "false"]}},
                    {"name": "acknowledged", "in": "query", "schema": {"type": "string", "enum": ["true", "false"]}},
                    query("since", TIME_FILTER, "epoch seconds or ISO 8601 with offset (started at or after)"),
                    query("until", TIME_FILTER, "epoch seconds or ISO 8601 with offset (started before)"),
                    {"name": "limit", "in": "query",
                     "schema": {"type": "integer", "minimum": 1, "maximum": MAX_EVENTS, "default": 50}}],
                "responses": {"200": {"description": "a page", "content": {"application/json": {"schema": {
                    "type": "object", "properties": {
                        "events": {"type": "array", "items": {"$ref": "#/components/schemas/Event"}},
                        "next": {"type": "object", "nullable": True, "properties": {"until": {"type": "number"}}}}}}}},
                              **_errors(400, 401)}}},
            "/api/v1/events/facets": {"get": {
                "summary": "the labels and zones the events' filters offer, per camera and for all cameras",
                "responses": {"200": {"description": "ok", "content": {"application/json": {"schema": {
                    "type": "object", "required": ["cameras", "labels", "zones"], "properties": {
                        "cameras": {"type": "object", "additionalProperties": {
                            "type": "object", "required": ["labels", "zones"], "properties": {
                                "labels": {"type": "array", "items": {"type": "string"}},
                                "zones": {"type": "array", "items": {"type": "string"}}}}},
                        "labels": {"type": "array", "items": {"type": "string"}},
                        "zones": {"type": "array", "items": {"type": "string"}}}}}}},
                              **_errors(401)}}},
            "/api/v1/events/{id}": {"get": {"summary": "one event, with `comments` (acknowledgements included)",
                                            "parameters": [_EVENT_ID],
                                            "responses": {"200": {"description": "ok", "content": _json("EventDetail")},
                                                          **_errors(400, 401, 404)}}},
            "/api/v1/events/{id}/ack": {"post": {
                "summary": "acknowledge the event (guard or above; audited): its alert banner closes on every screen",
                "parameters": [_EVENT_ID, _CSRF],
                "requestBody": {"required": False, "content": {"application/json": {"schema": fields(
                    comment={"type": "string", "maxLength": MAX_COMMENT})}}},
                "responses": {"200": {"description": "the event", "content": _json("Event")},
                              **_errors(400, 401, 403, 404, 415)}}},
            "/api/v1/events/{id}/comments": {"post": {
                "summary": "comment on the event (guard or above; audited)", "parameters": [_EVENT_ID, _CSRF],
                "requestBody": body(fields(["text"], text={"type": "string", "maxLength": MAX_COMMENT, "pattern": r"\S",
                                                           "description": "not only white space"})),
                "responses": {"201": {"description": "the comment", "content": _json("Comment")},
                              **_errors(400, 401, 403, 404, 415)}}},
            "/api/v1/events/{id}/keep": {"post": {
                "summary": "keep the event (legal hold) or release it (guard or above; audited)",
                "parameters": [_EVENT_ID, _CSRF],
                "requestBody": {"required": False, "content": {"application/json": {"schema": fields(
                    keep={"type": "boolean", "default": True})}}},
                "responses": {"200": _reply("ok", id={"type": "string"}, keep={"type": "boolean"}),
                              **_errors(400, 401, 403, 404, 415)}}},
            "/api/v1/events/{id}/snapshot": {"get": {
                "summary": "the event's best frame (JPEG, decrypted)", "parameters": [_EVENT_ID],
                "responses": {"200": {"description": "JPEG", "content": {"image/jpeg": {}}}, **_errors(400, 401, 404)}}},
            "/api/v1/links/snapshot/{id}": {"get": {
                "summary": "an event's snapshot through a short-lived signed link a webhook carried (no login; "
                           "waits a few seconds for a snapshot not written yet)",
                "security": _PUBLIC,
                "parameters": [_EVENT_ID,
                               {"name": "expires", "in": "query", "required": True, "description": "epoch seconds",
                                "schema": {"type": "integer"}},
                               {"name": "sig", "in": "query", "required": True, "description": "the link's signature",
                                "schema": {"type": "string"}}],
                "responses": {"200": {"description": "JPEG", "content": {"image/jpeg": {}}},
                              "403": {"description": "expired or forged link", "content": _ERROR},
                              **_errors(400, 404)}}},
            "/api/v1/events/{id}/clip": {"get": {
                "summary": "the event's clip (MP4, pre- and post-roll), with Range: bytes=a-b (206) support",
                "parameters": [_EVENT_ID, {"name": "Range", "in": "header", "schema": {"type": "string"}},
                               {"name": "download", "in": "query", "description": "true: sent as an attachment",
                                "schema": {"type": "string", "enum": ["true", "false"]}},
                               {"name": "part", "in": "query", "description": "a version of an ongoing event's clip"
                                " (where 307 leads): every request of one player reads the same file",
                                "schema": {"type": "integer", "minimum": 0}}],
                "responses": {"200": {"description": "the whole clip", "content": {"video/mp4": {}}},
                              "206": {"description": "the range asked for", "content": {"video/mp4": {}}},
                              "307": {"description": "the event is still going on: its footage so far, at ?part=N"},
                              **_errors(400, 401, 404, 416)}}},
            "/api/v1/cameras": {"get": {"summary": "cameras, their connection states and frame sizes",
                                        "responses": {"200": _reply("ok", cameras={"type": "array", "items": _ref("Camera")}),
                                                      **_errors(401)}}},
            "/api/v1/cameras/{name}/frame": {"get": {
                "summary": "the camera's next analysed frame (JPEG): what the zone editor draws over",
                "parameters": [_CAMERA],
                "responses": {"200": {"description": "JPEG", "content": {"image/jpeg": {}}}, **_errors(401, 404)}}},
            "/api/v1/cameras/{name}/layout": {
                "get": {"summary": "the camera's zones, lines and rules (normalised coordinates)",
                        "parameters": [_CAMERA],
                        "responses": {"200": {"description": "ok", "content": _json("Layout")}, **_errors(401, 404)}},
                "put": {"summary": "replace the camera's zones, lines and rules (installer or admin; audited): "
                                   "validated, saved, applied without a restart",
                        "parameters": [_CAMERA, _CSRF],
                        "requestBody": {"required": True, "content": _json("Layout")},
                        "responses": {"200": {"description": "saved and applied", "content": _json("Layout")},
                                      **_errors(400, 401, 403, 404, 415)}}},
            "/api/v1/cameras/{name}/layout/versions": {"get": {
                "summary": "every layout the camera had, newest first (installer or admin); the oldest is the config "
                           "file's, kept when the first layout was saved",
                "parameters": [_CAMERA],
                "responses": {"200": {"description": "ok", "content": {"application/json": {"schema": {
                    "type": "object", "required": ["camera", "versions"], "properties": {
                        "camera": {"type": "string"},
                        "versions": {"type": "array", "items": {
                            "type": "object", "required": ["id", "saved_at", "saved_by", "zones", "lines", "rules"],
                            "properties": {"id": {"type": "integer"}, "saved_at": {"type": "number"},
                                           "saved_by": {"type": "string"},
                                           "zones": {"type": "array", "items": {"type": "string"}},
                                           "lines": {"type": "array", "items": {"type": "string"}},
                                           "rules": {"type": "array", "items": {"type": "string"}},
                                           "privacy_masks": {"type": "array", "items": {"type": "string"}}}}}}}}}},
                              **_errors(401, 403, 404)}}},
            "/api/v1/cameras/{name}/layout/versions/{version}/restore": {"post": {
                "summary": "make an earlier layout the camera's again (installer or admin; audited): applied like a "
                           "save, itself a new version",
                "parameters": [_CAMERA, {"name": "version", "in": "path", "required": True,
                                         "schema": {"type": "integer", "minimum": 1}}, _CSRF],
                "responses": {"200": {"description": "restored and applied", "content": _json("Layout")},
                              **_errors(400, 401, 403, 404)}}},
            "/api/v1/live": {"get": {
                "summary": "WebSocket: hello, event, ack, camera and layout messages (JSON) and live frames "
                           "(binary: 4-byte header length, JSON header, JPEG); send "
                           '{"type": "watch", "cameras": [...], "size": "grid"|"full"} to choose frames',
                "parameters": [{"name": "after", "in": "query", "description": "the newest event id the client has: "
                                "hello.missed lists the events after it",
                                "schema": {"type": "string", "pattern": EVENT_ID["pattern"]}}],
                "responses": {"101": {"description": "switching protocols"}, **_errors(400, 401, 403)}}},
            "/api/v1/sync": {"get": {
                "summary": "enrolment with central and the outbox backlog"
                           " (records waiting, by kind, oldest, dropped, dead letters)",
                "responses": {"200": {"description": "ok", "content": _json("SyncStatus")}, **_errors(401)}}},
            "/api/v1/users": {
                "get": {"summary": "local accounts (admin)", "responses": {"200": {"description": "ok"}, **_errors(401, 403)}},
                "post": {"summary": "create a local account (admin; audited)", "parameters": [_CSRF],
                         "requestBody": body(fields(["username", "password", "role"], username=USERNAME_SCHEMA,
                                                    password=NEW_PASSWORD,
                                                    role={"type": "string", "enum": ["guard", "installer", "admin"]})),
                         "responses": {"201": {"description": "created"}, **_errors(400, 401, 403, 409, 415)}}},
            "/api/v1/audit": {"get": {
                "summary": "the audit log, newest first (admin); next page: before = next.before",
                "parameters": [{"name": "limit", "in": "query",
                                "schema": {"type": "integer", "minimum": 1, "maximum": MAX_AUDIT}},
                               {"name": "before", "in": "query", "schema": {"type": "integer", "minimum": 1, "maximum": 2**53}}],
                "responses": {"200": {"description": "ok"}, **_errors(400, 401, 403)}}},
            "/api/v1/setup": {"get": {
                "summary": "setup state (unclaimed or ready), device short id, the server's clock (epoch seconds), "
                           "time zone, cameras and enrolment; no login needed",
                "security": _PUBLIC, "responses": {"200": {"description": "ok", "content": _json("SetupStatus")}}}},
            "/api/v1/setup/claim": {"post": {
                "summary": "claim an unclaimed device with its claim code (`vigia status`), create the first admin and "
                           "log them in (no login needed; audited; rate-limited per address)",
                "security": _PUBLIC,
                "requestBody": body(fields(["claim_code", "username", "password"], claim_code={"type": "string", "minLength": 1},
                                           username=USERNAME_SCHEMA, password=NEW_PASSWORD)),
                "responses": {"200": {"description": "claimed and logged in", "content": _json("Session")},
                              **_errors(400, 403, 409, 415, 429)}}},
            "/api/v1/setup/cameras/discover": {"post": {
                "summary": "ONVIF cameras answering WS-Discovery (installer)", "parameters": [_CSRF],
                "responses": {"200": _reply("devices: endpoint, xaddr, address, name, hardware",
                                             devices={"type": "array", "items": _ref("DiscoveredCamera")}),
                              **_errors(401, 403, 502)}}},
            "/api/v1/setup/cameras/probe": {"post": {
                "summary": "xaddr: the camera's media profiles and RTSP URIs (ONVIF, with its credentials), and a test "
                           "of the first; url: a test of that RTSP stream. A test gives codec, width, height, measured "
                           "fps and a JPEG preview (data URL); passwords are never returned (installer)",
                "parameters": [_CSRF],
                "requestBody": body({**fields(xaddr={"type": "string", "pattern": ONVIF_XADDR.pattern},
                                              url={"type": "string", "pattern": RTSP_URL.pattern, "maxLength": MAX_URL},
                                              **_CAMERA_CREDENTIALS),
                                     "anyOf": [{"required": ["xaddr"]}, {"required": ["url"]}]}),
                "responses": {"200": {"description": "profiles (or null), url, codec, width, height, fps, preview",
                                      "content": _json("ProbeResult")},
                              **_errors(400, 401, 403, 415, 502)}}},
            "/api/v1/setup/cameras": {"post": {
                "summary": "add a camera and start its pipeline without a restart; saved in the appliance database "
                           "(installer; audited)", "parameters": [_CSRF],
                "requestBody": body(fields(
                    ["name", "url"], name={"type": "string", "pattern": CAMERA_NAME.pattern},
                    url={"type": "string", "pattern": RTSP_URL.pattern, "maxLength": MAX_URL}, **_CAMERA_CREDENTIALS,
                    record={**_RECORD, "default": "events"},
                    retain_days={"type": "number", "minimum": 0, "exclusiveMinimum": True, "maximum": MAX_RETAIN_DAYS,
                                 "default": 7})),
                "responses": {"201": _reply("added and started", name={"type": "string"},
                                                    recording={"type": "string", "enum": ["off", "events", "continuous"]},
                                                    retain_days={"type": "number"}), **_errors(400, 401, 403, 409, 415)}}},
            "/api/v1/setup/enrol": {"post": {
                "summary": "enrol with central: URL, one-time token, central's CA certificate (admin; audited)",
                "parameters": [_CSRF],
                "requestBody": body(fields(["central_url", "token", "ca_pem"],
                                           central_url={"type": "string", "pattern": CENTRAL_URL.pattern},
                                           token={"type": "string", "minLength": 1},
                                           ca_pem={"type": "string", "pattern": PEM_CERTIFICATE.pattern,
                                                   "description": "central's CA certificate (PEM)"})),
                "responses": {"200": _reply("enrolled (the outbox starts at the next restart)", enrolled={"type": "boolean"},
                                            device_id={"type": "string"}, central_url={"type": "string"},
                                            restart_needed={"type": "boolean"}),
                              **_errors(400, 401, 403, 415, 502)}}},
            "/api/v1/setup/finish": {"post": {
                "summary": "record the site's time zone and the end of setup (installer; audited; repeatable)",
                "parameters": [_CSRF],
                "requestBody": body(fields(["time_zone"], time_zone={
                    "type": "string", "enum": sorted(zoneinfo.available_timezones()), "description": "an IANA time zone"})),
                "responses": {"200": _reply("saved", time_zone={"type": "string"}, finished_at=_EPOCH,
                                                   finished_by={"type": "string"}), **_errors(400, 401, 403, 415)}}},
            "/api/v1/push/key": {"get": {
                "summary": "the device's VAPID public key, as PushManager.subscribe takes it (404: no `push:` section)",
                "responses": {"200": _reply("ok", application_server_key={"type": "string", "description": "base64url"}),
                              **_errors(401, 404)}}},
            "/api/v1/push/subscriptions": {
                "get": {"summary": "the session user's push subscriptions",
                        "responses": {"200": _reply("ok", subscriptions={"type": "array", "items": _ref("PushSubscription")}),
                                      **_errors(401)}},
                "post": {"summary": "subscribe this browser (its PushSubscription.toJSON()) for the session user; ended by "
                                    "the user's logout or password change (audited)", "parameters": [_CSRF],
                         "requestBody": body(fields(
                             ["endpoint", "keys"], endpoint={"type": "string", "minLength": 1, "maxLength": MAX_ENDPOINT},
                             expirationTime={"type": "number", "nullable": True},
                             keys=fields(["p256dh", "auth"], p256dh={"type": "string", "description": "base64url"},
                                         auth={"type": "string", "description": "base64url"}))),
                         "responses": {"201": {"description": "subscribed", "content": _json("PushSubscription")},
                                       **_errors(400, 401, 403, 404, 415)}},
                "delete": {"summary": "unsubscribe one of the session user's browsers, by endpoint (audited)",
                           "parameters": [_CSRF],
                           "requestBody": body(fields(["endpoint"], endpoint={"type": "string", "minLength": 1})),
                           "responses": {"200": _reply("done", removed={"type": "boolean"}), **_errors(400, 401, 403, 415)}}},
            "/api/v1/push/ack": {"post": {
                "summary": "acknowledge an event from a push notification: its token stands for the session (no login; "
                           "audited as the subscription's user, via push)", "security": _PUBLIC,
                "requestBody": body(fields(["event", "token"], event=EVENT_ID, token={"type": "string"})),
                "responses": {"200": {"description": "the event", "content": _json("Event")},
                              **_errors(400, 403, 404, 415)}}},
            "/api/v1/exports": {
                "get": {"summary": "the exports for disclosure since the appliance started, newest first (admin)",
                        "responses": {"200": _reply("ok", exports={"type": "array", "items": _ref("ExportJob")}),
                                      **_errors(401, 403)}},
                "post": {"summary": "export for disclosure (admin; audited): a camera's footage over a window of up to an "
                                    "hour, people (or faces, plates) hidden but those of `keep_events`, re-encoded, with a "
                                    "manifest; runs in the background", "parameters": [_CSRF],
                         "requestBody": {"required": True, "content": {"application/json": {"schema": {
                             "type": "object", "required": ["camera", "from", "to"], "properties": {
                                 "camera": {"type": "string"}, "from": _EPOCH, "to": _EPOCH,
                                 "redact": {"type": "array", "minItems": 1,
                                            "items": {"type": "string", "enum": ["persons", "faces", "plates"]}},
                                 "keep_events": {"type": "array", "maxItems": 20,
                                                 "items": {"type": "string", "pattern": "^[0-9A-Z]{26}$"}}}}}}},
                         "responses": {"202": {"description": "started", "content": _json("ExportJob")},
                                       **_errors(400, 401, 403, 415, 422)}}},
            "/api/v1/exports/{id}": {"get": {
                "summary": "one export for disclosure: its state, and once done what it hid (admin)",
                "parameters": [{"name": "id", "in": "path", "required": True, "schema": {"type": "string"}}],
                "responses": {"200": {"description": "ok", "content": _json("ExportJob")}, **_errors(401, 403, 404)}}},
            "/api/v1/exports/{id}/{file}": {"get": {
                "summary": "download a finished export's redacted video or its manifest (admin; audited)",
                "parameters": [{"name": "id", "in": "path", "required": True, "schema": {"type": "string"}},
                               {"name": "file", "in": "path", "required": True,
                                "schema": {"type": "string", "enum": ["video", "manifest"]}}],
                "responses": {"200": {"description": "the file", "content": {"video/mp4": {}, "application/json": {}}},
                              **_errors(401, 403, 404, 409, 410)}}},
            "/api/v1/privacy/notice": {"get": {
                "summary": "the signage notice (printable HTML): controller, purpose, retention and contact, from the "
                           "config file's privacy section",
                "parameters": [{"name": "lang", "in": "query", "required": False,
                                "schema": {"type": "string", "enum": ["pt-BR", "en"], "default": "pt-BR"}}],
                "responses": {"200": {"description": "HTML", "content": {"text/html": {}}}, **_errors(400, 401, 409)}}},
            "/api/v1/openapi.json": {"get": {"summary": "this document",
                                             "responses": {"200": {"description": "ok"}, **_errors(401)}}},
            "/{path}": {"get": {"summary": "the web interface's files (no login: they are the login page)",
                                "security": _PUBLIC,
                                "parameters": [{"name": "path", "in": "path", "required": True, "schema": {"type": "string"}}],
                                "responses": {"200": {"description": "a file, or index.html"},
                                              "503": {"description": "the web interface is not built"}}}},
        },
    }
