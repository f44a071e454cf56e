"""What the API routers share: finding an app the caller may see, handing queued operations to
the workers, keyset cursors, the ``Idempotency-Key`` header, and field types as strict as the
schema they publish."""

from __future__ import annotations

import re
from collections.abc import Iterable
from datetime import datetime
from typing import Annotated, Any

from fastapi import Header, Path, Query, Request
from pydantic import AwareDatetime, BeforeValidator, Field
from pydantic_core import PydanticCustomError
from sqlalchemy.orm import Session

from bastion.actions.permissions import require
from bastion.api.auth import Principal, runtime_of
from bastion.errors import InvalidInput
from bastion.jobs import Jobs
from bastion.logs import get_logger
from bastion.storage.models import App
from bastion.storage.models.enums import RunTrigger
from bastion.storage.tenancy import Tenant

log = get_logger(__name__)


# FastAPI hands a JSON body to pydantic as Python objects, and pydantic's lax mode would then
# take `true` for 1, "5" for 5 and a number of seconds for a date and time: not what the schema
# says. Body fields use these types (and pydantic's StrictBool), so what the schema refuses is
# refused. Query parameters arrive as text and keep pydantic's parsing of it.
def json_integer(value: Any) -> Any:
    """For ``Annotated[int, Field(ge=…), BeforeValidator(json_integer)]``: the bounds go first,
    or pydantic leaves them out of the JSON schema."""
    if isinstance(value, bool | str):
        raise PydanticCustomError("int_type", "Input should be a valid integer")
    return value


_RFC3339 = re.compile(
    r"\d{4}-\d{2}-\d{2}[Tt]\d{2}:\d{2}:\d{2}(\.\d+)?([Zz]|[+-]\d{2}:\d{2})", re.ASCII
)


def _rfc3339_text(value: Any) -> Any:
    if isinstance(value, datetime) or (isinstance(value, str) and _RFC3339.fullmatch(value)):
        return value
    raise PydanticCustomError(
        "datetime_type",
        "Input should be a date and time with a time zone, such as 2030-01-31T09:00:00Z",
    )


# A character Python's str.strip() keeps, spelled out: text the actions strip must hold one.
# ``\S`` would not do: pydantic's Rust engine, Python's re and ECMA read it differently.
NOT_BLANK = r"[^\t-\r\x1c-\x20\x85\xa0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000]"
# actions/users.validate_email's rule (text@text.text, no blanks), spelled without ``\s``: the
# schema's readers (pydantic's Rust engine, Python's re, ECMA) do not agree on what it covers.
# Control characters are refused too.
_EMAIL_CHARACTER = r"[^@\x00-\x20\x7f-\xa0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000]"
EMAIL_PATTERN = rf"^{_EMAIL_CHARACTER}+@{_EMAIL_CHARACTER}+\.{_EMAIL_CHARACTER}+$"
Email = Annotated[str, Field(min_length=3, max_length=320, pattern=EMAIL_PATTERN)]
# A date and time with its offset (RFC 3339, the schema's `date-time`); not a number of seconds.
DateTimeWithZone = Annotated[AwareDatetime, BeforeValidator(_rfc3339_text)]

IdempotencyKey = Annotated[
    str | None,
    Header(
        alias="Idempotency-Key",
        max_length=200,
        pattern=NOT_BLANK,
        description="Repeat a write safely: the same key returns the operation queued first.",
    ),
]


def app_for(session: Session, principal: Principal, app_id: int, action: str) -> App:
    """The app, if it is in the caller's workspace and the caller may do ``action`` on it."""
    app = Tenant(session, principal.workspace_id).get(App, app_id)
    require(session, actor=principal.actor, app=app, action=action)
    return app


def _jobs(request: Request) -> Jobs:
    jobs: Jobs | None = getattr(request.app.state, "jobs", None)
    if jobs is None:
        jobs = Jobs(runtime_of(request))
        request.app.state.jobs = jobs
    return jobs


def enqueue_operations(request: Request, operation_ids: Iterable[int | None]) -> None:
    """Hand committed operations to the workers; if the queue is down the minute tick finds
    them in the outbox anyway, so a failure here loses nothing."""
    for operation_id in operation_ids:
        if operation_id is None:
            continue
        try:
            _jobs(request).enqueue_operation(operation_id)
        except Exception as exc:
            log.warning("operation not enqueued", operation_id=operation_id, error=repr(exc))


def enqueue_check(request: Request, principal: Principal, app_id: int) -> None:
    try:
        _jobs(request).enqueue_check(
            workspace_id=principal.workspace_id,
            app_id=app_id,
            trigger=RunTrigger.MANUAL,
            user_id=principal.user.id,
        )
    except Exception as exc:
        log.warning("check not enqueued", app_id=app_id, error=repr(exc))


# A keyset position: the last row's id, then (when the list is sorted by text) a dot and that
# row's sort value as UTF-8 in hex. Every string of this shape is a position the next page can
# start after, so the schema can promise that whatever matches the pattern is accepted.
_CURSOR_VALUE_BYTES = 1000
CURSOR_PATTERN = rf"^[0-9]{{1,10}}(\.([0-9a-f]{{2}}){{0,{_CURSOR_VALUE_BYTES}}})?$"
_CURSOR = re.compile(CURSOR_PATTERN)
Cursor = Annotated[
    str | None,
    Query(
        pattern=CURSOR_PATTERN,
        description="Where the page starts: the `next_cursor` of the previous page",
    ),
]


def encode_cursor(values: list[Any]) -> str:
    """``[last_id]`` or ``[sort_value, last_id]`` as a cursor."""
    *value, last_id = values
    cursor = str(int(last_id))
    if value:
        text = str(value[0]).encode()[:_CURSOR_VALUE_BYTES]
        cursor += "." + text.hex()
    return cursor


def decode_cursor(cursor: str, size: int) -> list[Any]:
    """``[last_id]`` (size 1) or ``[sort_value, last_id]`` (size 2) from a cursor.

    A value that is not UTF-8, or holds NUL, which no stored text can, keeps its place in the
    order with U+FFFD instead; an id past the largest one a row can have is that largest id
    (the database compares with 32-bit integers).
    """
    if not _CURSOR.fullmatch(cursor):
        raise InvalidInput("cursor", "is not a cursor this API returned")
    digits, _dot, hex_value = cursor.partition(".")
    last_id = min(int(digits), MAX_ID)
    if size == 1:
        return [last_id]
    value = bytes.fromhex(hex_value).decode("utf-8", errors="replace").replace("\x00", "\ufffd")
    return [value, last_id]


def like_pattern(text: str) -> str:
    """A case-insensitive LIKE pattern matching ``text`` anywhere, wildcards escaped."""
    escaped = text.strip().lower().replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return f"%{escaped}%"


MAX_ID = 2_147_483_647
PathId = Annotated[int, Path(ge=1, le=MAX_ID)]
BodyId = Annotated[int, Field(ge=1, le=MAX_ID), BeforeValidator(json_integer)]
