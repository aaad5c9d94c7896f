"""What both web servers (the guards' API, central's dashboard) share: errors, request parsing, sessions, headers.

Request helpers raise `ApiError`, which `error_middleware` answers as `{"error": message}` with the status:
bad input is a 400 naming what is wrong, never a 500.
"""
from __future__ import annotations

import asyncio
import hmac
import logging
import math
import re
from collections.abc import Awaitable, Callable
from datetime import datetime
from typing import Protocol, TypeVar

from aiohttp import web

from vigia.kit.passwords import MAX_PASSWORD, Roles

CSRF_HEADER = "X-CSRF-Token"
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS", "TRACE"})
KEPT_HEADERS = ("Allow", "Retry-After")  # what an aiohttp error's answer keeps of its headers
ULID = re.compile(r"^[0-9A-Z]{26}$")  # an id in a path (events' ids): looked up, never part of a file name


class ApiError(Exception):
    """An error answer: status, message for the client, extra headers."""

    def __init__(self, status: int, message: str, headers: dict[str, str] | None = None):
        super().__init__(message)
        self.status = status
        self.message = message
        self.headers = headers or {}


class HasRole(Protocol):
    role: str


class HasCsrf(Protocol):
    csrf_token: str


S = TypeVar("S", bound=HasCsrf)
R = TypeVar("R", bound=HasRole)


def json_error(status: int, message: str, headers: dict[str, str] | None = None) -> web.Response:
    return web.json_response({"error": message}, status=status, headers=headers)


# -- middleware -------------------------------------------------------------------------------


def error_middleware(log: logging.Logger, where_logged: str):
    """Every error as JSON `{"error": ...}`; an unexpected one is logged to `log` and answered 500 without
    details, pointing to `where_logged` ("the appliance log")."""
    @web.middleware
    async def errors(request: web.Request, handler) -> web.StreamResponse:
        try:
            return await handler(request)
        except ApiError as exc:
            return json_error(exc.status, exc.message, exc.headers)
        except web.HTTPException as exc:
            if exc.status < 400:
                raise
            return json_error(exc.status, exc.reason, {k: v for k, v in exc.headers.items() if k in KEPT_HEADERS})
        except (asyncio.CancelledError, ConnectionResetError):
            raise
        except Exception:
            log.exception("%s %s failed", request.method, request.rel_url.path)
            return json_error(500, f"internal error (see {where_logged})")
    return errors


def session_middleware(key: web.RequestKey[S], is_public: Callable[[web.Request], bool],
                       find_session: Callable[[web.Request], Awaitable[S | None]]):
    """Session (401) and CSRF token (403) for every request but the public ones; the session is put in
    `request[key]`. `find_session` may refuse a request itself by raising ApiError."""
    @web.middleware
    async def authenticate(request: web.Request, handler) -> web.StreamResponse:
        if is_public(request):
            return await handler(request)
        session = await find_session(request)
        if session is None:
            raise ApiError(401, "login required")
        check_csrf(request, session.csrf_token)
        request[key] = session
        return await handler(request)
    return authenticate


def route_of(request: web.Request) -> tuple[str, str | None]:
    """(method, the matched route's canonical path); None when no route matched (404, 405)."""
    resource = request.match_info.route.resource
    return request.method, resource.canonical if resource is not None else None


def check_csrf(request: web.Request, csrf_token: str) -> None:
    """A state-changing request must carry the session's token in X-CSRF-Token (403 otherwise)."""
    if request.method not in SAFE_METHODS:
        sent = request.headers.get(CSRF_HEADER, "")
        if not hmac.compare_digest(sent.encode("utf-8", "replace"), csrf_token.encode()):
            raise ApiError(403, f"missing or wrong {CSRF_HEADER} header")


def require_role(roles: Roles, session: R, needed: str) -> R:
    """`session` if its role may do what `needed` may; 403 otherwise."""
    if not roles.allows(session.role, needed):
        raise ApiError(403, f"this needs the {needed} role")
    return session


def security_headers(api_prefix: str):
    """An on_response_prepare hook: no sniffing, no framing, no referrer, nothing loaded by an API
    answer (pages set their own Content-Security-Policy first), API answers never cached."""
    async def add(request: web.Request, response: web.StreamResponse) -> None:
        headers = response.headers
        headers.setdefault("X-Content-Type-Options", "nosniff")
        headers.setdefault("X-Frame-Options", "DENY")
        headers.setdefault("Referrer-Policy", "no-referrer")
        headers.setdefault("Content-Security-Policy", "default-src 'none'; frame-ancestors 'none'")
        if request.path.startswith(api_prefix):
            headers.setdefault("Cache-Control", "no-store")
    return add


