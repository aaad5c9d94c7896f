"""OAuth2 for people (the mobile app) with authlib: authorization code with PKCE (S256 only, required), refresh
tokens rotated on use, revocation (RFC 7009) of a whole sign-in. The client is public (no secret); the user signs in
on the dashboard's authorization page (vigia.central.dashboard.authorize_routes), which calls `authorize`.

As in `oauth`, authlib runs synchronously on what was read from PostgreSQL before it, and what it issues is
written after.
"""
from __future__ import annotations

import secrets
import uuid
from dataclasses import dataclass, field

from aiohttp import web
from authlib.oauth2 import AuthorizationServer, OAuth2Error
from authlib.oauth2.rfc6749 import AuthorizationCodeGrant, OAuth2Request, RefreshTokenGrant
from authlib.oauth2.rfc6749.errors import InvalidRequestError
from authlib.oauth2.rfc6749.requests import BasicOAuth2Payload
from authlib.oauth2.rfc6750 import BearerTokenGenerator
from authlib.oauth2.rfc7009 import RevocationEndpoint
from authlib.oauth2.rfc7636 import CodeChallenge

from vigia.central.api import user_tokens
from vigia.central.api.clients import CLIENT_ID
from vigia.central.api.user_tokens import Code, PublicClient, Refresh


class OAuthPublicClient:
    """authlib's view of a public client: no secret, code (with PKCE) and refresh grants, its redirect URIs."""

    def __init__(self, client: PublicClient, role_scopes: tuple[str, ...] = user_tokens.USER_SCOPES):
        self.client, self.role_scopes = client, role_scopes

    def get_client_id(self) -> str:
        return self.client.client_id

    def get_default_redirect_uri(self) -> None:
        return None     # the app must name its redirect URI

    def get_allowed_scope(self, scope: str | None) -> str:
        allowed = set(self.role_scopes)
        wanted = allowed if not scope else set(scope.split()) & allowed
        return " ".join(sorted(wanted))

    def check_redirect_uri(self, redirect_uri: str) -> bool:
        return self.client.allows_redirect(redirect_uri)

    def check_client_secret(self, client_secret: str) -> bool:
        return False

    def check_endpoint_auth_method(self, method: str, endpoint: str) -> bool:
        return method == "none"

    def check_response_type(self, response_type: str) -> bool:
        return response_type == "code"

    def check_grant_type(self, grant_type: str) -> bool:
        return grant_type in ("authorization_code", "refresh_token")


class _S256Only(CodeChallenge):
    """PKCE required at the authorization request, S256 only (RFC 9700 §2.1.1)."""

    SUPPORTED_CODE_CHALLENGE_METHOD = ["S256"]

    def validate_code_challenge(self, grant, redirect_uri):
        data = grant.request.payload.data
        if not data.get("code_challenge") or data.get("code_challenge_method") != "S256":
            raise InvalidRequestError("PKCE is required: code_challenge with code_challenge_method=S256")
        super().validate_code_challenge(grant, redirect_uri)


class _CodeGrant(AuthorizationCodeGrant):
    TOKEN_ENDPOINT_AUTH_METHODS = ["none"]

    def save_authorization_code(self, code, request):
        data = request.payload.data
        self.server.codes.append((code, Code(request.client.get_client_id(), request.user, request.payload.redirect_uri,
                                             request.scope or "", data["code_challenge"], data["code_challenge_method"])))

    def query_authorization_code(self, code, client):
        found = self.server.code
        return found if found is not None and found.client_id == client.get_client_id() else None

    def delete_authorization_code(self, authorization_code):
        pass            # already deleted as it was read (user_tokens.take_code)

    def authenticate_user(self, authorization_code):
        self.server.grant = (uuid.uuid4(), authorization_code.username)
        return authorization_code.username


class _RefreshGrant(RefreshTokenGrant):
    TOKEN_ENDPOINT_AUTH_METHODS = ["none"]
    INCLUDE_NEW_REFRESH_TOKEN = True

    def authenticate_refresh_token(self, refresh_token):
        return self.server.refresh

    def authenticate_user(self, refresh_token: Refresh):
        self.server.grant = (refresh_token.grant_id, refresh_token.username)
        return refresh_token.username

    def revoke_old_credential(self, refresh_token):
        pass            # user_tokens.save_tokens(replaces=...) does it with the new pair


