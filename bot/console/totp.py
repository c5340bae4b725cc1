"""Time-based one-time passwords (RFC 6238: HMAC-SHA1, 6 digits, 30 s) for the second factor.

Small enough to keep here rather than add a dependency; checked against the RFC's test vectors in
tests/test_console_units.py. A code is accepted once (the last step used is stored).
"""

from __future__ import annotations

import base64
import hmac
import secrets
import struct
import time
from urllib.parse import quote

STEP_SECONDS = 30
DIGITS = 6


def new_secret() -> str:
    return base64.b32encode(secrets.token_bytes(20)).decode().rstrip("=")


def _key(secret: str) -> bytes:
    padded = secret.upper() + "=" * (-len(secret) % 8)
    return base64.b32decode(padded)


def hotp(key: bytes, counter: int, digits: int = DIGITS, digest: str = "sha1") -> str:
    mac = hmac.new(key, struct.pack(">Q", counter), digest).digest()
    offset = mac[-1] & 0x0F
    number = struct.unpack(">I", mac[offset : offset + 4])[0] & 0x7FFFFFFF
    return str(number % 10**digits).zfill(digits)


def step_at(now: float | None = None) -> int:
    return int((time.time() if now is None else now) // STEP_SECONDS)


def code_at(secret: str, now: float | None = None) -> str:
    return hotp(_key(secret), step_at(now))


def verify(secret: str, code: str, last_step: int | None, now: float | None = None) -> int | None:
    """The step the code belongs to (one step of clock drift allowed), or None; never reused."""
    code = "".join(ch for ch in code if ch in "0123456789")  # not isdigit(): "²" is a digit too
    if len(code) != DIGITS:
        return None
    key, current = _key(secret), step_at(now)
    for step in (current, current - 1, current + 1):
        if last_step is not None and step <= last_step:
            continue
        if hmac.compare_digest(hotp(key, step), code):
            return step
    return None


def provisioning_uri(secret: str, account: str, issuer: str) -> str:
    label = quote(f"{issuer}:{account}")
    return f"otpauth://totp/{label}?secret={secret}&issuer={quote(issuer)}&digits={DIGITS}"
