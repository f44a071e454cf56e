"""NUL characters, refused wherever text comes in, with the field that holds one named.

PostgreSQL text cannot hold U+0000 (SQLite can), so without this the same input is stored on one
database and answered with a 500 on the other. The REST API, SCIM and the CSV import all use it.
"""

from __future__ import annotations

import re
from typing import Any

from bastion.errors import InvalidInput

NUL = "\x00"
MESSAGE = "must not contain NUL characters"
# JSON spells NUL as \u0000 (any case of the hex digits); a raw NUL byte is never valid JSON.
_JSON_NUL = re.compile(rb"\\u0000", re.IGNORECASE)


def body_may_hold_nul(body: bytes) -> bool:
    """Whether a request body holds NUL, raw or JSON-escaped (cheap; may say yes wrongly)."""
    return b"\x00" in body or _JSON_NUL.search(body) is not None


def nul_field(value: Any, field: str) -> str | None:
    """The first field under ``value`` (text, or JSON-like lists and dicts) holding a NUL."""
    if isinstance(value, str):
        return field if NUL in value else None
    if isinstance(value, dict):
        for key, item in value.items():
            name = f"{field}.{key}" if field else str(key)
            if NUL in str(key):
                return name
            found = nul_field(item, name)
            if found is not None:
                return found
    elif isinstance(value, list | tuple):
        for index, item in enumerate(value):
            found = nul_field(item, f"{field}[{index}]")
            if found is not None:
                return found
    return None


def refuse_nul(field: str, value: Any) -> None:
    """Raise InvalidInput naming the field (or the part of it) that holds a NUL."""
    found = nul_field(value, field)
    if found is not None:
        raise InvalidInput(found, MESSAGE)
