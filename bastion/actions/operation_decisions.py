"""What a person decides about queued operations: retry one, or confirm a manual step done."""

from __future__ import annotations

from sqlalchemy.orm import Session

from bastion.actions.actors import Actor
from bastion.actions.operations import retry_operation
from bastion.actions.permissions import MANAGE_OPERATIONS, require
from bastion.audit import AuditAction, record
from bastion.errors import Conflict
from bastion.storage.models import App, Operation, utcnow
from bastion.storage.models.enums import OperationState
from bastion.storage.tenancy import Tenant


def retry(session: Session, *, workspace_id: int, operation_id: int, actor: Actor) -> Operation:
    """Queue a failed or deferred operation again (app owners and admins)."""
    tenant = Tenant(session, workspace_id)
    operation = tenant.get(Operation, operation_id)
    require(session, actor=actor, app=tenant.get(App, operation.app_id), action=MANAGE_OPERATIONS)
    return retry_operation(
        session, workspace_id=workspace_id, operation_id=operation_id, actor=actor
    )


def mark_manual_done(
    session: Session, *, workspace_id: int, operation_id: int, actor: Actor
) -> Operation:
    """A person did the manual step in the app; the next check confirms it either way."""
    tenant = Tenant(session, workspace_id)
    operation = tenant.get(Operation, operation_id)
    app = tenant.get(App, operation.app_id)
    require(session, actor=actor, app=app, action=MANAGE_OPERATIONS)
    if operation.state != OperationState.MANUAL:
        raise Conflict(f"operation {operation_id} is {operation.state.value}, not a manual step")
    operation.state, operation.finished_at = OperationState.SUCCEEDED, utcnow()
    operation.result = {"outcome": "done_by_hand", "confirmed_by": actor.label}
    app.next_check_at = utcnow()
    record(
        session,
        workspace_id=workspace_id,
        actor=actor.label,
        action=AuditAction.OPERATION_MANUAL_DONE,
        target=f"app:{app.id}",
        details={"operation_id": operation.id, "kind": operation.kind.value},
        request_id=actor.request_id,
    )
    return operation
