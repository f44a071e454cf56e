"""The operations outbox: changes queued for an app.

GET  /api/v1/apps/{app_id}/operations            newest first, optionally by state
GET  /api/v1/operations/{operation_id}           one operation
POST /api/v1/operations/{operation_id}/retry     queue a failed or deferred one again
POST /api/v1/operations/{operation_id}/done      confirm a manual step was done by hand
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query, Request

from bastion.actions.operation_decisions import mark_manual_done, retry
from bastion.actions.permissions import VIEW_PEOPLE
from bastion.api.auth import DB, CurrentPrincipal
from bastion.api.common import PathId, app_for, enqueue_operations
from bastion.api.errors import READ_ERRORS, WRITE_ERRORS
from bastion.api.schemas import OperationOut
from bastion.queries import list_operations
from bastion.storage.models import Operation
from bastion.storage.models.enums import OperationState
from bastion.storage.tenancy import Tenant

router = APIRouter(tags=["operations"])


@router.get("/apps/{app_id}/operations", responses=READ_ERRORS)
def operations(
    app_id: PathId,
    session: DB,
    principal: CurrentPrincipal,
    state: Annotated[list[OperationState] | None, Query()] = None,
) -> list[OperationOut]:
    app = app_for(session, principal, app_id, VIEW_PEOPLE)
    return [OperationOut.of(o) for o in list_operations(session, app.id, state)]


@router.get("/operations/{operation_id}", responses=READ_ERRORS)
def get_operation(operation_id: PathId, session: DB, principal: CurrentPrincipal) -> OperationOut:
    operation = Tenant(session, principal.workspace_id).get(Operation, operation_id)
    app_for(session, principal, operation.app_id, VIEW_PEOPLE)
    return OperationOut.of(operation)


@router.post("/operations/{operation_id}/retry", status_code=202, responses=WRITE_ERRORS)
def retry_operation(
    operation_id: PathId, request: Request, session: DB, principal: CurrentPrincipal
) -> OperationOut:
    operation = retry(
        session,
        workspace_id=principal.workspace_id,
        operation_id=operation_id,
        actor=principal.actor,
    )
    session.commit()
    enqueue_operations(request, [operation.id])
    return OperationOut.of(operation)


@router.post("/operations/{operation_id}/done", responses=WRITE_ERRORS)
def manual_done(operation_id: PathId, session: DB, principal: CurrentPrincipal) -> OperationOut:
    operation = mark_manual_done(
        session,
        workspace_id=principal.workspace_id,
        operation_id=operation_id,
        actor=principal.actor,
    )
    session.commit()
    return OperationOut.of(operation)
