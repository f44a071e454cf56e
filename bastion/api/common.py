"""What the API routers share: finding an app the caller may see, handing queued operations to
the workers, keyset cursors, and the ``Idempotency-Key`` header."""

from __future__ import annotations

import base64
import binascii
import json
from collections.abc import Iterable
from typing import Annotated, Any

from fastapi import Header, Path, Request
from pydantic import Field
from sqlalchemy.orm import Session

from bastion.actions.permissions import require
from bastion.errors import InvalidInput
from bastion.jobs import Jobs
from bastion.logs import get_logger
from bastion.security.auth import Principal, runtime_of
from bastion.storage.models import App
from bastion.storage.models.enums import RunTrigger
from bastion.storage.tenancy import Tenant

log = get_logger(__name__)

IdempotencyKey = Annotated[
    str | None,
    Header(
        alias="Idempotency-Key",
        max_length=200,
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


def encode_cursor(values: list[Any]) -> str:
    return base64.urlsafe_b64encode(json.dumps(values).encode()).decode().rstrip("=")


def decode_cursor(cursor: str, size: int) -> list[Any]:
    try:
        padded = cursor + "=" * (-len(cursor) % 4)
        values = json.loads(base64.urlsafe_b64decode(padded.encode()))
    except (binascii.Error, ValueError, UnicodeDecodeError):
        raise InvalidInput("cursor", "is not a cursor this API returned") from None
    if not isinstance(values, list) or len(values) != size:
        raise InvalidInput("cursor", "is not a cursor this API returned")
    return values


def like_pattern(text: str) -> str:
    """A case-insensitive LIKE pattern matching ``text`` anywhere, wildcards escaped."""
    escaped = text.strip().lower().replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return f"%{escaped}%"


MAX_ID = 2_147_483_647
PathId = Annotated[int, Path(ge=1, le=MAX_ID)]
BodyId = Annotated[int, Field(ge=1, le=MAX_ID)]
