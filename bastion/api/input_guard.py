"""Refuse NUL characters anywhere in a request, naming the field.

PostgreSQL text cannot hold U+0000 (SQLite can), so without this one request would be a 422 on
one database and a 500 on the other. schemathesis found it.
"""

from __future__ import annotations

import re

from fastapi import Request

from bastion.errors import InvalidInput

# JSON spells NUL as \u0000 (any case of the hex digits); a raw NUL byte is never valid JSON.
_JSON_NUL = re.compile(rb"\\u0000", re.IGNORECASE)


async def reject_nul_characters(request: Request) -> None:
    for name, value in request.query_params.multi_items():
        if "\x00" in value or "\x00" in name:
            raise InvalidInput(name, "must not contain NUL characters")
    for name, value in request.path_params.items():
        if "\x00" in str(value):
            raise InvalidInput(name, "must not contain NUL characters")
    body = await request.body()
    if b"\x00" in body or _JSON_NUL.search(body):
        raise InvalidInput("body", "must not contain NUL characters")
