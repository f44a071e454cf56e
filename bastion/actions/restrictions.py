"""Whether Meta still restricts an app's changes, after a check or an operation.

Meta refuses user management (code 368) for days after a system user is created while reads go
on working, so a successful check says nothing about the restriction: the app stays
*restricted* while Meta's end time is ahead or an operation it refused is still deferred, and
becomes healthy again once neither holds.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from bastion.connectors.base import Restricted
from bastion.storage.models import App, Operation
from bastion.storage.models.enums import AppStatus, OperationState


def restriction_holds(session: Session, app: App, now: datetime) -> bool:
    if app.restricted_until is not None and app.restricted_until > now:
        return True
    waiting = session.scalar(
        select(Operation.id)
        .where(
            Operation.app_id == app.id,
            Operation.state == OperationState.DEFERRED,
            Operation.last_error_code == Restricted.code,
        )
        .limit(1)
    )
    return waiting is not None


def settle_restriction(session: Session, app: App, now: datetime) -> None:
    """After a successful check or operation: restricted while it holds, else healthy."""
    if restriction_holds(session, app, now):
        if app.status != AppStatus.RESTRICTED:
            app.status = AppStatus.RESTRICTED
            app.status_reason = "Meta restricts changes to this business; Bastion retries them."
        return
    app.status, app.status_reason, app.restricted_until = AppStatus.HEALTHY, None, None
