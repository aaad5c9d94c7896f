"""The TOTP second factor (RFC 6238, by pyotp) and its recovery codes, shared by the guards' UI and central's dashboard.

- Codes: 6 digits, 30-second steps, SHA-1 (what every authenticator app reads from the QR code); one step of
  clock drift either way is accepted.
- A code is accepted only for a step later than the last one that logged the user in (`matching_step` with
  `last_step`): a code seen over a shoulder or replayed from a log is refused.
- Recovery codes: `RECOVERY_CODES` random codes of 10 base32 letters (50 bits) shown once; the database keeps
  only their SHA-256 (`recovery_hash`), each good for one login.
- The secret is shown once, at enrolment (text, otpauth URI and QR code as SVG: `qrcode`, no Pillow), and never
  returned or logged after.
"""
from __future__ import annotations

import hashlib
import hmac
import io
import re
import secrets

import pyotp
import qrcode
import qrcode.image.svg

DIGITS = 6
STEP = 30            # seconds
DRIFT = 1            # steps accepted either side of now
RECOVERY_CODES = 10
CODE = re.compile(r"^[0-9]{6}$")
RECOVERY_CODE = re.compile(r"^[A-Za-z2-7]{5}-?[A-Za-z2-7]{5}$")  # as shown: XXXXX-XXXXX
CHALLENGE_SECONDS = 300.0  # a password accepted waits this long for its code


def new_secret() -> str:
    """160 random bits, base32 (what authenticator apps take)."""
    return pyotp.random_base32(32)


def provisioning_uri(secret: str, username: str, issuer: str) -> str:
    """The otpauth:// URI an authenticator app reads from the QR code."""
    return pyotp.TOTP(secret, digits=DIGITS, interval=STEP).provisioning_uri(name=username, issuer_name=issuer)


def qr_svg(uri: str) -> str:
    """The URI as a QR code, an SVG document (black modules on a white background)."""
    image = qrcode.make(uri, image_factory=qrcode.image.svg.SvgPathFillImage, border=2)
    out = io.BytesIO()
    image.save(out)
    return out.getvalue().decode()


def matching_step(secret: str, code: str, last_step: int | None, now: float) -> int | None:
    """The time step `code` belongs to (within `DRIFT` of `now`) if it is later than `last_step`; None otherwise."""
    if not CODE.fullmatch(code):
        return None
    totp = pyotp.TOTP(secret, digits=DIGITS, interval=STEP)
    current = int(now // STEP)
    for step in range(current - DRIFT, current + DRIFT + 1):
        if (last_step is None or step > last_step) and hmac.compare_digest(totp.generate_otp(step), code):
            return step
    return None


def is_code(text: str) -> bool:
    return bool(CODE.fullmatch(text))


def new_recovery_codes() -> list[str]:
    alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZ234567"
    codes = ["".join(secrets.choice(alphabet) for _ in range(10)) for _ in range(RECOVERY_CODES)]
    return [f"{code[:5]}-{code[5:]}" for code in codes]


def recovery_hash(code: str) -> str | None:
    """The stored form of a recovery code (SHA-256 of its letters, upper case, without the dash); None if malformed."""
    if not RECOVERY_CODE.fullmatch(code):
        return None
    return hashlib.sha256(code.replace("-", "").upper().encode()).hexdigest()
