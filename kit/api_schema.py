"""JSON Schema fragments (OpenAPI 3.0) built from the constants the servers validate with, so that the guards' and
the dashboard's documents say exactly what the servers enforce: patterns, lengths, ranges and required fields.
"""
from __future__ import annotations

from vigia.kit.http import EPOCH_PARAM, TEXT_PARAM, ULID
from vigia.kit.passwords import MAX_PASSWORD, MIN_PASSWORD, USERNAME

USERNAME_SCHEMA = {"type": "string", "pattern": USERNAME.pattern, "maxLength": 64,
                   "description": "1 to 64 letters, digits and _ . @ - (starting with a letter or digit)"}
NEW_PASSWORD = {"type": "string", "minLength": MIN_PASSWORD, "maxLength": MAX_PASSWORD}
LOGIN_USERNAME = {"type": "string", "minLength": 1, "maxLength": 64}
LOGIN_PASSWORD = {"type": "string", "minLength": 1, "maxLength": MAX_PASSWORD}
EVENT_ID = {"type": "string", "pattern": ULID.pattern, "description": "event id (ULID)"}
TEXT_FILTER = {"type": "string", "pattern": TEXT_PARAM.pattern, "description": "1 to 64 characters, no control characters"}
TIME_FILTER = {"anyOf": [{"type": "string", "pattern": EPOCH_PARAM.pattern}, {"type": "string", "format": "date-time"}],
               "description": "epoch seconds or ISO 8601 with its UTC offset"}


def body(schema: dict) -> dict:
    """A required JSON request body."""
    return {"required": True, "content": {"application/json": {"schema": schema}}}


def fields(required: list[str] | None = None, **properties: dict) -> dict:
    """A request body's object: these fields only (the servers refuse others, naming them)."""
    schema: dict = {"type": "object", "properties": properties, "additionalProperties": False}
    if required:
        schema["required"] = required
    return schema


def query(name: str, schema: dict, description: str | None = None) -> dict:
    param = {"name": name, "in": "query", "schema": {key: value for key, value in schema.items() if key != "description"}}
    if description or "description" in schema:
        param["description"] = description or schema["description"]
    return param