@dataclass
class _Revocation:
    token: str

    def check_client(self, client) -> bool:
        return True     # revoke_grant matches the client


class _Revoke(RevocationEndpoint):
    CLIENT_AUTH_METHODS = ["none"]

    def query_token(self, token_string, token_type_hint):
        return _Revocation(token_string)

    def revoke_token(self, token, request):
        self.server.revoked.append(token.token)


@dataclass
class Issued:
    token: dict
    grant_id: uuid.UUID
    username: str


class UserExchange(AuthorizationServer):
    """One request's authorization server for a public client, with the code or refresh token read before."""

    REVOKE = _Revoke.ENDPOINT_NAME

    def __init__(self, client: PublicClient | None, role_scopes: tuple[str, ...] = user_tokens.USER_SCOPES,
                 code: Code | None = None, refresh: Refresh | None = None):
        super().__init__(scopes_supported=list(user_tokens.USER_SCOPES))
        self.client, self.role_scopes, self.code, self.refresh = client, role_scopes, code, refresh
        self.codes: list[tuple[str, Code]] = []
        self.issued: list[Issued] = []
        self.revoked: list[str] = []
        self.grant: tuple[uuid.UUID, str] | None = None
        self.register_grant(_CodeGrant, [_S256Only(required=True)])
        self.register_grant(_RefreshGrant)
        self.register_endpoint(_Revoke)
        self.register_token_generator("default", BearerTokenGenerator(
            lambda **_: secrets.token_urlsafe(32), lambda **_: secrets.token_urlsafe(32),
            expires_generator=user_tokens.ACCESS_LIFETIME_S))

    def query_client(self, client_id):
        if self.client is None or client_id != self.client.client_id:
            return None
        return OAuthPublicClient(self.client, self.role_scopes)

    def save_token(self, token, request):
        grant_id, username = self.grant
        self.issued.append(Issued(dict(token), grant_id, username))

    def send_signal(self, name, *args, **kwargs):
        pass

    def create_oauth2_request(self, request):
        return request

    def handle_response(self, status, body, headers):
        kept = {name: value for name, value in headers if name.lower() != "content-type"}
        if status == 302:
            return web.Response(status=302, headers=kept)
        return web.json_response(body, status=status, headers=kept)


class QueryRequest(OAuth2Request):
    """An authorization request's query (or the form that repeats it), as authlib reads it."""

    def __init__(self, uri: str, args: dict[str, str]):
        super().__init__("GET", uri)
        self.payload = BasicOAuth2Payload(args)
        self._args = args

    @property
    def args(self) -> dict[str, str]:
        return self._args

    @property
    def form(self) -> dict[str, str]:
        return {}


def public_client_id(args: dict[str, str]) -> str | None:
    client_id = args.get("client_id")
    return client_id if client_id and CLIENT_ID.fullmatch(client_id) else None


@dataclass
class Authorization:
    """An authorization request checked: the client's name and the scopes to grant, or the error to show (one
    that must not go back to an unchecked redirect URI) or to redirect with."""

    client_name: str = ""
    scope: str = ""
    error: str | None = None
    response: web.Response | None = None
    code: tuple[str, Code] | None = field(default=None, repr=False)


def authorize(client: PublicClient | None, role: str | None, uri: str, args: dict[str, str],
              username: str | None) -> Authorization:
    """Check an authorization request; with `username` (the signed-in user who allowed it), issue the code: the
    response redirects to the app with it, and `code` is what to store."""
    scopes = user_tokens.role_scopes(role) if role else user_tokens.USER_SCOPES
    server = UserExchange(client, scopes)
    request = QueryRequest(uri, args)
    try:
        grant = server.get_consent_grant(request, None)
    except OAuth2Error as exc:
        if exc.redirect_uri:    # the client and its redirect URI are right: the app hears of it
            return Authorization(response=server.handle_error_response(request, exc))
        return Authorization(error=f"{exc.error}: {exc.description or ''}".strip(": "))
    scope = grant.client.get_allowed_scope(args.get("scope"))
    if username is None:
        return Authorization(client.name, scope)
    request.scope = scope
    response = server.create_authorization_response(request, username, grant)
    return Authorization(client.name, scope, response=response, code=server.codes[0] if server.codes else None)

