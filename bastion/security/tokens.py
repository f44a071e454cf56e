"""API and SCIM bearer tokens: 32 random bytes, shown once, stored as a SHA-256 hash.

A fast hash is right here (unlike passwords): the token has 256 bits of entropy, so there is
nothing to brute-force, and every API request must verify one.
"""

from __future__ import annotations

import hashlib
import secrets

TOKEN_BYTES = 32
PREFIXES = {"api": "bst_api_", "scim": "bst_scim_"}


def new_token(kind: str) -> str:
    return PREFIXES[kind] + secrets.token_urlsafe(TOKEN_BYTES)


def hash_token(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def display_prefix(token: str) -> str:
    """Enough of the token to recognise it in a list, not enough to use it."""
    return token[:16]
