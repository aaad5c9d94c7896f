"""The dashboard as an OpenID Connect relying party: the authorization code flow with PKCE (S256), state and nonce.

authlib builds the authorization request (its grant URI and PKCE challenge) and the token request; joserfc (authlib's
JOSE library) checks the ID token: its signature against the provider's JWKS (fetched again once when a key id is
unknown: the provider rotated its keys), then issuer, audience (and `azp` when there are several), expiry, issue time
and the nonce of this login. The provider's endpoints come from its discovery document, whose issuer must be the one
configured.
"""
from __future__ import annotations

import secrets
import time
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote

import aiohttp
from authlib.oauth2.rfc6749.parameters import prepare_grant_uri, prepare_token_request
from authlib.oauth2.rfc7636 import create_s256_code_challenge
from joserfc import jwt
from joserfc.errors import JoseError
from joserfc.jwk import KeySet

from vigia.central.dashboard.sso_config import SsoSettings

ALGORITHMS = ("RS256", "RS384", "RS512", "PS256", "PS384", "PS512", "ES256", "ES384", "ES512", "EdDSA")
LEEWAY_S = 60          # clock difference allowed with the provider on exp and iat
TIMEOUT = aiohttp.ClientTimeout(total=15)


class SsoError(Exception):
    """A sign-in refused; the message says why (shown, and audited)."""


@dataclass(frozen=True)
class ProviderEndpoints:
    authorization_endpoint: str
    token_endpoint: str
    jwks_uri: str


@dataclass(frozen=True)
class LoginStart:
    """What one sign-in keeps until its callback (its state, nonce and PKCE verifier) and where the browser goes."""
    state: str
    nonce: str
    verifier: str
    url: str


def validate_id_token(id_token: str, keys: KeySet, *, issuer: str, client_id: str, nonce: str,
                      now: float | None = None) -> dict[str, Any]:
    """The ID token's claims if its signature and claims hold; SsoError naming what failed otherwise."""
    try:
        token = jwt.decode(id_token, keys, algorithms=list(ALGORITHMS))
        jwt.JWTClaimsRegistry(
            now=int(now if now is not None else time.time()), leeway=LEEWAY_S,
            iss={"essential": True, "value": issuer}, aud={"essential": True, "value": client_id},
            sub={"essential": True}, exp={"essential": True}, iat={"essential": True},
            nonce={"essential": True, "value": nonce}).validate(token.claims)
    except (JoseError, ValueError) as exc:
        raise SsoError(f"the ID token was refused: {getattr(exc, 'description', None) or exc}") from None
    audience = token.claims["aud"]
    if isinstance(audience, list) and len(audience) > 1 and token.claims.get("azp") != client_id:
        raise SsoError("the ID token was refused: several audiences and azp is not this client")
    return token.claims


class RelyingParty:
    """One provider, its discovery document and keys cached for the process."""

    def __init__(self, settings: SsoSettings, http: aiohttp.ClientSession):
        self.settings = settings
        self.http = http
        self._endpoints: ProviderEndpoints | None = None
        self._keys: KeySet | None = None

    async def _json(self, method: str, url: str, **kwargs) -> dict:
        try:
            async with self.http.request(method, url, timeout=TIMEOUT, **kwargs) as response:
                body = await response.json(content_type=None)
                if response.status != 200 or not isinstance(body, dict):
                    detail = body.get("error_description") or body.get("error") if isinstance(body, dict) else None
                    raise SsoError(f"the provider answered {response.status} at {url}" + (f": {detail}" if detail else ""))
                return body
        except (aiohttp.ClientError, TimeoutError, ValueError) as exc:
            raise SsoError(f"the provider cannot be reached at {url}: {exc or type(exc).__name__}") from None

    async def endpoints(self) -> ProviderEndpoints:
        if self._endpoints is None:
            issuer = self.settings.issuer
            document = await self._json("GET", issuer.rstrip("/") + "/.well-known/openid-configuration")
            if document.get("issuer") != issuer:
                raise SsoError(f"the provider's discovery document names issuer {document.get('issuer')!r}, not {issuer!r}")
            try:
                self._endpoints = ProviderEndpoints(document["authorization_endpoint"], document["token_endpoint"],
                                                    document["jwks_uri"])
            except KeyError as exc:
                raise SsoError(f"the provider's discovery document has no {exc.args[0]}") from None
        return self._endpoints

    async def keys(self, refresh: bool = False) -> KeySet:
        if self._keys is None or refresh:
            document = await self._json("GET", (await self.endpoints()).jwks_uri)
            try:
                self._keys = KeySet.import_key_set(document)
            except (JoseError, ValueError, TypeError) as exc:
                raise SsoError(f"the provider's JWKS cannot be read: {exc}") from None
        return self._keys

    async def start(self) -> LoginStart:
        """A new sign-in: its secrets and the provider's authorization URL carrying them."""
        state, nonce, verifier = secrets.token_urlsafe(32), secrets.token_urlsafe(32), secrets.token_urlsafe(48)
        url = prepare_grant_uri((await self.endpoints()).authorization_endpoint, self.settings.client_id, "code",
                                redirect_uri=self.settings.redirect_url, scope=self.settings.scopes, state=state,
                                nonce=nonce, code_challenge=create_s256_code_challenge(verifier),
                                code_challenge_method="S256")
        return LoginStart(state, nonce, verifier, url)

    async def finish(self, code: str, verifier: str, nonce: str) -> dict[str, Any]:
        """Exchange the code (client_secret_basic, the PKCE verifier) and check the ID token; its claims."""
        endpoints = await self.endpoints()
        body = prepare_token_request("authorization_code", code=code, redirect_uri=self.settings.redirect_url,
                                     code_verifier=verifier)
        # client_secret_basic: id and secret form-encoded first (RFC 6749 section 2.3.1)
        basic = aiohttp.encode_basic_auth(quote(self.settings.client_id, safe=""), quote(self.settings.client_secret, safe=""))
        answer = await self._json("POST", endpoints.token_endpoint, data=body,
                                  headers={"Authorization": basic, "Content-Type": "application/x-www-form-urlencoded",
                                           "Accept": "application/json"})
        id_token = answer.get("id_token")
        if not isinstance(id_token, str):
            raise SsoError("the provider's token answer has no ID token")
        check = dict(issuer=self.settings.issuer, client_id=self.settings.client_id, nonce=nonce)
        try:
            return validate_id_token(id_token, await self.keys(), **check)
        except SsoError:
            if not _unknown_key(id_token, await self.keys()):
                raise
        return validate_id_token(id_token, await self.keys(refresh=True), **check)


def _unknown_key(id_token: str, keys: KeySet) -> bool:
    """Whether the token names a key id the cached key set lacks (the provider rotated its keys)."""
    from joserfc import jws

    try:
        kid = jws.extract_compact(id_token.encode()).headers().get("kid")
    except (JoseError, ValueError):
        return False
    return kid is not None and all(key.kid != kid for key in keys.keys)
