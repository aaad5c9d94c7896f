"""OAuth2 client credentials (RFC 6749 §4.4) with authlib: the token endpoint, token revocation (RFC 7009) and the
bearer check of every other call. The token endpoint and revocation also serve users' sign-ins (the app's
authorization code with PKCE, refresh tokens: `oauth_user`); a bearer token is a client's or a user's.

authlib's server is synchronous and framework-neutral; the client is read from PostgreSQL before it runs
and the token it issues (or revokes) is written after, so it never blocks the event loop. It does the rest:
client authentication (HTTP Basic or form), grant type and scope checks, RFC 6749 error answers.
"""
from __future__ import annotations

import base64
import binascii
import hmac
import secrets
from dataclasses import dataclass
from urllib.parse import unquote

from aiohttp import web
from authlib.oauth2 import AuthorizationServer
from authlib.oauth2.rfc6749 import ClientCredentialsGrant, OAuth2Request
from authlib.oauth2.rfc6749.requests import BasicOAuth2Payload
from authlib.oauth2.rfc6750 import BearerTokenGenerator
from authlib.oauth2.rfc7009 import RevocationEndpoint

from vigia.central.api import clients, oauth_user, user_tokens
from vigia.central.api.audit import CLIENT_ID
from vigia.central.api.clients import Client, Principal
from vigia.kit.http import ApiError

TOKEN_PATH = "/oauth/token"
REVOKE_PATH = "/oauth/revoke"
MAX_FORM = 4096


class OAuthClient:
    """authlib's view of a client (ClientMixin): confidential, client credentials only."""

    def __init__(self, client: Client):
        self.client = client

    def get_client_id(self) -> str:
        return self.client.client_id

    def get_default_redirect_uri(self) -> None:
        return None

    def get_allowed_scope(self, scope: str | None) -> str | None:
        """What was asked and is allowed (all it may have when nothing was asked); None: nothing (invalid_scope)."""
        allowed = set(self.client.scopes)
        wanted = allowed if not scope else set(scope.split()) & allowed
        return " ".join(sorted(wanted)) or None

    def check_redirect_uri(self, redirect_uri: str) -> bool:
        return False

    def check_client_secret(self, client_secret: str) -> bool:
        return hmac.compare_digest(clients.sha256(client_secret), self.client.secret_sha256)

    def check_endpoint_auth_method(self, method: str, endpoint: str) -> bool:
        return method in ("client_secret_basic", "client_secret_post")

    def check_response_type(self, response_type: str) -> bool:
        return False

    def check_grant_type(self, grant_type: str) -> bool:
        return grant_type == "client_credentials"


class FormRequest(OAuth2Request):
    """An aiohttp request's form, as authlib reads it."""

    def __init__(self, uri: str, headers, form: dict[str, str]):
        super().__init__("POST", uri, headers=headers)
        self.payload = BasicOAuth2Payload(form)
        self._form = form

    @property
    def form(self) -> dict[str, str]:
        return self._form

    @property
    def args(self) -> dict[str, str]:
        return {}


class _ClientCredentials(ClientCredentialsGrant):
    TOKEN_ENDPOINT_AUTH_METHODS = ["client_secret_basic", "client_secret_post"]


@dataclass
class _Revocation:
    """A token a client asked to revoke; revoked afterwards, only if it is that client's."""

    token: str

    def check_client(self, client) -> bool:
        return True


class _Revoke(RevocationEndpoint):
    CLIENT_AUTH_METHODS = ["client_secret_basic", "client_secret_post"]

    def query_token(self, token_string, token_type_hint):
        return _Revocation(token_string)

    def revoke_token(self, token, request):
        self.server.revoked.append(token.token)


class _Exchange(AuthorizationServer):
    """One request's authorization server: knows the one client it may be about, collects what to store."""

    def __init__(self, client: Client | None):
        super().__init__(scopes_supported=list(clients.SCOPES))
        self.client = client
        self.issued: list[dict] = []     # tokens to store
        self.revoked: list[str] = []     # tokens to revoke
        self.register_grant(_ClientCredentials)
        self.register_endpoint(_Revoke)
        self.register_token_generator("default", BearerTokenGenerator(
            lambda **_: secrets.token_urlsafe(32), expires_generator=clients.TOKEN_LIFETIME_S))

    def query_client(self, client_id):
        if self.client is None or client_id != self.client.client_id:
            return None
        return OAuthClient(self.client)

    def save_token(self, token, request):
        self.issued.append(token)

    def send_signal(self, name, *args, **kwargs):
        pass

    def create_oauth2_request(self, request):
        return request

    def handle_response(self, status, body, headers):
        kept = {name: value for name, value in headers if name.lower() != "content-type"}  # no-store, WWW-Authenticate
        return web.json_response(body, status=status, headers=kept)


async def _form_request(request: web.Request) -> FormRequest:
    if request.content_type != "application/x-www-form-urlencoded":
        raise ApiError(415, "send the form as application/x-www-form-urlencoded")
    if (request.content_length or 0) > MAX_FORM:
        raise ApiError(413, "form too large")
    form = await request.post()
    if any(len(form.getall(name)) > 1 for name in form):
        raise ApiError(400, "a form field is given more than once")
    uri = f"{request.headers.get('X-Forwarded-Proto', request.scheme)}://{request.host}{request.path}"
    return FormRequest(uri, request.headers, {k: v for k, v in form.items() if isinstance(v, str)})


