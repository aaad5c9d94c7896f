"""The OAuth2 authorization page of the app's sign-in (authorization code with PKCE: vigia.central.api.oauth_user),
on the dashboard, so that it reuses the dashboard's users, logins (lockout, throttling) and session:

    GET  /dashboard/oauth/authorize?response_type=code&client_id=...&redirect_uri=...&code_challenge=...
         &code_challenge_method=S256&state=...&scope=...
         signed in: "Allow APP for USER?"; else the login form
    POST /dashboard/oauth/authorize   (form) username and password (a login: the session starts, the code is issued),
         or decision=allow|deny with the session's CSRF token (the signed-in user's answer)

Both are public routes: the page checks the session itself, and the CSRF token comes as a form field (a form post
cannot set X-CSRF-Token). A request with a client or redirect URI that is not registered gets an error page, never a
redirect.
"""
from __future__ import annotations

import hmac
import html
import logging
import re
import secrets
from urllib.parse import urlsplit

from aiohttp import web
from authlib.common.urls import add_params_to_uri

from vigia.central.api import oauth_user, user_tokens
from vigia.central.dashboard import accounts
from vigia.central.dashboard.common import COOKIE, DASHBOARD, PREFIX
from vigia.kit.http import ApiError, set_session_cookie

log = logging.getLogger(__name__)

PATH = f"{PREFIX}/oauth/authorize"
PUBLIC = frozenset({("GET", PATH), ("POST", PATH)})
OWN_FIELDS = ("username", "password", "csrf_token", "decision")
MAX_FIELD = 2048
CSP_SOURCE = re.compile(r"^[a-z][a-z0-9.+-]*:(//[A-Za-z0-9.\-\[\]:]+)?$")


def add_routes(app: web.Application) -> None:
    app.router.add_get(PATH, page, allow_head=False)
    app.router.add_post(PATH, answer)


def _args(source, own: bool) -> dict[str, str]:
    args = {}
    for name in source:
        values = source.getall(name)
        if len(values) > 1 or not isinstance(values[0], str) or len(values[0]) > MAX_FIELD:
            raise ApiError(400, f"{name}: give it once, as text of at most {MAX_FIELD} characters")
        if own or name not in OWN_FIELDS:
            args[name] = values[0]
    return args


async def _context(request: web.Request, args: dict[str, str]):
    dashboard = request.app[DASHBOARD]
    client_id = oauth_user.public_client_id(args)
    async with dashboard.pool.connection() as conn:
        client = await user_tokens.find_public_client(conn, client_id) if client_id else None
        session = await accounts.session_for(conn, request.cookies.get(COOKIE), dashboard.settings.sessions)
    return client, session


def _uri(request: web.Request) -> str:
    return f"{request.scheme}://{request.host}{PATH}"


async def page(request: web.Request) -> web.Response:
    args = _args(request.query, own=False)
    client, session = await _context(request, args)
    checked = oauth_user.authorize(client, session.role if session else None, _uri(request), args, None)
    if checked.response is not None:
        return checked.response
    if checked.error is not None:
        return _page(400, "Sign-in refused", f"<p role='alert'>{html.escape(checked.error)}</p>", args)
    return _form(checked, args, session)


