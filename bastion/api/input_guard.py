"""Refuse NUL characters anywhere in a request, naming the field (see bastion/nul_characters.py).

PostgreSQL text cannot hold U+0000 (SQLite can), so without this one request would be a 422 on
one database and a 500 on the other. schemathesis found it.
"""

from __future__ import annotations

from fastapi import Request

from bastion.errors import InvalidInput
from bastion.nul_characters import MESSAGE, NUL, body_may_hold_nul


async def reject_nul_characters(request: Request) -> None:
    for name, value in request.query_params.multi_items():
        if NUL in value or NUL in name:
            raise InvalidInput(name, MESSAGE)
    for name, value in request.path_params.items():
        if NUL in str(value):
            raise InvalidInput(name, MESSAGE)
    if body_may_hold_nul(await request.body()):
        raise InvalidInput("body", MESSAGE)