def _client_id(request: FormRequest) -> str | None:
    """The client id a request names: HTTP Basic (URL-encoded, RFC 6749 §2.3.1) or the form's client_id."""
    auth = request.headers.get("Authorization", "")
    if auth[:6].lower() == "basic ":
        try:
            return unquote(base64.b64decode(auth[6:], validate=True).decode().split(":", 1)[0])
        except (binascii.Error, UnicodeDecodeError):
            return None
    return request.form.get("client_id")


async def _exchange(request: web.Request, pool, form: FormRequest) -> tuple[_Exchange, FormRequest]:
    client_id = _client_id(form)
    client = None
    if client_id and clients.CLIENT_ID.fullmatch(client_id):
        async with pool.connection() as conn:
            client = await clients.find_client(conn, client_id)
    if client is not None:
        request[CLIENT_ID] = client.client_id
    return _Exchange(client), form


async def token(request: web.Request, pool) -> web.Response:
    """POST /oauth/token (grant_type=client_credentials): a bearer token of the client's scopes (or fewer);
    authorization_code or refresh_token: a user's (`user_token`)."""
    form = await _form_request(request)
    if form.form.get("grant_type") in ("authorization_code", "refresh_token"):
        return await user_token(request, pool, form)
    exchange, form = await _exchange(request, pool, form)
    response = exchange.create_token_response(form)
    for issued in exchange.issued:
        async with pool.connection() as conn:
            await clients.save_token(conn, issued["access_token"], exchange.client.client_id,
                                     issued["scope"].split(), issued["expires_in"])
    return response


async def revoke(request: web.Request, pool) -> web.Response:
    """POST /oauth/revoke (token=...): the client's own token no longer works (RFC 7009); a public client's
    (the app's logout): the whole sign-in the token is of."""
    form = await _form_request(request)
    async with pool.connection() as conn:
        public = await _public_client(conn, form)
    if public is not None:
        return await _revoke_user(request, pool, public, form)
    exchange, form = await _exchange(request, pool, form)
    response = exchange.create_endpoint_response(_Revoke.ENDPOINT_NAME, form)
    for revoked in exchange.revoked:
        async with pool.connection() as conn:
            await clients.revoke_token(conn, revoked, exchange.client.client_id)
    return response


async def _public_client(conn, form: FormRequest) -> user_tokens.PublicClient | None:
    """The public client a request names (no Authorization header: public clients have no secret)."""
    client_id = oauth_user.public_client_id(form.form)
    if client_id is None or "Authorization" in form.headers:
        return None
    return await user_tokens.find_public_client(conn, client_id)


async def user_token(request: web.Request, pool, form: FormRequest) -> web.Response:
    """A user's tokens: for an authorization code and its PKCE verifier, or for a refresh token (rotated)."""
    code = refresh = None
    role_scopes = user_tokens.USER_SCOPES
    async with pool.connection() as conn:
        public = await _public_client(conn, form)
        if public is not None:
            request[CLIENT_ID] = public.client_id
            if form.form.get("grant_type") == "authorization_code" and form.form.get("code"):
                code = await user_tokens.take_code(conn, form.form["code"])
                role = code and await user_tokens.user_role(conn, code.username)
                role_scopes = user_tokens.role_scopes(role) if role else ()
            elif form.form.get("refresh_token"):
                refresh = await user_tokens.find_refresh(conn, form.form["refresh_token"])
                role = refresh and await user_tokens.user_role(conn, refresh.username)
                role_scopes = user_tokens.role_scopes(role) if role else ()
    exchange = oauth_user.UserExchange(public, role_scopes, code, refresh)
    response = exchange.create_token_response(form)
    for issued in exchange.issued:
        async with pool.connection() as conn:
            await user_tokens.save_tokens(conn, issued.token, issued.grant_id, public.client_id, issued.username,
                                          form.form.get("refresh_token") if refresh is not None else None)
    return response


async def _revoke_user(request: web.Request, pool, public: user_tokens.PublicClient, form: FormRequest) -> web.Response:
    request[CLIENT_ID] = public.client_id
    exchange = oauth_user.UserExchange(public)
    response = exchange.create_endpoint_response(oauth_user.UserExchange.REVOKE, form)
    for revoked in exchange.revoked:
        async with pool.connection() as conn:
            await user_tokens.revoke_grant(conn, revoked, public.client_id)
    return response


async def authenticate(request: web.Request, pool) -> Principal:
    """The caller of an API call, from its bearer token (401 when missing, unknown, expired or revoked)."""
    auth = request.headers.get("Authorization", "")
    if auth[:7].lower() != "bearer " or not 20 <= len(auth) - 7 <= 200:
        raise ApiError(401, "send an access token: Authorization: Bearer <token> (POST /oauth/token)",
                       {"WWW-Authenticate": 'Bearer realm="vigia"'})
    async with pool.connection() as conn:
        token = auth[7:].strip()
        principal = await clients.principal_for(conn, token) or await user_tokens.principal_for(conn, token)
    if principal is None:
        raise ApiError(401, "the access token is unknown, expired or revoked",
                       {"WWW-Authenticate": 'Bearer realm="vigia", error="invalid_token"'})
    return principal


def require_scope(principal: Principal, scope: str) -> None:
    """403 unless the token carries `scope`."""
    if not principal.allows(scope):
        raise ApiError(403, f"this needs the {scope} scope",
                       {"WWW-Authenticate": f'Bearer realm="vigia", error="insufficient_scope", scope="{scope}"'})
