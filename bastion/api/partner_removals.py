"""Removing a partner business with its residue, as one batch applied once.

POST /api/v1/apps/{app_id}/partners/{partner_id}/removal         gather the batch (again)
GET  /api/v1/apps/{app_id}/partners/{partner_id}/removal         the partner's latest batch
POST /api/v1/apps/{app_id}/partners/{partner_id}/removal/apply   apply the kept items once
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

from fastapi import APIRouter, Request
from pydantic import BaseModel, ConfigDict, Field, StrictBool
from sqlalchemy.orm import Session

from bastion.actions import partner_removal
from bastion.actions.partner_removal import RemovalPreview, RemovalView
from bastion.actions.permissions import REMOVE_PARTNER, VIEW_PEOPLE, can
from bastion.api.auth import DB, CurrentPrincipal, Principal
from bastion.api.common import BodyId, PathId, app_for, enqueue_operations
from bastion.api.errors import READ_ERRORS, WRITE_ERRORS
from bastion.errors import Conflict, NotFound
from bastion.storage.models import Partner
from bastion.storage.tenancy import Tenant

router = APIRouter(tags=["partners"])


# An e-mail domain as an owner types it (``agency.example`` or ``@agency.example``); the action
# lowercases it (actions/partner_residue.clean_domains).
Domain = Annotated[
    str,
    Field(
        min_length=4,
        max_length=253,
        pattern=r"^@?([A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?\.)+[A-Za-z]{2,63}$",
    ),
]


class GatherIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    local_partner_id: BodyId | None = None
    domains: list[Domain] = Field(default_factory=list, max_length=20)


class ApplyIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    # The items kept ticked; null keeps every item. The others are trimmed: they stay.
    item_ids: list[BodyId] | None = Field(default=None, max_length=5000)
    force: StrictBool = False


class HoldOut(BaseModel):
    asset: str
    tasks: list[str]


class RemovalItemOut(BaseModel):
    id: int
    kind: str
    target_external_id: str
    label: str
    reason: str
    # pending, trimmed, or the operation's state (queued, running, succeeded, failed …)
    status: str
    result: str | None
    operation_id: int | None
    account_id: int | None
    asset_id: int | None
    holds: list[HoldOut]


class RemovalPreviewOut(BaseModel):
    item_ids: list[int]
    people: int
    seats: int
    invitations: int
    partner_accesses: int
    ends_partnership: bool
    orphaned_assets: list[str]
    summary: str


class RemovalOut(BaseModel):
    id: int
    app_id: int
    partner_id: int
    partner_name: str
    relation: str
    local_partner_id: int | None
    domains: list[str]
    created_at: datetime
    applied_at: datetime | None
    forced: bool
    items: list[RemovalItemOut]
    # What applying every kept item would do now (owners only); ``problem`` says why not.
    preview: RemovalPreviewOut | None
    problem: str | None = None


class AppliedOut(RemovalOut):
    operations: list[int]


def _partner(session: Session, principal: Principal, app_id: int, partner_id: int) -> Partner:
    partner = Tenant(session, principal.workspace_id).get(Partner, partner_id)
    if partner.app_id != app_id:
        raise NotFound(f"partner {partner_id} not found")
    return partner


def _preview_out(preview: RemovalPreview) -> RemovalPreviewOut:
    return RemovalPreviewOut(
        item_ids=list(preview.item_ids),
        people=preview.people,
        seats=preview.seats,
        invitations=preview.invitations,
        partner_accesses=preview.partner_accesses,
        ends_partnership=preview.ends_partnership,
        orphaned_assets=list(preview.orphaned_assets),
        summary=preview.summary,
    )


def _out(session: Session, principal: Principal, removal_id: int) -> RemovalOut:
    view: RemovalView = partner_removal.read_partner_removal(
        session, workspace_id=principal.workspace_id, removal_id=removal_id, actor=principal.actor
    )
    preview, problem = None, None
    app = app_for(session, principal, view.removal.app_id, VIEW_PEOPLE)
    if can(session, user=principal.user, app=app, action=REMOVE_PARTNER):
        try:
            preview = _preview_out(
                partner_removal.preview_partner_removal(
                    session,
                    workspace_id=principal.workspace_id,
                    removal_id=removal_id,
                    actor=principal.actor,
                )
            )
        except Conflict as exc:
            problem = exc.message
    removal = view.removal
    return RemovalOut(
        id=removal.id,
        app_id=removal.app_id,
        partner_id=view.partner.id,
        partner_name=view.partner.name,
        relation=view.partner.relation.value,
        local_partner_id=removal.local_partner_id,
        domains=list(removal.domains),
        created_at=removal.created_at,
        applied_at=removal.applied_at,
        forced=removal.forced,
        items=[
            RemovalItemOut(
                id=row.item.id,
                kind=row.item.kind.value,
                target_external_id=row.item.target_external_id,
                label=row.item.label,
                reason=row.item.reason,
                status=row.status,
                result=row.result,
                operation_id=row.item.operation_id,
                account_id=row.item.account_id,
                asset_id=row.item.asset_id,
                holds=[HoldOut(asset=name, tasks=list(tasks)) for name, tasks in row.holds],
            )
            for row in view.rows
        ],
        preview=preview,
        problem=problem,
    )


@router.post(
    "/apps/{app_id}/partners/{partner_id}/removal", status_code=201, responses=WRITE_ERRORS
)
def gather(
    app_id: PathId, partner_id: PathId, body: GatherIn, session: DB, principal: CurrentPrincipal
) -> RemovalOut:
    app = app_for(session, principal, app_id, REMOVE_PARTNER)
    removal = partner_removal.gather_partner_removal(
        session,
        workspace_id=principal.workspace_id,
        app_id=app.id,
        partner_id=_partner(session, principal, app.id, partner_id).id,
        actor=principal.actor,
        local_partner_id=body.local_partner_id,
        domains=body.domains,
    )
    session.commit()
    return _out(session, principal, removal.id)


@router.get("/apps/{app_id}/partners/{partner_id}/removal", responses=READ_ERRORS)
def read(
    app_id: PathId, partner_id: PathId, session: DB, principal: CurrentPrincipal
) -> RemovalOut:
    app = app_for(session, principal, app_id, VIEW_PEOPLE)
    partner = _partner(session, principal, app.id, partner_id)
    removal = partner_removal.latest_removal(session, partner.id)
    if removal is None:
        raise NotFound(f"no removal gathered for partner {partner_id}; POST to gather one")
    return _out(session, principal, removal.id)


@router.post(
    "/apps/{app_id}/partners/{partner_id}/removal/apply", status_code=202, responses=WRITE_ERRORS
)
def apply(
    app_id: PathId,
    partner_id: PathId,
    body: ApplyIn,
    request: Request,
    session: DB,
    principal: CurrentPrincipal,
) -> AppliedOut:
    app = app_for(session, principal, app_id, REMOVE_PARTNER)
    partner = _partner(session, principal, app.id, partner_id)
    removal = partner_removal.latest_removal(session, partner.id)
    if removal is None:
        raise NotFound(f"no removal gathered for partner {partner_id}; POST …/removal first")
    queued = partner_removal.apply_partner_removal(
        session,
        workspace_id=principal.workspace_id,
        removal_id=removal.id,
        actor=principal.actor,
        kept_item_ids=body.item_ids,
        force=body.force,
    )
    session.commit()
    enqueue_operations(request, [o.id for o in queued])
    out = _out(session, principal, removal.id)
    return AppliedOut(**out.model_dump(), operations=[o.id for o in queued])