async def answer(request: web.Request) -> web.Response:
    if request.content_type != "application/x-www-form-urlencoded":
        raise ApiError(415, "send the form as application/x-www-form-urlencoded")
    posted = await request.post()
    fields = _args(posted, own=True)
    args = {k: v for k, v in fields.items() if k not in OWN_FIELDS}
    client, session = await _context(request, args)
    dashboard = request.app[DASHBOARD]
    token = None
    if "username" in fields or "password" in fields:
        username, password = fields.get("username", ""), fields.get("password", "")
        if not username or not password or len(username) > 64:
            return _form(oauth_user.authorize(client, None, _uri(request), args, None), args, None,
                         "Give your username and password.", 401)
        async with dashboard.login_slots, dashboard.pool.connection() as conn:
            outcome = await accounts.login(conn, username, password, remote=request.remote,
                                           logins=dashboard.settings.logins, sessions=dashboard.settings.sessions,
                                           replaces=request.cookies.get(COOKIE))
        if outcome.status != "ok":
            log.info("failed app sign-in from %s (%s)", request.remote, outcome.status)
            message = "Wrong username or password." if outcome.status == "invalid" else "Too many failed logins: try later."
            return _form(oauth_user.authorize(client, None, _uri(request), args, None), args, None, message,
                         401 if outcome.status == "invalid" else 429)
        session, token = outcome.session, outcome.token
    elif session is None or not hmac.compare_digest(fields.get("csrf_token", "").encode(), session.csrf_token.encode()):
        raise ApiError(403, "your dashboard session ended or the form is stale: open the sign-in again")
    elif fields.get("decision") != "allow":
        checked = oauth_user.authorize(client, session.role, _uri(request), args, None)
        if checked.error is not None:
            return _page(400, "Sign-in refused", f"<p role='alert'>{html.escape(checked.error)}</p>", args)
        params = [("error", "access_denied")] + ([("state", args["state"])] if "state" in args else [])
        return web.Response(status=302, headers={"Location": add_params_to_uri(args["redirect_uri"], params)})
    checked = oauth_user.authorize(client, session.role, _uri(request), args, session.username)
    if checked.error is not None:
        return _page(400, "Sign-in refused", f"<p role='alert'>{html.escape(checked.error)}</p>", args)
    if checked.code is not None:
        async with dashboard.pool.connection() as conn:
            await user_tokens.save_code(conn, *checked.code)
        log.info("%s signed in to %s (%s)", session.username, client.client_id, checked.scope)
    response = checked.response
    if token is not None:
        set_session_cookie(response, COOKIE, token, dashboard.settings.sessions.max_age, PREFIX)
    return response


def _form(checked: oauth_user.Authorization, args: dict[str, str], session, message: str = "",
          status: int = 200) -> web.Response:
    if checked.response is not None:
        return checked.response
    if checked.error is not None:
        return _page(400, "Sign-in refused", f"<p role='alert'>{html.escape(checked.error)}</p>", args)
    hidden = "".join(f"<input type='hidden' name='{html.escape(k)}' value='{html.escape(v)}'>" for k, v in args.items())
    app = html.escape(checked.client_name)
    scopes = html.escape(checked.scope.replace(" ", ", "))
    alert = f"<p role='alert'>{html.escape(message)}</p>" if message else ""
    if session is not None:
        body = (f"<p>Allow <b>{app}</b> to act as <b>{html.escape(session.username)}</b> ({scopes})?</p>"
                f"<form method='post'>{hidden}<input type='hidden' name='csrf_token' "
                f"value='{html.escape(session.csrf_token)}'><button name='decision' value='allow'>Allow</button>"
                f"<button name='decision' value='deny'>Deny</button></form>")
    else:
        body = (f"{alert}<p>Sign in to Vigia central to use <b>{app}</b> ({scopes}).</p><form method='post'>{hidden}"
                "<label>Username <input name='username' autocomplete='username' required></label>"
                "<label>Password <input name='password' type='password' autocomplete='current-password' required>"
                "</label><button>Sign in</button></form>")
    return _page(status, "Sign in", body, args)


def _page(status: int, title: str, body: str, args: dict[str, str]) -> web.Response:
    nonce = secrets.token_urlsafe(16)
    try:
        redirect = urlsplit(args.get("redirect_uri", ""))
    except ValueError:
        redirect = urlsplit("")
    target = f"{redirect.scheme}://{redirect.netloc}" if redirect.scheme in ("http", "https") else f"{redirect.scheme}:"
    allowed = redirect.scheme not in ("", "javascript", "data", "blob") and CSP_SOURCE.fullmatch(target)
    targets = f" {target}" if allowed else ""      # the form's answer redirects to the app
    policy = (f"default-src 'none'; style-src 'nonce-{nonce}'; form-action 'self'{targets}; base-uri 'none'; "
              "frame-ancestors 'none'")
    text = (f"<!doctype html><html><head><meta charset='utf-8'><meta name='viewport' content='width=device-width'>"
            f"<title>Vigia: {title}</title><style nonce='{nonce}'>body{{font:18px system-ui;max-width:28em;margin:2em auto;"
            "padding:0 1em}}label,input,button{{display:block;width:100%;box-sizing:border-box;margin:.5em 0;"
            "min-height:48px;font-size:18px}}@media (prefers-color-scheme:dark){{body{{background:#111;color:#eee}}}}"
            f"</style></head><body><h1>{title}</h1>{body}</body></html>")
    return web.Response(status=status, text=text, content_type="text/html",
                        headers={"Content-Security-Policy": policy, "Cache-Control": "no-store"})
