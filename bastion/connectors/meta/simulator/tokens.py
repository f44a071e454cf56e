"""Access tokens that look like Meta's, and the checks Graph applies to them.

Meta user and system-user tokens start with ``EAA`` followed by a long base62 string; clients
sometimes sniff that prefix, so ours do too. A token belongs to one user (system user or person),
one app and one business, carries scopes and an expiry (``0`` = never).
"""

from __future__ import annotations

import hashlib
import hmac
import random
import string
from datetime import UTC, datetime

from bastion.connectors.meta.simulator import errors
from bastion.connectors.meta.simulator.scenario import TokenRecord

_ALPHABET = string.ascii_letters + string.digits
TOKEN_TYPES = ("SYSTEM_USER", "USER", "PAGE", "APP")


def mint_token(rng: random.Random) -> str:
    """A fresh Meta-looking token drawn from ``rng`` (deterministic for a seeded rng)."""
    return "EAA" + "".join(rng.choices(_ALPHABET, k=180))


def appsecret_proof(token: str, secret: str) -> str:
    """Meta's proof: lowercase hex HMAC-SHA256 of the token keyed with the app secret."""
    return hmac.new(secret.encode(), token.encode(), hashlib.sha256).hexdigest()


def check_token(record: TokenRecord | None, now: float) -> TokenRecord:
    """The token record if it may be used at ``now``, else the 190 error Meta returns."""
    if record is None or not record.valid:
        raise errors.invalid_token()
    if record.expires_at and record.expires_at <= now:
        expired = datetime.fromtimestamp(record.expires_at, UTC).strftime("%A, %d-%b-%y %H:%M:%S")
        raise errors.expired_token(f"{expired} UTC")
    return record
