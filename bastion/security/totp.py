"""Two-factor secrets (TOTP, RFC 6238) as people paste them, parsed and checked with pyotp.

Facebook shows a key to type into an authenticator app (32 base32 characters, often in groups
of four) and a QR code whose text is an ``otpauth://totp/…`` URI. Either is accepted here and
kept in one canonical form, an ``otpauth`` URI that carries only what a code depends on (key,
digits, period, algorithm), so the vault never holds the label's account name.
"""

from __future__ import annotations

import binascii
import hashlib
import re
import time
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlencode

import pyotp

from bastion.errors import IntegrityError, InvalidInput

# pyotp refuses keys under 112 bits (NIST SP 800-63B-4, OTP.min_secret_length_bits). Older
# enrolments elsewhere used 80-bit keys (16 characters); Facebook's are 160 bits, so a shorter
# key is refused with a message rather than accepted by lowering pyotp's minimum.
MIN_KEY_BITS = pyotp.OTP.min_secret_length_bits
MAX_TEXT = 2000
_BASE32 = re.compile(r"^[A-Z2-7]+=*$")
_ALGORITHMS: dict[Any, str] = {
    hashlib.sha1: "SHA1",
    hashlib.sha256: "SHA256",
    hashlib.sha512: "SHA512",
}


@dataclass(frozen=True)
class CurrentCode:
    code: str
    # Until the code changes; a code is valid for the rest of its step (pyotp's own advice).
    seconds_left: int
    interval: int


def parse_totp(text: str, field: str = "totp") -> str:
    """The canonical ``otpauth://totp/Bastion?…`` URI for what a person pasted, or InvalidInput
    naming ``field`` (never quoting what was pasted)."""
    value = (text or "").strip()
    if len(value) > MAX_TEXT:
        raise InvalidInput(field, f"must be at most {MAX_TEXT} characters")
    if value.lower().startswith("otpauth://"):
        totp = _from_uri(value, field)
    else:
        key = re.sub(r"[\s-]+", "", value).upper()
        if not key:
            raise InvalidInput(field, "is empty")
        if not _BASE32.match(key):
            raise InvalidInput(
                field,
                "is not a two-factor key: use the letters A–Z and digits 2–7 Facebook shows, "
                "or the otpauth:// link of its QR code",
            )
        totp = _totp(key, field)
    return canonical_uri(totp)


def _from_uri(value: str, field: str) -> pyotp.TOTP:
    if not value.lower().startswith("otpauth://totp/"):
        raise InvalidInput(field, "must be an otpauth://totp/ link (a time-based code)")
    try:
        parsed = pyotp.parse_uri(value)
    except ValueError as exc:
        if _too_short(exc):
            raise _short_key(field) from None
        raise InvalidInput(field, "is not a valid otpauth:// link") from None
    if type(parsed) is not pyotp.TOTP:  # a counter (HOTP) or Steam's encoding
        raise InvalidInput(field, "must be a time-based (TOTP) otpauth:// link")
    # Normalise the key the link carries the same way as a typed one.
    return _totp(
        parsed.secret.replace(" ", "").upper(),
        field,
        digits=parsed.digits,
        interval=parsed.interval,
        digest=parsed.digest,
    )


def _totp(key: str, field: str, **options: Any) -> pyotp.TOTP:
    try:
        return pyotp.TOTP(key, **options)
    except (binascii.Error, ValueError) as exc:
        if _too_short(exc):
            raise _short_key(field) from None
        raise InvalidInput(field, "is not a valid two-factor key") from None


def _too_short(exc: Exception) -> bool:
    return "at least" in str(exc) and "bits" in str(exc)


def _short_key(field: str) -> InvalidInput:
    return InvalidInput(
        field,
        f"is too short: a two-factor key needs at least {MIN_KEY_BITS} bits (Facebook's have "
        "32 characters); copy the whole key Facebook shows",
    )


def canonical_uri(totp: pyotp.TOTP) -> str:
    query = {
        "secret": totp.secret,
        "digits": str(totp.digits),
        "period": str(totp.interval),
        "algorithm": _ALGORITHMS.get(totp.digest, "SHA1"),
    }
    return f"otpauth://totp/Bastion?{urlencode(query)}"


def _load(uri: str) -> pyotp.TOTP:
    totp = pyotp.parse_uri(uri)
    if not isinstance(totp, pyotp.TOTP):
        raise IntegrityError("a stored two-factor secret is not a time-based one")
    return totp


def code_is_current(uri: str, code: str, *, at: float | None = None) -> bool:
    """Whether ``code`` is the key's code now, or one step either side (clock drift)."""
    digits = re.sub(r"\s+", "", code or "")
    if not digits.isdigit():
        return False
    return _load(uri).verify(digits, for_time=at if at is not None else time.time(), valid_window=1)


def current_code(uri: str, *, at: float | None = None) -> CurrentCode:
    now = at if at is not None else time.time()
    totp = _load(uri)
    left = totp.interval - int(now % totp.interval)
    return CurrentCode(totp.at(now), left, totp.interval)
