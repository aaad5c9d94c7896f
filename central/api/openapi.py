"""The REST API's OpenAPI 3.1 document, made from the route table (`rest.LISTS`) and the GraphQL types' fields,
served at /api/v1/openapi.json (public: it holds no data)."""
from __future__ import annotations

import typing

from aiohttp import web

from vigia.central.api import graphql_api, oauth, openapi_app, rest
from vigia.central.api.clients import SCOPES
from vigia.central.api.common import API_PREFIX, MAX_PAGE, PAGE
from vigia.central.api.queries import VERDICTS

PATH = f"{API_PREFIX}/openapi.json"
AUTHORIZE_PATH = "/dashboard/oauth/authorize"     # the dashboard's page (vigia.central.dashboard.authorize_routes)

_PARAMETERS = {
    "device": ({"type": "string", "minLength": 1, "maxLength": 64}, "a device id"),
    "site": ({"type": "string", "minLength": 1, "maxLength": 64}, "a site (within the client's sites)"),
    "camera": ({"type": "string", "minLength": 1, "maxLength": 64}, "a camera name"),
    "label": ({"type": "string", "minLength": 1, "maxLength": 64}, "an object class (person, car...)"),
    "since": ({"type": "string"}, "from this time on (inclusive): epoch seconds or ISO 8601 with an offset"),
    "until": ({"type": "string"}, "before this time (exclusive): epoch seconds or ISO 8601 with an offset"),
    "alert": ({"type": "boolean"}, "alerts only (true) or no alerts (false)"),
    "verdict": ({"type": "string", "enum": list(VERDICTS)}, "central's re-analysis verdict"),
    "cursor": ({"type": "string", "maxLength": 400}, "next_cursor of the page before"),
    "limit": ({"type": "integer", "minimum": 1, "maximum": MAX_PAGE, "default": PAGE}, "items a page"),
}
_JSON_TYPES = {str: "string", int: "integer", float: "number", bool: "boolean"}


def _schema_of(kind: type) -> dict:
    """A GraphQL type's plain fields as a JSON schema (the REST items carry the same columns)."""
    hints = typing.get_type_hints(kind, globalns=vars(graphql_api), include_extras=False)
    properties = {}
    for name in kind.__annotations__:  # the plain fields (resolvers are methods)
        hint = hints[name]
        args = [a for a in typing.get_args(hint) if a is not type(None)]
        base = args[0] if args else hint
        json_type = _JSON_TYPES.get(base)
        schema = {"type": [json_type, "null"] if type(None) in typing.get_args(hint) else json_type} if json_type else {}
        properties[name] = schema
    return {"type": "object", "properties": properties, "required": list(properties)}


def _error(description: str) -> dict:
    return {"description": description, "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}}}


_ERRORS = {"400": _error("bad input, named"), "401": _error("no token, or unknown, expired or revoked"),
           "403": _error("the token lacks the scope"), "429": _error("the client's rate limit (see Retry-After)")}


def _list_operation(route: rest.ListRoute) -> dict:
    parameters = [{"name": name, "in": "query", "required": False, "schema": _PARAMETERS[name][0],
                   "description": _PARAMETERS[name][1]} for name in (*route.filters, "cursor", "limit")]
    page = {"type": "object", "required": ["items", "next_cursor"], "properties": {
        "items": {"type": "array", "items": {"$ref": f"#/components/schemas/{route.item}"}},
        "next_cursor": {"type": ["string", "null"], "description": "give it back as cursor for the next page"}}}
    return {"get": {"summary": route.summary, "operationId": f"list{route.item}s", "security": [{"oauth2": [route.scope]}],
                    "parameters": parameters,
                    "responses": {"200": {"description": "a page", "content": {"application/json": {"schema": page}}},
                                  **_ERRORS}}}


def document() -> dict:
    ids = [{"name": "device_id", "in": "path", "required": True, "schema": {"type": "string"}},
           {"name": "event_id", "in": "path", "required": True, "schema": {"type": "string", "pattern": "^[0-9A-Z]{26}$"}}]
    kinds = {"Device": graphql_api.Device, "Camera": graphql_api.Camera, "Event": graphql_api.Event,
             "Track": graphql_api.Track, "Verdict": graphql_api.Verdict, "Clip": graphql_api.Clip}
    schemas = {name: _schema_of(kind) for name, kind in kinds.items()}
    schemas.update(openapi_app.SCHEMAS)
    schemas["Error"] = {"type": "object", "required": ["error"], "properties": {"error": {"type": "string"}}}
    event = {"allOf": [{"$ref": "#/components/schemas/Event"}, {"type": "object", "properties": {
        "verdicts": {"type": "array", "items": {"$ref": "#/components/schemas/Verdict"},
                     "description": "only with the verdicts:read scope"}}}]}
    paths = {API_PREFIX + route.path: _list_operation(route) for route in rest.LISTS}
    paths[API_PREFIX + rest.EVENT_PATH] = {"get": {
        "summary": "one event, with central's verdicts on it", "operationId": "getEvent",
        "security": [{"oauth2": ["events:read"]}], "parameters": ids, "responses": {
            "200": {"description": "the event", "content": {"application/json": {"schema": event}}},
            **_ERRORS, "404": _error("no such event in the client's sites")}}}
    paths[API_PREFIX + rest.CLIP_PATH] = {"get": {
        "summary": f"a presigned link to the event's clip, valid {rest.CLIP_LINK_S} s", "operationId": "getClip",
        "security": [{"oauth2": ["clips:read"]}], "parameters": ids, "responses": {
            "200": {"description": "the link",
                    "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Clip"}}}},
            **_ERRORS, "404": _error("no such event, or no clip of it in the bucket")}}}
    paths[API_PREFIX + rest.THUMBNAIL_PATH] = {"get": {
        "summary": f"a presigned link to the event's thumbnail (JPEG), valid {rest.CLIP_LINK_S} s",
        "operationId": "getThumbnail", "security": [{"oauth2": ["events:read"]}], "parameters": ids, "responses": {
            "200": {"description": "the link",
                    "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Clip"}}}},
            **_ERRORS, "404": _error("no such event, or no thumbnail of it in the bucket")}}}
    paths.update(openapi_app.paths(_ERRORS, _error))
    return {
        "openapi": "3.1.0",
        "info": {"title": "Vigia central external API", "version": "1",
                 "description": "Read-only access for third-party systems (client credentials); GraphQL over the same data"
                                " at /graphql. The Vigia app signs users in (authorization code with PKCE, on the"
                                " dashboard's page) and acts on central's alerts."},
        "paths": paths,
        "components": {"schemas": schemas, "securitySchemes": {"oauth2": {"type": "oauth2", "flows": {
            "clientCredentials": {"tokenUrl": oauth.TOKEN_PATH, "scopes": {s: f"read {s.split(':')[0]}" for s in SCOPES}},
            "authorizationCode": openapi_app.authorization_code_flow(AUTHORIZE_PATH, oauth.TOKEN_PATH, oauth.REVOKE_PATH)}}}},
    }


def openapi_document() -> dict:
    """The document, as `npm run api-types` reads it (the app's types: mobile/src/api/schema.ts)."""
    return document()


def add_routes(app: web.Application) -> None:
    body = document()

    async def serve_document(request: web.Request) -> web.Response:
        return web.json_response(body)

    app.router.add_get(PATH, serve_document, allow_head=False)
