"""Passwords, tokens and the rules and policies of accounts, shared by the guards' UI and central's dashboard.

- Passwords are hashed with scrypt (memory-hard: n=2**14, r=8, p=1 uses 16 MiB), a 16-byte salt
  each, and stored as `scrypt$n$r$p$salt$hash` so the cost can be raised later (`needs_rehash`:
  a login with an older hash rehashes it). Verification compares in constant time, and a login for
  an unknown username costs one scrypt too (`verify_nothing`: no user enumeration by timing).
- Session tokens are 32 random bytes (URL-safe base64 in the cookie); a database keeps only their
  SHA-256 (`token_hash`), so a copy of it logs no one in.
- Roles are ordered (`Roles`): each role may do what the ones before it may.
"""
from __future__ import annotations

import base64
import hashlib
import hmac
import re
import secrets
from dataclasses import dataclass

USERNAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.@-]{0,63}$")
MIN_PASSWORD = 8
MAX_PASSWORD = 1024

SCRYPT_N, SCRYPT_R, SCRYPT_P = 2**14, 8, 1
SALT_LEN = 16
HASH_LEN = 32
TOKEN_BYTES = 32
TOKEN_PATTERN = re.compile(r"^[A-Za-z0-9_-]{43}$")  # token_urlsafe(32)
# Verified when the username is unknown, so that answer takes as long as a wrong password.
_DUMMY_HASH = "scrypt$16384$8$1$EicozJ4UGX4gFliazE2OKQ$jGPTTzypdw7l9y9wmGNbRNSo4unUimHPNguNrcaRY7c"


class AccountError(ValueError):
    """A user or password that cannot be accepted; the message says why."""


class UserExists(AccountError):
    """The username is taken."""


@dataclass(frozen=True)
class SessionPolicy:
    max_age: float = 12 * 3600.0   # seconds from login
    idle: float = 30 * 60.0        # seconds since the last request

    @property
    def touch_every(self) -> float:
        """Seconds between writes of `last_seen` (a request does not always cost a write)."""
        return min(60.0, self.idle / 4)


@dataclass(frozen=True)
class LoginPolicy:
    max_failures: int = 5           # failed logins in a row that lock a username
    lockout: float = 15 * 60.0      # seconds a username stays locked; also the per-address window
    remote_max_failures: int = 20   # failed logins from one address per `lockout` seconds


@dataclass(frozen=True)
class Roles:
    """Role names, lowest first: each may do what the ones before it may."""

    names: tuple[str, ...]

    def check(self, role: object) -> str:
        """`role` if it is one of these; AccountError otherwise."""
        if role not in self.names:
            raise AccountError(f"the role must be one of {', '.join(self.names)}")
        return role

    def allows(self, role: str, needed: str) -> bool:
        """Whether `role` may do what `needed` may."""
        return role in self.names and self.names.index(role) >= self.names.index(needed)


# -- passwords --------------------------------------------------------------------------------


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def _scrypt(password: str, salt: bytes, n: int, r: int, p: int) -> bytes:
    return hashlib.scrypt(password.encode("utf-8"), salt=salt, n=n, r=r, p=p, dklen=HASH_LEN,
                          maxmem=128 * r * (n + p + 2) + (1 << 20))


def hash_password(password: str, *, n: int = SCRYPT_N, r: int = SCRYPT_R, p: int = SCRYPT_P) -> str:
    """The encoded scrypt hash `scrypt$n$r$p$salt$hash` of `password` under a fresh salt."""
    salt = secrets.token_bytes(SALT_LEN)
    return f"scrypt${n}${r}${p}${_b64(salt)}${_b64(_scrypt(password, salt, n, r, p))}"


def _parse_hash(encoded: str) -> tuple[int, int, int, bytes, bytes]:
    scheme, n, r, p, salt, digest = encoded.split("$")
    n, r, p = int(n), int(r), int(p)
    if scheme != "scrypt" or not (2 <= n <= 2**20 and n & (n - 1) == 0 and 1 <= r <= 32 and 1 <= p <= 16):
        raise ValueError("unsupported password hash")
    return n, r, p, _unb64(salt), _unb64(digest)


def verify_password(password: str, encoded: str) -> bool:
    """Whether `password` matches the encoded hash (constant-time comparison)."""
    try:
        n, r, p, salt, expected = _parse_hash(encoded)
    except (ValueError, TypeError):
        return False
    return hmac.compare_digest(_scrypt(password, salt, n, r, p), expected)


def verify_nothing(password: str) -> None:
    """Spend what checking a password costs, for a username that does not exist (no enumeration by timing)."""
    verify_password(password, _DUMMY_HASH)


def needs_rehash(encoded: str) -> bool:
    """Whether the hash was made with weaker parameters than today's."""
    try:
        n, r, p, _, _ = _parse_hash(encoded)
    except (ValueError, TypeError):
        return True
    return n < SCRYPT_N or r < SCRYPT_R or p < SCRYPT_P


def check_password(password: object) -> str:
    """`password` if it is acceptable; AccountError otherwise."""
    if not isinstance(password, str):
        raise AccountError("the password must be a string")
    if len(password) < MIN_PASSWORD:
        raise AccountError(f"the password must have at least {MIN_PASSWORD} characters")
    if len(password) > MAX_PASSWORD:
        raise AccountError(f"the password must have at most {MAX_PASSWORD} characters")
    return password


def check_username(username: object) -> str:
    if not isinstance(username, str) or not USERNAME.fullmatch(username):
        raise AccountError("a username is 1 to 64 letters, digits and _ . @ - (starting with a letter or digit)")
    return username


# -- tokens -----------------------------------------------------------------------------------


def new_token() -> str:
    """A session token or CSRF token: `TOKEN_BYTES` random bytes, URL-safe base64."""
    return secrets.token_urlsafe(TOKEN_BYTES)


def token_hash(token: str) -> str:
    return hashlib.sha256(token.encode("ascii", "replace")).hexdigest()
