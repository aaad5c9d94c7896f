"""Single sign-on routes (OpenID Connect, `vigia.central.dashboard.sso`); none needs a session.

    GET /dashboard/api/v1/sso            whether sign-on is offered, the button's text, whether passwords still work
    GET /dashboard/api/v1/sso/login      302 to the provider; sets the browser binding cookie of this sign-in
    GET /dashboard/api/v1/sso/callback   the provider's answer: a session and 303 to the dashboard, or an error

Every sign-in, refused or not, is a row of `access_audit` (`sso_login`, `sso_refused`) with the client's address;
a user created or whose role changed says so in its details.
"""
from __future__ import annotations

import logging

import psycopg
from aiohttp import web

from vigia.central.dashboard import accounts, sso_store
from vigia.central.dashboard.common import API_PREFIX, COOKIE, DASHBOARD, PREFIX
from vigia.central.dashboard.sso import SsoError
from vigia.central.privacy.access import record_access
from vigia.kit.http import ApiError, query_params, set_session_cookie
from vigia.kit.passwords import AccountError, new_token

log = logging.getLogger(__name__)

SSO = f"{API_PREFIX}/sso"
BINDING_COOKIE = "vigia_dashboard_sso"   # ties a callback to the browser that started the sign-in
PUBLIC = frozenset({("GET", SSO), ("GET", f"{SSO}/login"), ("GET", f"{SSO}/callback")})
MAX_PARAM = 1024


def add_routes(app: web.Application) -> None:
    app.router.add_get(SSO, info, allow_head=False)
    app.router.add_get(f"{SSO}/login", start, allow_head=False)
    app.router.add_get(f"{SSO}/callback", callback, allow_head=False)


async def info(request: web.Request) -> web.Response:
    settings = request.app[DASHBOARD].settings.sso
    return web.json_response({"enabled": settings is not None, "button": settings.button if settings else None,
                              "password_login": settings is None or settings.password_login})


def _party(request: web.Request):
    party = request.app[DASHBOARD].sso
    if party is None:
        raise ApiError(404, "single sign-on is not configured here")
    return party


async def start(request: web.Request) -> web.Response:
    """Answers by raising its redirect (aiohttp's way for a 302)."""
    query_params(request, set())
    party = _party(request)
    try:
        begun = await party.start()
    except SsoError as exc:
        log.warning("single sign-on cannot start: %s", exc)
        raise ApiError(502, str(exc)) from None
    binding = new_token()
    async with request.app[DASHBOARD].pool.connection() as conn:
        await sso_store.remember(conn, begun.state, begun.nonce, begun.verifier, binding)
    response = web.HTTPFound(begun.url)
    # Lax, not Strict: the provider's redirect back is a cross-site navigation, which must carry it.
    response.set_cookie(BINDING_COOKIE, binding, max_age=int(sso_store.PENDING_TTL.total_seconds()), path=f"{SSO}/callback",
                        secure=True, httponly=True, samesite="Lax")
    raise response


async def callback(request: web.Request) -> web.Response:
    """Answers by raising its 303 to the dashboard, or an ApiError."""
    dashboard = request.app[DASHBOARD]
    party = _party(request)
    # What the provider adds besides (iss, session_state, ...) is left alone; a parameter given twice is refused.
    if any(len(request.query.getall(name)) > 1 for name in request.query) or \
            any(len(value) > MAX_PARAM for value in request.query.values()):
        raise ApiError(400, "a parameter is given twice or is too long")
    query = {name: _printable(request.query[name]) for name in ("code", "state", "error", "error_description")
             if name in request.query}
    remote = request.remote
    state = query.get("state")
    if not state:
        await _refused(request, "-", "no state")
        raise ApiError(400, "no state: start the sign-in again")
    async with dashboard.pool.connection() as conn:
        pending = await sso_store.take(conn, state)
    if pending is None:
        await _refused(request, "-", "unknown or expired state")
        raise ApiError(400, "unknown or expired sign-in (state): start it again")
    binding = request.cookies.get(BINDING_COOKIE)
    if not binding or accounts.token_hash(binding) != pending.binding_hash:
        await _refused(request, "-", "state of another browser")
        raise ApiError(400, "this sign-in was started in another browser: start it again")
    if "error" in query:
        await _refused(request, "-", f"provider: {query['error']}")
        raise ApiError(401, f"the provider refused the sign-in: {query.get('error_description') or query['error']}")
    if not query.get("code"):
        await _refused(request, "-", "no code")
        raise ApiError(400, "no authorization code")
    try:
        claims = await party.finish(query["code"], pending.verifier, pending.nonce)
    except SsoError as exc:
        await _refused(request, "-", str(exc))
        raise ApiError(401, str(exc)) from None
    settings = dashboard.settings.sso
    subject, username = str(claims["sub"]), claims.get(settings.username_claim)
    role = settings.role_for(claims)
    if role is None:
        await _refused(request, str(username), f"no role: {settings.role_claim} maps to none", subject)
        raise ApiError(403, f"your account has no dashboard role (its {settings.role_claim} map to none)")
    try:
        async with dashboard.pool.connection() as conn:
            user = await sso_store.sign_in(conn, settings.issuer, subject, username, role)
            # the provider's own second factor stands for a TOTP one: its users are never asked to enrol here
            outcome = await accounts.start_session(conn, user.username, user.role, dashboard.settings.sessions)
    except (AccountError, sso_store.NameTaken) as exc:
        await _refused(request, str(username), str(exc), subject)
        raise ApiError(409 if isinstance(exc, sso_store.NameTaken) else 400, str(exc)) from None
    except psycopg.errors.UniqueViolation:  # the same identity signing in twice at once: one made it
        raise ApiError(409, "sign-in in progress elsewhere: try again") from None
    await record_access(dashboard.pool, user.username, "sso_login", "dashboard", remote,
                        {"issuer": settings.issuer, "subject": subject, "role": user.role, "created": user.created,
                         "previous_role": user.previous_role})
    log.info("%s signed in to the dashboard from %s (single sign-on, %s%s)", user.username, remote, user.role,
             ", new user" if user.created else "")
    response = web.HTTPSeeOther(f"{PREFIX}/")
    set_session_cookie(response, COOKIE, outcome.token, dashboard.settings.sessions.max_age, PREFIX)
    response.del_cookie(BINDING_COOKIE, path=f"{SSO}/callback", secure=True, httponly=True, samesite="Lax")
    raise response


async def _refused(request: web.Request, username: str, reason: str, subject: str | None = None) -> None:
    log.warning("single sign-on refused from %s: %s", request.remote, reason)
    await record_access(request.app[DASHBOARD].pool, _printable(username), "sso_refused", "dashboard", request.remote,
                        {"reason": _printable(reason), **({"subject": _printable(subject)} if subject else {})})


def _printable(text: str) -> str:
    """Text from the browser or the provider as the audit and the log may hold it (PostgreSQL refuses NUL)."""
    return "".join(c if c.isprintable() else "?" for c in text)[:MAX_PARAM]