def set_session_cookie(response: web.StreamResponse, name: str, token: str, max_age: float, path: str) -> None:
    """The session cookie: HttpOnly (no script reads it), Secure, SameSite=Strict (no cross-site request sends it)."""
    response.set_cookie(name, token, max_age=int(max_age), path=path, secure=True, httponly=True, samesite="Strict")


def clear_session_cookie(response: web.StreamResponse, name: str, path: str) -> None:
    response.del_cookie(name, path=path, secure=True, httponly=True, samesite="Strict")


# -- request parsing --------------------------------------------------------------------------


async def json_body(request: web.Request, *, required: bool) -> dict:
    if not request.can_read_body:
        if required:
            raise ApiError(400, "a JSON object body is required")
        return {}
    if request.content_type != "application/json":
        raise ApiError(415, "send the body as application/json")
    try:
        body = await request.json()
    except ValueError:  # JSONDecodeError, UnicodeDecodeError
        raise ApiError(400, "the body is not valid JSON") from None
    if not isinstance(body, dict):
        raise ApiError(400, "the body must be a JSON object")
    return body


async def login_credentials(request: web.Request) -> tuple[str, str]:
    """A login's JSON body, {"username", "password"}: both non-empty strings of bounded length (400 otherwise)."""
    body = await json_body(request, required=True)
    only_fields(body, {"username", "password"}, "field")
    username, password = body.get("username"), body.get("password")
    if not isinstance(username, str) or not isinstance(password, str) or not username or not password:
        raise ApiError(400, "give username and password, both strings")
    if len(username) > 64 or len(password) > MAX_PASSWORD:
        raise ApiError(400, "username or password too long")
    return username, password


def only_fields(mapping, allowed: set[str], what: str) -> None:
    unknown = sorted(set(mapping) - allowed)
    if unknown:
        raise ApiError(400, f"unknown {what} {', '.join(map(repr, unknown))} (known: {', '.join(sorted(allowed))})")


def query_params(request: web.Request, allowed: set[str]) -> dict[str, str]:
    query = request.query
    only_fields(query, allowed, "query parameter")
    for name in query:
        if len(query.getall(name)) > 1:
            raise ApiError(400, f"query parameter {name!r} given more than once")
    return dict(query)


def int_param(query: dict[str, str], name: str, default: int | None, low: int, high: int) -> int | None:
    text = query.get(name)
    if text is None:
        return default
    if not re.fullmatch(r"\d{1,16}", text) or not low <= int(text) <= high:
        raise ApiError(400, f"{name} must be a whole number from {low} to {high}")
    return int(text)


def time_param(query: dict[str, str], name: str) -> float | None:
    """Epoch seconds, or ISO 8601 with a UTC offset."""
    text = query.get(name)
    if text is None:
        return None
    try:
        value = float(text)
    except ValueError:
        try:
            when = datetime.fromisoformat(text)
        except ValueError:
            raise ApiError(400, f"{name} must be epoch seconds or ISO 8601 with an offset (2026-11-25T14:30:00+01:00)") from None
        if when.tzinfo is None:
            raise ApiError(400, f"{name}: give the UTC offset (2026-11-25T14:30:00Z or +01:00)") from None
        value = when.timestamp()
    if not math.isfinite(value):
        raise ApiError(400, f"{name} must be a finite number")
    return value


TEXT_PARAM = re.compile(r"^[^\x00-\x1f\x7f]{1,64}$")  # a text filter: what text_param accepts
EPOCH_PARAM = re.compile(r"^-?[0-9]{1,12}(\.[0-9]{1,6})?$")  # epoch seconds as time_param reads them


def text_param(query: dict[str, str], name: str) -> str | None:
    text = query.get(name)
    if text is not None and not 1 <= len(text) <= 64:
        raise ApiError(400, f"{name} must be 1 to 64 characters")
    if text is not None and any(ord(c) < 32 or ord(c) == 127 for c in text):
        raise ApiError(400, f"{name} must not hold control characters")  # NUL: PostgreSQL refuses it in text
    return text
