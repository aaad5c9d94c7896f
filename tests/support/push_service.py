"""A Web Push service for tests: a plain HTTP server standing for the phones' push services.

Each subscription it hands out has a key pair of its own, as a browser's would: what the appliance sends is
decrypted with the subscription's private key and auth secret (RFC 8291, aes128gcm, by `http_ece`), and its VAPID
`Authorization` (RFC 8292) is checked: the JWT's ES256 signature against the key in `k=`, its audience, expiry and
subject. A request that fails a check is refused with 400 and kept in `rejected`. `answer` sets what one endpoint
answers (201 by default: 404 or 410 say the subscription is gone); `stop()` and `start()` take the whole service
down and back on the same port (connection refused in between).
"""
from __future__ import annotations

import base64
import json
import secrets
import threading
import time
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import http_ece
from cryptography.exceptions import InvalidSignature, InvalidTag
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.utils import encode_dss_signature


def b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def unb64url(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


@dataclass
class TestSubscription:
    """What a browser keeps: the endpoint, its private key and auth secret; `json()` is what it would give the app."""

    endpoint: str
    private_key: ec.EllipticCurvePrivateKey
    auth: bytes

    @property
    def p256dh(self) -> str:
        return b64url(self.private_key.public_key().public_bytes(serialization.Encoding.X962,
                                                                 serialization.PublicFormat.UncompressedPoint))

    def json(self) -> dict:
        return {"endpoint": self.endpoint, "expirationTime": None, "keys": {"p256dh": self.p256dh, "auth": b64url(self.auth)}}


@dataclass
class Received:
    path: str
    headers: dict[str, str]  # names in lower case
    claims: dict
    payload: dict


def verify_vapid(authorization: str, audience: str) -> tuple[dict, str]:
    """(the JWT's claims, the public key in `k=`); ValueError when anything does not hold."""
    if not authorization.startswith("vapid "):
        raise ValueError(f"not a VAPID authorization: {authorization[:20]!r}")
    fields = dict(part.strip().split("=", 1) for part in authorization[len("vapid "):].split(","))
    token, public = fields["t"], fields["k"]
    header_b64, claims_b64, signature_b64 = token.split(".")
    header = json.loads(unb64url(header_b64))
    if header.get("alg") != "ES256":
        raise ValueError(f"JWT alg {header.get('alg')!r}")
    key = ec.EllipticCurvePublicKey.from_encoded_point(ec.SECP256R1(), unb64url(public))
    raw = unb64url(signature_b64)
    signature = encode_dss_signature(int.from_bytes(raw[:32], "big"), int.from_bytes(raw[32:], "big"))
    try:
        key.verify(signature, f"{header_b64}.{claims_b64}".encode(), ec.ECDSA(hashes.SHA256()))
    except InvalidSignature:
        raise ValueError("the JWT's signature does not match k=") from None
    claims = json.loads(unb64url(claims_b64))
    if claims.get("aud") != audience:
        raise ValueError(f"aud {claims.get('aud')!r}, not {audience!r}")
    if not time.time() < claims.get("exp", 0) <= time.time() + 86400:
        raise ValueError(f"exp {claims.get('exp')!r} is not within the next 24 h")
    if not str(claims.get("sub", "")).startswith(("mailto:", "https://")):
        raise ValueError(f"sub {claims.get('sub')!r}")
    return claims, public


@dataclass
class PushService:
    port: int
    subscriptions: dict[str, TestSubscription] = field(default_factory=dict)    # by path
    answers: dict[str, int] = field(default_factory=dict)                       # by path: the status to answer
    received: list[Received] = field(default_factory=list)
    rejected: list[str] = field(default_factory=list)
    server_key: str | None = None   # the appliance's VAPID public key (base64url) every request must carry
    _server: ThreadingHTTPServer | None = None
    _thread: threading.Thread | None = None
    _lock: threading.Lock = field(default_factory=threading.Lock)

    @property
    def origin(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def new_subscription(self) -> TestSubscription:
        path = f"/push/{secrets.token_urlsafe(12)}"
        subscription = TestSubscription(self.origin + path, ec.generate_private_key(ec.SECP256R1()), secrets.token_bytes(16))
        self.subscriptions[path] = subscription
        return subscription

    def answer(self, subscription: TestSubscription, status: int) -> None:
        self.answers[subscription.endpoint.removeprefix(self.origin)] = status

    def to(self, subscription: TestSubscription) -> list[Received]:
        path = subscription.endpoint.removeprefix(self.origin)
        with self._lock:
            return [r for r in self.received if r.path == path]

    def start(self) -> PushService:
        service = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802 - the http.server name
                body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
                status = service._take(self.path, {k.lower(): v for k, v in self.headers.items()}, body)
                self.send_response(status)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *args) -> None:
                pass

        ThreadingHTTPServer.allow_reuse_address = True
        self._server = ThreadingHTTPServer(("127.0.0.1", self.port), Handler)
        self._thread = threading.Thread(target=self._server.serve_forever, name="push-service", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._thread.join()
            self._server = None

    def __enter__(self) -> PushService:
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()

    def _take(self, path: str, headers: dict[str, str], body: bytes) -> int:
        subscription = self.subscriptions.get(path)
        if subscription is None:
            return 404
        status = self.answers.get(path, 201)
        if status >= 300:
            return status
        try:
            claims, public = verify_vapid(headers.get("authorization", ""), self.origin)
            if self.server_key is not None and public != self.server_key:
                raise ValueError("k= is not the appliance's VAPID key")
            if headers.get("content-encoding") != "aes128gcm":
                raise ValueError(f"Content-Encoding {headers.get('content-encoding')!r}")
            plain = http_ece.decrypt(body, private_key=subscription.private_key, auth_secret=subscription.auth,
                                     version="aes128gcm")
            payload = json.loads(plain)
        except (ValueError, KeyError, TypeError, http_ece.ECEException, InvalidTag) as exc:
            with self._lock:
                self.rejected.append(f"{path}: {type(exc).__name__}: {exc}")
            return 400
        with self._lock:
            self.received.append(Received(path, headers, claims, payload))
        return 201
