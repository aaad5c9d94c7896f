"""The OpenAPI 3 description of the fleet dashboard's HTTP API (served at GET /dashboard/api/v1/openapi.json).

Hand-written: a test checks that every route the dashboard registers is described here, and back; the front end's
types (central/web/src/schema.ts) are generated from it (`npm run api-types`). A schema without `required` has
every property in every answer.
"""
from __future__ import annotations

from typing import Any

from aiohttp import web

from vigia.central.dashboard.device_routes import SITE
from vigia.central.dashboard.model_routes import MAX_DEVICES, MODEL_ID
from vigia.central.models.registry import STATES
from vigia.kit.api_schema import (
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
from vigia.kit.passwords import TOKEN_PATTERN
from vigia.kit.totp import CODE, RECOVERY_CODE
from vigia.sync.protocol import DEVICE_ID_PATTERN

PREFIX = "/dashboard"
API = f"{PREFIX}/api/v1"
ROLE = {"type": "string", "enum": ["viewer", "operator", "admin"]}
_PUBLIC: list = []  # no security requirement
_CSRF = {"name": "X-CSRF-Token", "in": "header", "required": True, "description": "the session's CSRF token",
         "schema": {"type": "string"}}
_DEVICE_ID = {"name": "device_id", "in": "path", "required": True, "description": "device id",
              "schema": {"type": "string", "pattern": DEVICE_ID_PATTERN}}
_EVENT_ID = {"name": "event_id", "in": "path", "required": True, "description": "event id (ULID)",
             "schema": {"type": "string", "pattern": "^[0-9A-Z]{26}$"}}
_EPOCH = {"type": "number", "description": "epoch seconds"}
_NULLABLE_EPOCH = {**_EPOCH, "nullable": True}
_TEXT = {"type": "string"}
_NULLABLE_TEXT = {"type": "string", "nullable": True}
_INT = {"type": "integer"}
_NUMBER = {"type": "number"}
_BOX = {"type": "array", "items": _NUMBER, "minItems": 4, "maxItems": 4,
        "description": "x1, y1, x2, y2 as shares of the frame's width and height"}
_POINT = {"type": "array", "items": _NUMBER, "minItems": 3, "maxItems": 3,
          "description": "seconds, then x and y of the object's anchor (its box's bottom centre) as shares of the frame"}
_JOB_STATE = {"type": "string", "enum": ["waiting_clip", "ready", "queued", "done", "failed"]}
_FILTER_TEXTS = ("device", "site", "camera", "label")
_SINCE = query("since", TIME_FILTER, "epoch seconds or ISO 8601 with offset (started at or after)")
_UNTIL = query("until", TIME_FILTER, "epoch seconds or ISO 8601 with offset (started before)")
_SITE = {"type": "string", "pattern": SITE.pattern, "description": "1 to 64 characters, no control characters"}
_PAGE = {"name": "page", "in": "query", "schema": {"type": "integer", "minimum": 0, "maximum": 10000, "default": 0}}


_FLEET_EVENT = dict(
    device_id={"type": "string"}, site={"type": "string", "nullable": True}, id={"type": "string"},
    camera={"type": "string"}, rule={"type": "string"}, kind={"type": "string"},
    zone={"type": "string", "nullable": True}, label={"type": "string"}, alert={"type": "boolean"},
    max_score={"type": "number"}, started_at=_EPOCH, ended_at=_NULLABLE_EPOCH, received_at=_EPOCH,
    has_snapshot={"type": "boolean"},
    has_thumbnail={"type": "boolean", "description": "its thumbnail is in central's media bucket"},
    has_clip={"type": "boolean", "description": "its clip is in central's media bucket"})


def _ref(name: str) -> dict:
    return {"$ref": f"#/components/schemas/{name}"}


def _nullable_ref(name: str) -> dict:
    return {"allOf": [_ref(name)], "nullable": True}


def _days(default: int, most: int) -> dict:
    return {"name": "days", "in": "query", "schema": {"type": "integer", "minimum": 1, "maximum": most, "default": default}}


def _ok(schema: dict, description: str = "ok") -> dict:
    return {"200": {"description": description, "content": _json(schema)}}


def _json(schema: dict) -> dict:
    return {"application/json": {"schema": schema}}


def _errors(*codes: int) -> dict:
    text = {400: "malformed input (the message names it)", 401: "no live session",
            403: "missing or wrong X-CSRF-Token, or the role is too low",
            404: "no such device or event, or the event has no such media (or no bucket is configured)",
            409: "the username is taken; a second factor is already on; or the model or rollout is not in a state that "
                 "allows it (the message says why: a gate-rejected model without override, a rollout not running)",
            415: "the body is not application/json",
            422: "well-formed, but not acceptable: a code that is not the authenticator's current one, labels "
                 "without the decision fixed, a box whose corners are swapped, a class the model does not have",
            429: "too many failed logins (see Retry-After)",
            502: "the OpenID provider cannot be reached or answered wrongly",
            503: "this dashboard has no model-signing key (vigia central dashboard --ca-dir)"}
    return {str(code): {"description": text[code], "content": _json(_ref("Error"))} for code in codes}


def _object(required: list[str] | None = None, **properties: dict) -> dict:
    schema: dict[str, Any] = {"type": "object", "properties": properties}
    if required is not None:
        schema["required"] = required
    return schema


def _body(schema: dict) -> dict:
    return {"required": True, "content": _json(schema)}


def _schemas() -> dict[str, Any]:
    return {
        "Error": _object(["error"], error={"type": "string"}),
        "Session": _object(username={"type": "string"}, role=ROLE, csrf_token={"type": "string"}, expires_at=_EPOCH,
                           totp_enrolment_required={"type": "boolean", "description": "an admin who must enrol a second "
                                                    "factor before anything else (--admin-totp required)"}),
        "LoginChallenge": _object(["second_factor", "challenge"], second_factor={"type": "string", "enum": ["totp"]},
                                  challenge={"type": "string", "description": f"for POST {API}/login/totp, within 5 minutes"}),
        "TotpStatus": _object(["enabled", "pending", "recovery_codes_left"], enabled={"type": "boolean"},
                              pending={"type": "boolean", "description": "a secret shown, not confirmed yet"},
                              recovery_codes_left=_INT),
        "TotpEnrolment": _object(["secret", "otpauth_uri", "qr_svg"], secret=_TEXT, otpauth_uri=_TEXT,
                                 qr_svg={"type": "string", "description": "an SVG document"}),
        "TotpEnabled": _object(["enabled", "recovery_codes"], enabled={"type": "boolean"},
                               recovery_codes={"type": "array", "items": _TEXT, "description": "shown only now"}),
        "CameraHealth": _object(
            camera={"type": "string"}, state={"type": "string", "description": "the camera's connection state"},
            since=_EPOCH, last_error={"type": "string", "nullable": True}, received_at=_EPOCH),
        "Device": _object(
            device_id={"type": "string"}, site={"type": "string", "nullable": True},
            short_id={"type": "string", "nullable": True,
                      "description": "the first 8 characters of its identity (null: enrolled before identities were kept)"},
            high_water={"type": "integer", "description": "the last batch sequence applied"},
            enrolled_at=_NULLABLE_EPOCH, revoked_at=_NULLABLE_EPOCH, last_seen_at=_NULLABLE_EPOCH,
            online={"type": "boolean", "description": "a batch applied within online_minutes"},
            cameras={"type": "array", "items": _ref("CameraHealth")},
            metrics={"type": "object", "nullable": True, "additionalProperties": True,
                     "description": "the device's latest `metrics` state record (version, backlog, disk), if any"}),
        "FleetEvent": _object(**_FLEET_EVENT),
        "DayCount": _object(day={"type": "string", "description": "YYYY-MM-DD (UTC)"}, device_id={"type": "string"},
                            site={"type": "string", "nullable": True}, events={"type": "integer"},
                            alerts={"type": "integer"}),
        "User": _object(username={"type": "string"}, role=ROLE, created_at=_EPOCH),
        "SsoInfo": _object(enabled={"type": "boolean", "description": "single sign-on is configured"},
                           button={"type": "string", "nullable": True, "description": "the login page's button text"},
                           password_login={"type": "boolean", "description": "POST login (passwords) is accepted"}),
        **_device_schemas(),
        **_reanalysis_schemas(),
        **_alert_schemas(),
        "LiveMessage": {
            "description": "a message of the live WebSocket",
            "oneOf": [_ref("LiveHello"), _ref("LiveEvents"), _ref("LiveDevice")],
            "discriminator": {"propertyName": "type", "mapping": {
                "hello": "#/components/schemas/LiveHello", "events": "#/components/schemas/LiveEvents",
                "device": "#/components/schemas/LiveDevice"}}},
        "LiveHello": _object(["type", "username"], type={"type": "string", "enum": ["hello"]}, username={"type": "string"}),
        "LiveEvents": _object(["type", "events"], type={"type": "string", "enum": ["events"]},
                              events={"type": "array", "items": _ref("FleetEvent")}),
        "LiveDevice": _object(["type", "device"], type={"type": "string", "enum": ["device"]}, device=_ref("Device")),
    }


def _device_schemas() -> dict[str, Any]:
    counts = {name: _INT for name in ("frames_in", "frames_analysed", "frames_dropped", "events")}
    return {
        "MetricsRollup": _object(
            ["period_end"], period_end=_EPOCH, period_start=_EPOCH, version=_TEXT,
            model={**_NULLABLE_TEXT, "description": "the detector's model as configured (a name, sha256 prefix or path)"},
            uptime_s=_NUMBER, backlog={**_INT, "description": "records waiting in the device's outbox"},
            disk_free_bytes={**_INT, "description": "free bytes on the device's data volume"},
            cameras={"type": "object", "description": "per camera, the counts of the period",
                     "additionalProperties": _object(**counts)}),
        "Command": _object(
            id=_INT, kind={"type": "string", "enum": ["upload_clip", "set_layout", "rotate_credentials"]},
            body={"type": "object", "additionalProperties": True}, created_by=_TEXT,
            state={"type": "string", "enum": ["pending", "done", "failed"]},
            result={"type": "object", "nullable": True, "additionalProperties": True,
                    "description": "what the device answered"},
            created_at=_EPOCH, acked_at=_NULLABLE_EPOCH),
        "DeviceDetail": _object(
            device=_ref("Device"), days=_INT, online_minutes=_NUMBER,
            metrics={"type": "array", "items": _ref("MetricsRollup"), "description": "oldest first"},
            layouts={"type": "array", "description": "each camera's zones, lines, rules and the detector's classes",
                     "items": {"type": "object", "additionalProperties": True}},
            commands={"type": "array", "items": _ref("Command"), "description": "newest first"}),
    }


def _reanalysis_schemas() -> dict[str, Any]:
    return {
        "EdgeView": _object(**_FLEET_EVENT, box=_BOX,
                            path={"type": "array", "items": _POINT, "description": "seconds since the event started"}),
        "Verdict": _object(
            job_id=_TEXT, verdict={"type": "string", "enum": ["confirmed", "not_confirmed", "label_differs"]},
            rule=_TEXT, edge_label=_TEXT, central_label=_NULLABLE_TEXT, central_track={**_INT, "nullable": True},
            agreement={**_NUMBER, "description": "the share of the event's path where central's track stood with it"}),
        "CentralTrack": _object(
            track=_INT, label=_TEXT, first_seen={**_NUMBER, "description": "seconds into the clip"},
            last_seen=_NUMBER, max_score=_NUMBER, best_t=_NUMBER, best_box=_BOX,
            path={"type": "array", "items": _POINT, "description": "seconds into the clip"}),
        "CentralEvent": _object(
            rule=_TEXT, label=_TEXT, track={**_INT, "nullable": True}, start=_NUMBER, end={**_NUMBER, "nullable": True},
            started_at=_NULLABLE_EPOCH, max_score=_NUMBER, box=_BOX,
            missed={"type": "boolean", "description": "no edge event of the rule matches it"},
            matched_event_id=_NULLABLE_TEXT),
        "Analysis": _object(
            job_id=_TEXT, model=_TEXT, frames=_INT, duration_s=_NUMBER, worker=_TEXT,
            clip_start={**_NULLABLE_EPOCH, "description": "the wall clock of the clip's first frame, when known"},
            finished_at=_EPOCH, tracks={"type": "array", "items": _ref("CentralTrack")},
            events={"type": "array", "items": _ref("CentralEvent")}),
        "Job": _object(
            job_id=_TEXT, device_id=_TEXT, event_id=_TEXT, camera=_TEXT,
            reason={"type": "string", "enum": ["alert", "sample", "low_score", "requested"]},
            priority={"type": "string", "enum": ["alert", "normal"]}, state=_JOB_STATE, attempts=_INT,
            error=_NULLABLE_TEXT, requested_by=_NULLABLE_TEXT, created_at=_EPOCH, queued_at=_NULLABLE_EPOCH,
            finished_at=_NULLABLE_EPOCH),
        "EventReanalysis": _object(
            device_id=_TEXT, event_id=_TEXT, edge=_ref("EdgeView"), verdict=_nullable_ref("Verdict"),
            analysis=_nullable_ref("Analysis"), jobs={"type": "array", "items": _ref("Job"), "description": "newest first"}),
        "Disagreement": _object(
            kind={"type": "string", "enum": ["not_confirmed", "label_differs", "missed"]}, device_id=_TEXT,
            site=_NULLABLE_TEXT, camera=_TEXT, rule=_TEXT,
            edge_label={**_NULLABLE_TEXT, "description": "null for an object the edge missed"},
            central_label=_NULLABLE_TEXT,
            event_id={**_TEXT, "description": "the edge event judged; for a missed object, the event whose clip showed it"},
            job_id=_TEXT, agreement={**_NUMBER, "nullable": True}, max_score={**_NUMBER, "nullable": True},
            box={**_BOX, "nullable": True}, started_at=_EPOCH, analysed_at=_EPOCH),
        "CameraRate": _object(
            device_id=_TEXT, site=_NULLABLE_TEXT, camera=_TEXT, day={**_TEXT, "description": "YYYY-MM-DD (UTC)"},
            verdicts=_INT, confirmed=_INT, not_confirmed=_INT, label_differs=_INT, missed=_INT,
            false_alarm_rate={**_NUMBER, "nullable": True, "description": "not_confirmed / verdicts"},
            missed_rate={**_NUMBER, "nullable": True, "description": "missed / (confirmed + missed)"}),
        "JobQueue": _object(
            by_state=_object(**{state: _INT for state in _JOB_STATE["enum"]}),
            oldest_open_s={**_NUMBER, "nullable": True, "description": "age of the oldest job not done or failed"},
            oldest_open={"type": "array", "items": _ref("Job")},
            failed={"type": "array", "items": _ref("Job"), "description": "the latest failures, with their error"}),
    }


def _reanalysis_paths() -> dict[str, Any]:
    event = [_DEVICE_ID, _EVENT_ID]
    return {
        f"{API}/events/{{device_id}}/{{event_id}}/reanalysis": {
            "get": {"summary": "the edge's box and path beside central's verdict, tracks and rule events (its latest "
                               "analysis of the event), and the event's jobs", "parameters": event,
                    "responses": {**_ok(_ref("EventReanalysis")), **_errors(400, 401, 404)}},
            "post": {"summary": "analyse the event again (operator); the job already open for it if there is one",
                     "parameters": [*event, _CSRF],
                     "responses": {"202": {"description": "queued", "content": _json(_object(
                         job_id=_TEXT, created={"type": "boolean", "description": "false: a job was open already"}))},
                         **_errors(400, 401, 403, 404)}}},
        f"{API}/reanalysis/disagreements": {"get": {
            "summary": "edge events central did not confirm or labelled otherwise (its latest verdict), and objects "
                       "the edge missed; newest first, 50 a page",
            "parameters": [*(query(name, TEXT_FILTER) for name in _FILTER_TEXTS),
                           {"name": "kind", "in": "query",
                            "schema": {"type": "string", "enum": ["not_confirmed", "label_differs", "missed"]}},
                           _SINCE, _UNTIL, _PAGE],
            "responses": {**_ok(_object(disagreements={"type": "array", "items": _ref("Disagreement")},
                                        next_page={"type": "integer", "nullable": True})), **_errors(400, 401)}}},
        f"{API}/reanalysis/rates": {"get": {
            "summary": "per camera per UTC day, today and the days - 1 before: false-alarm and missed rates",
            "parameters": [_days(14, 366), *(query(name, TEXT_FILTER) for name in ("device", "camera"))],
            "responses": {**_ok(_object(days=_INT, rates={"type": "array", "items": _ref("CameraRate")})),
                          **_errors(400, 401)}}},
        f"{API}/reanalysis/queue": {"get": {
            "summary": "re-analysis jobs by state, the oldest open one's age, the latest failures",
            "responses": {**_ok(_ref("JobQueue")), **_errors(400, 401)}}},
    }


_LABELS = {"type": "array", "maxItems": 200, "items": _object(
    ["label", "box"], label={"type": "string", "description": "a class of the model (COCO names)"}, box=_BOX)}
_REVIEW = {"type": "string", "enum": ["unreviewed", "accepted", "rejected", "fixed"]}
_EXAMPLE_ID = {"name": "example_id", "in": "path", "required": True, "description": "hard example id",
               "schema": {"type": "string", "pattern": "^[0-9]{1,18}$"}}


def _hard_example_schemas() -> dict[str, Any]:
    return {"HardExample": _object(
        id=_INT, job_id=_TEXT, device_id=_TEXT, camera=_TEXT, taken_at=_EPOCH,
        reason={"type": "string", "enum": ["not_confirmed", "label_differs", "missed", "low_confidence"]},
        width=_INT, height=_INT, labels={**_LABELS, "description": "central's boxes"}, review=_REVIEW,
        reviewed_labels={**_LABELS, "nullable": True, "description": "an operator's fix; wins over central's"},
        reviewed_by=_NULLABLE_TEXT, reviewed_at=_NULLABLE_EPOCH)}


def _hard_example_paths() -> dict[str, Any]:
    return {
        f"{API}/hard-examples": {"get": {
            "summary": "frames re-analysis kept for training, newest first, 24 a page",
            "parameters": [{"name": "review", "in": "query", "schema": _REVIEW},
                           {"name": "reason", "in": "query", "schema": _hard_example_schemas()["HardExample"][
                               "properties"]["reason"]},
                           *({"name": name, "in": "query", "schema": {"type": "string", "minLength": 1, "maxLength": 64}}
                             for name in ("device", "camera")), _PAGE],
            "responses": {**_ok(_object(examples={"type": "array", "items": _ref("HardExample")},
                                        next_page={"type": "integer", "nullable": True})), **_errors(400, 401)}}},
        f"{API}/hard-examples/{{example_id}}/image": {"get": {
            "summary": "the frame, from the media bucket", "parameters": [_EXAMPLE_ID],
            "responses": {"200": {"description": "the frame", "content": {"image/jpeg": {}}}, **_errors(400, 401, 404)}}},
        f"{API}/hard-examples/{{example_id}}/review": {"post": {
            "summary": "accept or reject central's boxes, or fix them with labels (operator)",
            "parameters": [_EXAMPLE_ID, _CSRF],
            "requestBody": _body(_object(["decision"], decision={"type": "string", "enum": ["accepted", "rejected", "fixed"]},
                                         labels={**_LABELS, "description": "with fixed, and only then"})),
            "responses": {**_ok(_ref("HardExample")), **_errors(400, 401, 403, 404, 415, 422)}}},
    }


_ALERT_KIND = {"type": "string", "enum": ["device_offline", "camera_offline", "backlog", "disk_low", "false_alarms"]}
_ALERT_ID = {"name": "alert_id", "in": "path", "required": True, "schema": {"type": "string", "pattern": "^[0-9]+$"}}
_PUSH_ENDPOINT = {"type": "string", "pattern": "^https?://", "maxLength": 2000, "description": "the push service's URL"}
_PUSH_KEY = {"type": "string", "minLength": 1, "maxLength": 200}
_ACK_TOKEN = {"type": "string", "description": "the `ack.token` of a notification (or `token` of its link)"}


def _alert_schemas() -> dict[str, Any]:
    return {
        "AlertDelivery": _object(
            level=_INT, change={"type": "string", "enum": ["raised", "resolved"]},
            channel={**_TEXT, "description": "webhook:NAME, email:NAME, push or push:USER"},
            state={"type": "string", "enum": ["pending", "delivered"]}, attempts=_INT, last_result=_NULLABLE_TEXT,
            delivered_at=_NULLABLE_EPOCH),
        "Alert": _object(
            id=_INT, kind=_ALERT_KIND, subject={**_TEXT, "description": "the device, or device/camera"},
            device_id=_TEXT, camera=_NULLABLE_TEXT, summary=_TEXT,
            detail={"type": "object", "additionalProperties": True, "description": "the figures behind it"},
            opened_at=_EPOCH, level={**_INT, "description": "the on-call level reached (from 1)"}, level_at=_EPOCH,
            acked_at=_NULLABLE_EPOCH, acked_by={**_NULLABLE_TEXT, "description": "a username, or `link`"},
            resolved_at=_NULLABLE_EPOCH),
        "ListedAlert": {"allOf": [_ref("Alert"),
                                  _object(["deliveries"], deliveries={"type": "array", "items": _ref("AlertDelivery")})]},
        "Acknowledged": _object(alert=_ref("Alert"),
                                acknowledged={"type": "boolean", "description": "false: acknowledged or resolved before"}),
    }


def _alert_paths() -> dict[str, Any]:
    html = {"text/html": {"schema": {"type": "string"}}}
    return {
        f"{API}/alerts": {"get": {
            "summary": "central alerts: open ones first, newest first (all=1: resolved ones too), with their notifications",
            "parameters": [{"name": "all", "in": "query", "schema": {"type": "integer", "enum": [0, 1], "default": 0}}],
            "responses": {**_ok(_object(alerts={"type": "array", "items": _ref("ListedAlert")}, open=_INT)),
                          **_errors(400, 401)}}},
        f"{API}/alerts/{{alert_id}}/ack": {"post": {
            "summary": "acknowledge an alert: its escalation stops (operator; audited)", "parameters": [_ALERT_ID, _CSRF],
            "responses": {**_ok(_ref("Acknowledged")), **_errors(400, 401, 403, 404)}}},
        f"{API}/alerts/ack": {
            "get": {"summary": "the acknowledge link of a notification: a page with an Acknowledge button (no login)",
                    "security": _PUBLIC,
                    "parameters": [{"name": "token", "in": "query", "required": True, "schema": _ACK_TOKEN}],
                    "responses": {"200": {"description": "the page", "content": html},
                                  "403": {"description": "a bad or expired token", "content": html},
                                  **_errors(400)}},
            "post": {"summary": "acknowledge with a notification's token (no login; audited as `link`): JSON, or the "
                                "link page's form (answered with a page)",
                     "security": _PUBLIC,
                     "requestBody": {"required": True, "content": {
                         **_json(_object(["token"], token=_ACK_TOKEN)),
                         "application/x-www-form-urlencoded": {"schema": _object(["token"], token=_ACK_TOKEN)}}},
                     "responses": {"200": {"description": "ok", "content": {**_json(_ref("Acknowledged")), **html}},
                                   "403": {"description": "a bad or expired token (a page for the link's form)",
                                           "content": {**_json(_ref("Error")), **html}},
                                   **_errors(400, 404, 415)}}},
        f"{API}/alerts/push/key": {"get": {
            "summary": "central's VAPID public key, for PushManager.subscribe()",
            "responses": {**_ok(_object(application_server_key=_TEXT)), **_errors(401)}}},
        f"{API}/alerts/push/subscriptions": {
            "post": {"summary": "subscribe this browser to alert pushes, for the session's user (the same endpoint "
                                "again replaces it)", "parameters": [_CSRF],
                     "requestBody": _body(_object(["endpoint", "keys"], endpoint=_PUSH_ENDPOINT,
                                                  expirationTime=_NULLABLE_EPOCH,
                                                  keys=_object(["p256dh", "auth"], p256dh=_PUSH_KEY, auth=_PUSH_KEY))),
                     "responses": {"201": {"description": "subscribed", "content": _json(_object(id=_INT))},
                                   **_errors(400, 401, 403, 415)}},
            "delete": {"summary": "unsubscribe one of the user's browsers, by endpoint", "parameters": [_CSRF],
                       "requestBody": _body(_object(["endpoint"], endpoint=_TEXT)),
                       "responses": {**_ok(_object(removed={"type": "boolean"})), **_errors(400, 401, 403, 415)}}},
    }


def _sso_paths() -> dict[str, Any]:
    text = {"type": "string", "maxLength": 1024}  # four of them stay within aiohttp's 8 KiB request line
    callback_params = [query(name, text, what) for name, what in (
        ("code", "the authorization code"), ("state", "the state of the sign-in the dashboard started"),
        ("error", "the provider's error code, when it refused"), ("error_description", "its explanation"))]
    redirect = {"description": "to the provider's sign-in page",
                "headers": {"Location": {"schema": {"type": "string"}, "description": "the authorization URL"}}}
    return {
        f"{API}/sso": {"get": {
            "summary": "whether single sign-on (OpenID Connect) is offered, its button, whether passwords work",
            "security": _PUBLIC, "responses": _ok(_ref("SsoInfo"))}},
        f"{API}/sso/login": {"get": {
            "summary": "start a single sign-on: 302 to the provider (authorization code, PKCE, state, nonce); sets "
                       "the sign-in's browser binding cookie",
            "security": _PUBLIC, "responses": {"302": redirect, **_errors(400, 404, 502)}}},
        f"{API}/sso/callback": {"get": {
            "summary": "the provider's answer: the ID token checked (signature, issuer, audience, expiry, nonce), the "
                       "user created or its role updated from the role claim, a session, 303 to the dashboard; "
                       "audited, refused or not",
            "security": _PUBLIC, "parameters": callback_params,
            "responses": {"303": {"description": "signed in: the vigia_dashboard_session cookie is set"},
                          **_errors(400, 401, 404, 409, 502),
                          "403": {"description": "no dashboard role for the account",
                                  "content": _json(_ref("Error"))}}}},
    }


def _totp_paths(session: dict) -> dict[str, Any]:
    """The second factor's routes (`vigia.central.dashboard.totp_routes`)."""
    code = {"type": "string", "description": "the 6-digit code of the authenticator app, or a recovery code",
            "anyOf": [{"pattern": CODE.pattern}, {"pattern": RECOVERY_CODE.pattern}]}
    return {
        f"{API}/login/totp": {"post": {
            "summary": "the second step of a login: the challenge POST login answered (202) and a TOTP code or a recovery "
                       "code; sets the session cookie (wrong codes count as failed logins)", "security": _PUBLIC,
            "requestBody": body(fields(["challenge", "code"], challenge={"type": "string", "pattern": TOKEN_PATTERN.pattern},
                                       code=code)),
            "responses": {**session, **_errors(400, 401, 415, 429)}}},
        f"{API}/me/totp": {"get": {"summary": "whether the user's logins ask for a TOTP code, and recovery codes left",
                                   "responses": {**_ok(_ref("TotpStatus")), **_errors(401)}}},
        f"{API}/me/totp/enrol": {"post": {
            "summary": "start a TOTP enrolment: a new secret as text, otpauth URI and QR code (SVG), shown only now",
            "parameters": [_CSRF], "responses": {**_ok(_ref("TotpEnrolment")), **_errors(401, 403, 409)}}},
        f"{API}/me/totp/confirm": {"post": {
            "summary": "turn the second factor on with a first code: the recovery codes, shown only now",
            "parameters": [_CSRF], "requestBody": body(fields(["code"], code={"type": "string", "pattern": CODE.pattern})),
            "responses": {**_ok(_ref("TotpEnabled")), **_errors(400, 401, 403, 415, 422)}}},
    }


_MODEL_ID = {"name": "model_id", "in": "path", "required": True, "description": "model id (name-sha256 prefix)",
             "schema": {"type": "string", "pattern": MODEL_ID.pattern}}
_ROLLOUT_ID = {"name": "rollout_id", "in": "path", "required": True, "schema": {"type": "string", "pattern": "^[0-9]{1,18}$"}}
_MODEL_STATE = {"type": "string", "enum": list(STATES)}
_ROLLOUT_STATE = {"type": "string", "enum": ["running", "paused", "done"]}
_ANY_OBJECT = {"type": "object", "additionalProperties": True}
_DEVICE_LIST = {"type": "array", "minItems": 1, "maxItems": MAX_DEVICES,
                "items": {"type": "string", "pattern": DEVICE_ID_PATTERN}}


def _model_schemas() -> dict[str, Any]:
    health = _object(per_hour={"type": "object", "additionalProperties": _NUMBER,
                               "description": "detections per hour per label"},
                     inference_ms={**_NUMBER, "nullable": True}, errors=_INT, seconds=_NUMBER, rollups=_INT)
    return {
        "Model": _object(
            id=_TEXT, name=_TEXT, sha256=_TEXT, size={**_INT, "description": "bytes"}, s3_key=_TEXT,
            input_shape={"type": "array", "items": _INT}, output_shape={"type": "array", "items": _INT},
            num_classes=_INT, class_names={"type": "array", "items": _TEXT},
            metrics={**_ANY_OBJECT, "description": "the evaluation: gate {passed, reasons, settings}, base and candidate "
                                                   "{heldout, regression} {map50, recall, recall_per_class, images, objects}"},
            lineage={**_ANY_OBJECT, "description": "base model, dataset version, hyper-parameters, seed, training time"},
            state=_MODEL_STATE, signed={"type": "boolean", "description": "signed with central's model-signing key"},
            gate_rejected={"type": "boolean", "description": "the evaluation gate rejected it: approving needs override"}),
        "ListedModel": {"allOf": [_ref("Model"), _object(latest_rollout={**_object(id=_INT, state=_ROLLOUT_STATE),
                                                                         "nullable": True})]},
        "ModelAudit": _object(id=_INT, at=_EPOCH, rollout_id={**_INT, "nullable": True}, device_id=_NULLABLE_TEXT,
                              action=_TEXT, actor=_TEXT, detail=_ANY_OBJECT),
        "RolloutSummary": _object(id=_INT, state=_ROLLOUT_STATE, stage=_INT, reason=_NULLABLE_TEXT, created_by=_TEXT,
                                  created_at=_EPOCH, finished_at=_NULLABLE_EPOCH),
        "ModelHealth": health,
        "RolloutDevice": _object(
            device_id=_TEXT, stage={**_INT, "description": "0: the canaries, then the waves"},
            state={"type": "string", "enum": ["waiting", "installing", "watching", "updated", "refused", "rolled_back"],
                   "description": "pending, downloading, installed (watched), healthy, refused, rolled back"},
            reason=_NULLABLE_TEXT, health={**_nullable_ref("ModelHealth"), "description": "under the new model"},
            baseline={**_nullable_ref("ModelHealth"), "description": "under the old model, before the install"},
            updated_at=_EPOCH),
        "Rollout": _object(
            id=_INT, model_id=_TEXT, state=_ROLLOUT_STATE, stage=_INT, reason=_NULLABLE_TEXT, created_by=_TEXT,
            created_at=_EPOCH, finished_at=_NULLABLE_EPOCH,
            plan={**_ANY_OBJECT, "description": "stages (device ids, canaries first) and the health thresholds"},
            devices={"type": "array", "items": _ref("RolloutDevice")},
            audit={"type": "array", "items": _ref("ModelAudit")}),
    }


def _model_paths() -> dict[str, Any]:
    rollout = {**_ok(_ref("Rollout"))}
    return {
        f"{API}/models": {"get": {
            "summary": "every model in the registry, newest first; can_sign: this dashboard may approve",
            "responses": {**_ok(_object(models={"type": "array", "items": _ref("ListedModel")},
                                        can_sign={"type": "boolean"})), **_errors(400, 401)}}},
        f"{API}/models/{{model_id}}": {"get": {
            "summary": "one model, its rollouts and its audit trail (newest first)", "parameters": [_MODEL_ID],
            "responses": {**_ok(_object(model=_ref("Model"),
                                        rollouts={"type": "array", "items": _ref("RolloutSummary")},
                                        audit={"type": "array", "items": _ref("ModelAudit")})),
                          **_errors(400, 401, 404)}}},
        f"{API}/models/{{model_id}}/approve": {"post": {
            "summary": "sign a candidate with central's model-signing key (admin; audited); one the gate rejected "
                       "needs override", "parameters": [_MODEL_ID, _CSRF],
            "requestBody": {"required": False, "content": _json(fields(override={"type": "boolean"}))},
            "responses": {**_ok(_ref("Model")), **_errors(400, 401, 403, 404, 409, 415, 503)}}},
        f"{API}/models/{{model_id}}/retire": {"post": {
            "summary": "offer the model no more (admin; audited)", "parameters": [_MODEL_ID, _CSRF],
            "responses": {**_ok(_ref("Model")), **_errors(400, 401, 403, 404, 409)}}},
        f"{API}/models/{{model_id}}/rollouts": {"post": {
            "summary": "roll an approved model out (admin; audited): to devices or a site's devices; canaries by name "
                       "or percentage first, then waves of wave_size", "parameters": [_MODEL_ID, _CSRF],
            "requestBody": body(fields(devices=_DEVICE_LIST, site=_SITE, canaries=_DEVICE_LIST,
                                       canary_percent={"type": "number", "minimum": 0, "maximum": 100},
                                       wave_size={"type": "integer", "minimum": 1, "maximum": MAX_DEVICES})),
            "responses": {"201": {"description": "started", "content": _json(_ref("Rollout"))},
                          **_errors(400, 401, 403, 404, 409, 415, 422)}}},
        f"{API}/rollouts/{{rollout_id}}": {"get": {
            "summary": "a rollout: per device its stage, state, baseline and health; its audit trail",
            "parameters": [_ROLLOUT_ID], "responses": {**rollout, **_errors(400, 401, 404)}}},
        **{f"{API}/rollouts/{{rollout_id}}/{action}": {"post": {
            "summary": text, "parameters": [_ROLLOUT_ID, _CSRF],
            "responses": {**rollout, **_errors(400, 401, 403, 404, 409)}}}
           for action, text in (("pause", "pause a running rollout: no later stage starts (admin; audited)"),
                                ("resume", "run a paused rollout again (admin; audited)"))},
    }


def _authorize_paths() -> dict[str, Any]:
    """The app's OAuth2 sign-in page (authorization code with PKCE S256: vigia.central.dashboard.authorize_routes)."""
    html = {"text/html": {"schema": {"type": "string"}}}
    text = {"type": "string", "maxLength": 2048}
    short = {"type": "string", "maxLength": 512}
    args = {"response_type": {"type": "string", "enum": ["code"]},
            "client_id": {"type": "string", "enum": ["vigia-mobile"], "description": "a registered public client"},
            "redirect_uri": {"type": "string", "enum": ["vigia.app://auth"],
                             "description": "one of the client's; the app's web build: http://127.0.0.1:PORT/auth"},
            "code_challenge": {"type": "string", "pattern": "^[A-Za-z0-9._~-]{43,128}$",
                               "description": "BASE64URL(SHA-256(code_verifier))"},
            "code_challenge_method": {"type": "string", "enum": ["S256"]}, "state": short, "scope": short}
    answers = {"200": {"description": "the page: the login form, or Allow/Deny when signed in", "content": html},
               "302": {"description": "back to the app: with the code and state, or an OAuth2 error"},
               "400": {"description": "a client or redirect URI not registered, or bad fields (no redirect)",
                       "content": {**html, **_json(_ref("Error"))}}}
    form = _object(list(args)[:5], **args, username=text, password=text, csrf_token=text,
                   decision={"type": "string", "enum": ["allow", "deny"]})
    return {f"{PREFIX}/oauth/authorize": {
        "get": {"summary": "the app's sign-in page (OAuth2 authorization endpoint)", "security": _PUBLIC,
                "parameters": [{"name": name, "in": "query", "required": name in list(args)[:5], "schema": schema}
                               for name, schema in args.items()],
                "responses": answers},
        "post": {"summary": "sign in (username, password) or answer (decision, csrf_token): the code goes to the app",
                 "security": _PUBLIC,
                 "requestBody": {"required": True, "content": {"application/x-www-form-urlencoded": {"schema": form}}},
                 "responses": {**answers, "401": {"description": "wrong username or password", "content": html},
                               "429": {"description": "too many failed logins", "content": html},
                               **_errors(403, 415)}}}}


def openapi_document() -> dict[str, Any]:
    """A fresh copy of the document (callers may change it)."""
    session = {"200": {"description": "ok", "content": _json(_ref("Session"))}}
    return {
        "openapi": "3.0.3",
        "info": {"title": "Vigia fleet dashboard API", "version": "1",
                 "description": f"Central's dashboard. Log in with POST {API}/login; the session is the "
                                "vigia_dashboard_session cookie. State-changing requests carry X-CSRF-Token. "
                                "Roles: viewer < operator < admin."},
        "components": {
            "securitySchemes": {"session": {"type": "apiKey", "in": "cookie", "name": "vigia_dashboard_session"}},
            "schemas": {**_schemas(), **_hard_example_schemas(), **_model_schemas()},
        },
        "security": [{"session": []}],
        "paths": {
            f"{API}/login": {"post": {
                "summary": "log in: sets the vigia_dashboard_session cookie (HttpOnly, Secure, SameSite=Strict)",
                "security": _PUBLIC,
                "requestBody": body(fields(["username", "password"], username=LOGIN_USERNAME, password=LOGIN_PASSWORD)),
                "responses": {**session, "202": {"description": "password right, the user has a second factor: no session "
                                                               "yet, send a code with the challenge",
                                                "content": _json(_ref("LoginChallenge"))},
                              **_errors(400, 401, 415, 429),
                              "403": {"description": "password login is turned off (single sign-on only)",
                                      "content": _json(_ref("Error"))}}}},
            **_sso_paths(),
            **_totp_paths(session),
            f"{API}/logout": {"post": {
                "summary": "end the session", "parameters": [_CSRF],
                "responses": {"200": {"description": "logged out", "content": _json(_object(logged_out={"type": "boolean"}))},
                              **_errors(401, 403)}}},
            f"{API}/me": {"get": {"summary": "the session's user, role and CSRF token",
                                  "responses": {**session, **_errors(401)}}},
            f"{API}/devices": {"get": {
                "summary": "every device: online, last seen, its cameras' health, site",
                "responses": {"200": {"description": "ok", "content": _json(_object(
                    devices={"type": "array", "items": _ref("Device")}, online_minutes={"type": "number"}))},
                    **_errors(400, 401)}}},
            f"{API}/devices/{{device_id}}": {"get": {
                "summary": "one device: its state, metrics roll-ups of the last days, cameras' layouts, commands sent",
                "parameters": [_DEVICE_ID, _days(7, 31)],
                "responses": {**_ok(_ref("DeviceDetail")), **_errors(400, 401, 404)}}},
            f"{API}/devices/{{device_id}}/site": {"put": {
                "summary": "put the device in a site (operator)", "parameters": [_DEVICE_ID, _CSRF],
                "requestBody": body(fields(["site"], site=_SITE)),
                "responses": {"200": {"description": "saved", "content": _json(_object(
                    device_id={"type": "string"}, site={"type": "string"}))}, **_errors(400, 401, 403, 404, 415)}}},
            f"{API}/events": {"get": {
                "summary": "events across devices, newest first, 50 a page; next page: page = next_page",
                "parameters": [
                    *(query(name, TEXT_FILTER) for name in _FILTER_TEXTS), _SINCE, _UNTIL, _PAGE],
                "responses": {"200": {"description": "a page", "content": _json(_object(
                    events={"type": "array", "items": _ref("FleetEvent")},
                    next_page={"type": "integer", "nullable": True}))}, **_errors(400, 401)}}},
            f"{API}/events/{{device_id}}/{{event_id}}/thumbnail": {"get": {
                "summary": "the event's thumbnail (JPEG) from the media bucket", "parameters": [_DEVICE_ID, _EVENT_ID],
                "responses": {"200": {"description": "JPEG", "content": {"image/jpeg": {}}}, **_errors(400, 401, 404)}}},
            f"{API}/events/{{device_id}}/{{event_id}}/clip": {"get": {
                "summary": "a presigned link that GETs the event's clip (MP4) from the media bucket for a few minutes",
                "parameters": [_DEVICE_ID, _EVENT_ID],
                "responses": {**_ok(_object(url=_TEXT, expires_at=_EPOCH, size={**_INT, "description": "bytes"})),
                              **_errors(400, 401, 404)}}},
            **_reanalysis_paths(),
            **_hard_example_paths(),
            **_alert_paths(),
            **_model_paths(),
            **_authorize_paths(),
            f"{API}/counts": {"get": {
                "summary": "events and alerts per device (and its site) per UTC day, today and the days - 1 before",
                "parameters": [{"name": "days", "in": "query",
                                "schema": {"type": "integer", "minimum": 1, "maximum": 366, "default": 7}}],
                "responses": {"200": {"description": "ok", "content": _json(_object(
                    days={"type": "integer"}, counts={"type": "array", "items": _ref("DayCount")}))},
                    **_errors(400, 401)}}},
            f"{API}/users": {
                "get": {"summary": "the dashboard's accounts (admin)",
                        "responses": {"200": {"description": "ok", "content": _json(_object(
                            users={"type": "array", "items": _ref("User")}))}, **_errors(401, 403)}},
                "post": {"summary": "create an account (admin)", "parameters": [_CSRF],
                         "requestBody": body(fields(["username", "password", "role"], username=USERNAME_SCHEMA,
                                                    password=NEW_PASSWORD, role=ROLE)),
                         "responses": {"201": {"description": "created", "content": _json(_object(
                             username={"type": "string"}, role=ROLE))}, **_errors(400, 401, 403, 409, 415)}}},
            f"{API}/live": {"get": {
                "summary": "WebSocket (same-origin pages only): JSON LiveMessages, hello first, then events as batches "
                           "are ingested and devices as they change; the client sends nothing",
                "responses": {"101": {"description": "switching protocols", "content": _json(_ref("LiveMessage"))},
                              "400": {"description": "not a WebSocket handshake", "content": _json(_ref("Error"))},
                              **_errors(401, 403)}}},
            f"{API}/openapi.json": {"get": {"summary": "this document",
                                            "responses": {"200": {"description": "ok"}, **_errors(401)}}},
            PREFIX: {"get": {"summary": f"a redirect to {PREFIX}/", "security": _PUBLIC,
                             "responses": {"302": {"description": f"to {PREFIX}/"}}}},
            f"{PREFIX}/{{path}}": {"get": {
                "summary": "the front end's files (no login: they are the login page); any other path: index.html",
                "security": _PUBLIC,
                "parameters": [{"name": "path", "in": "path", "required": True, "schema": {"type": "string"}}],
                "responses": {"200": {"description": "a file, or index.html"},
                              "503": {"description": "the front end is not built"}}}},
        },
    }


def add_routes(app: web.Application) -> None:
    app.router.add_get(f"{API}/openapi.json", serve_openapi, allow_head=False)


async def serve_openapi(_request: web.Request) -> web.Response:
    """GET /dashboard/api/v1/openapi.json (any role: the session middleware checks the login)."""
    return web.json_response(openapi_document())
