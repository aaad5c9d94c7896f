"""The OpenAPI description of the app's routes (vigia.central.api.alert_routes) and of the users' sign-in flow
(authorization code with PKCE), merged into the external API's document by `openapi.document`."""
from __future__ import annotations

from vigia.central.api import alert_routes
from vigia.central.api.common import API_PREFIX, MAX_PAGE, PAGE
from vigia.central.api.user_tokens import USER_SCOPES

_NUMBER_OR_NULL = {"type": ["number", "null"]}
_STRING_OR_NULL = {"type": ["string", "null"]}

SCHEMAS = {
    "Alert": {"type": "object", "required": ["id", "kind", "subject", "device_id", "camera", "summary", "detail", "opened_at",
                                             "level", "level_at", "acked_at", "acked_by", "resolved_at"],
              "properties": {
                  "id": {"type": "integer"},
                  "kind": {"type": "string", "enum": ["device_offline", "camera_offline", "backlog", "disk_low",
                                                      "false_alarms"]},
                  "subject": {"type": "string"}, "device_id": {"type": "string"}, "camera": _STRING_OR_NULL,
                  "summary": {"type": "string"}, "detail": {"type": "object", "additionalProperties": True},
                  "opened_at": {"type": "number"}, "level": {"type": "integer"}, "level_at": {"type": "number"},
                  "acked_at": _NUMBER_OR_NULL, "acked_by": _STRING_OR_NULL, "resolved_at": _NUMBER_OR_NULL}},
    "Comment": {"type": "object", "required": ["id", "username", "body", "at"], "properties": {
        "id": {"type": "integer"}, "username": {"type": "string"}, "body": {"type": "string"}, "at": {"type": "number"}}},
    "AuditEntry": {"type": "object", "required": ["action", "actor", "via", "at", "detail"], "properties": {
        "action": {"type": "string", "enum": ["opened", "escalated", "acknowledged", "resolved"]},
        "actor": {"type": "string"}, "via": {"type": "string"}, "at": {"type": "number"},
        "detail": {"type": "object", "additionalProperties": True}}},
    "Me": {"type": "object", "required": ["username", "role", "scopes"], "properties": {
        "username": {"type": "string"}, "role": {"type": "string", "enum": ["viewer", "operator", "admin"]},
        "scopes": {"type": "array", "items": {"type": "string", "enum": list(USER_SCOPES)}}}},
    "Acknowledged": {"type": "object", "required": ["alert", "acknowledged"], "properties": {
        "alert": {"$ref": "#/components/schemas/Alert"},
        "acknowledged": {"type": "boolean", "description": "false: acknowledged or resolved already"}}},
    "PushToken": {"type": "object", "required": ["token"], "additionalProperties": False, "properties": {
        "token": {"type": "string", "pattern": alert_routes.EXPO_TOKEN.pattern, "description": "an Expo push token"}}},
    "PushTokenState": {"type": "object", "required": ["token", "registered"], "properties": {
        "token": {"type": "string"}, "registered": {"type": "boolean"}, "removed": {"type": "boolean"}}},
    "NewComment": {"type": "object", "required": ["body"], "additionalProperties": False, "properties": {
        "body": {"type": "string", "minLength": 1, "maxLength": alert_routes.MAX_COMMENT}}},
}


def _ref(name: str) -> dict:
    return {"$ref": f"#/components/schemas/{name}"}


def _ok(description: str, schema: dict, status: str = "200") -> dict:
    return {status: {"description": description, "content": {"application/json": {"schema": schema}}}}


def _json_body(name: str) -> dict:
    return {"required": True, "content": {"application/json": {"schema": _ref(name)}}}


def paths(errors: dict, error: callable) -> dict:
    """The app's operations, with the API's common errors."""
    alert_id = [{"name": "alert_id", "in": "path", "required": True, "schema": {"type": "integer", "minimum": 0}}]
    missing = {"404": error("no such alert")}
    user = "needs a user's token (the app's sign-in), not a client's"
    return {
        API_PREFIX + alert_routes.ME_PATH: {"get": {
            "summary": f"who the token is of ({user})", "operationId": "getMe", "security": [{"oauth2": []}],
            "responses": {**_ok("the user", _ref("Me")), **errors}}},
        API_PREFIX + alert_routes.ALERTS_PATH: {"get": {
            "summary": "central's alerts, open first, newest first", "operationId": "listAlerts",
            "security": [{"oauth2": ["alerts:read"]}], "parameters": [
                {"name": "state", "in": "query", "required": False,
                 "schema": {"type": "string", "enum": ["open", "all"], "default": "open"}},
                {"name": "limit", "in": "query", "required": False,
                 "schema": {"type": "integer", "minimum": 1, "maximum": MAX_PAGE, "default": PAGE}}],
            "responses": {**_ok("the alerts", {"type": "object", "required": ["items"], "properties": {
                "items": {"type": "array", "items": _ref("Alert")}}}), **errors}}},
        API_PREFIX + alert_routes.ALERT_PATH: {"get": {
            "summary": "one alert, with its comments and audit trail", "operationId": "getAlert",
            "security": [{"oauth2": ["alerts:read"]}], "parameters": alert_id,
            "responses": {**_ok("the alert", {"allOf": [_ref("Alert"), {"type": "object", "required": ["comments", "audit"],
                                                                        "properties": {
                "comments": {"type": "array", "items": _ref("Comment")},
                "audit": {"type": "array", "items": _ref("AuditEntry")}}}]}), **errors, **missing}}},
        API_PREFIX + alert_routes.ACK_PATH: {"post": {
            "summary": f"acknowledge: escalation stops, every view shows it ({user})", "operationId": "acknowledgeAlert",
            "security": [{"oauth2": ["alerts:write"]}], "parameters": alert_id,
            "responses": {**_ok("the alert", _ref("Acknowledged")), **errors, **missing}}},
        API_PREFIX + alert_routes.COMMENTS_PATH: {"post": {
            "summary": f"comment on the alert ({user})", "operationId": "commentAlert",
            "security": [{"oauth2": ["alerts:write"]}], "parameters": alert_id, "requestBody": _json_body("NewComment"),
            "responses": {**_ok("the comment", _ref("Comment"), "201"), **errors, **missing}}},
        API_PREFIX + alert_routes.PUSH_TOKENS_PATH: {
            "put": {"summary": f"this phone's Expo push token, for the user's alerts ({user})",
                    "operationId": "registerPushToken", "security": [{"oauth2": []}], "requestBody": _json_body("PushToken"),
                    "responses": {**_ok("registered", _ref("PushTokenState")), **errors}},
            "delete": {"summary": "no more pushes to this phone", "operationId": "removePushToken",
                       "security": [{"oauth2": []}], "requestBody": _json_body("PushToken"),
                       "responses": {**_ok("removed", _ref("PushTokenState")), **errors}}},
    }


def authorization_code_flow(authorize_url: str, token_url: str, revoke_url: str) -> dict:
    return {"authorizationUrl": authorize_url, "tokenUrl": token_url, "refreshUrl": token_url,
            "scopes": {s: s.replace(":", " ") for s in USER_SCOPES},
            "x-pkce": "required, S256", "x-revocationUrl": revoke_url}
