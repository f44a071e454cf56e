"""Deprovisioning reports.

GET  /api/v1/apps/{app_id}/reports          reports of an app, newest first
GET  /api/v1/reports/{report_id}            one report with its items
POST /api/v1/reports/{report_id}/apply      queue a removal per pending item (all or some)
POST /api/v1/reports/{report_id}/dismiss    keep some accounts, with a reason
"""

from __future__ import annotations

from datetime import datetime

from fastapi import APIRouter, Request
from pydantic import BaseModel, ConfigDict, Field

from bastion.actions.permissions import APPLY_REPORT, VIEW_PEOPLE
from bastion.actions.reports import apply_report, dismiss_items
from bastion.api.auth import DB, CurrentPrincipal
from bastion.api.common import NOT_BLANK, BodyId, PathId, app_for, enqueue_operations
from bastion.api.errors import READ_ERRORS, WRITE_ERRORS
from bastion.queries import current_report
from bastion.storage.models import Report, ReportItem
from bastion.storage.tenancy import Tenant

router = APIRouter(tags=["reports"])


class ReportOut(BaseModel):
    id: int
    app_id: int
    state: str
    created_at: datetime
    closed_at: datetime | None


class ReportItemOut(BaseModel):
    id: int
    account_id: int
    account_email: str | None
    account_name: str
    user_id: int | None
    user_name: str | None
    reason: str
    state: str
    result: str | None
    dismissed_reason: str | None
    operation_id: int | None


class ReportDetail(ReportOut):
    items: list[ReportItemOut]


class ApplyIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    item_ids: list[BodyId] | None = Field(default=None, max_length=1000)


class DismissIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    item_ids: list[BodyId] = Field(min_length=1, max_length=1000)
    reason: str = Field(min_length=1, max_length=500, pattern=NOT_BLANK)


def _report_out(r: Report) -> ReportOut:
    return ReportOut(
        id=r.id,
        app_id=r.app_id,
        state=r.state.value,
        created_at=r.created_at,
        closed_at=r.closed_at,
    )


def _item_out(item: ReportItem) -> ReportItemOut:
    return ReportItemOut(
        id=item.id,
        account_id=item.account_id,
        account_email=None,
        account_name="",
        user_id=item.user_id,
        user_name=None,
        reason=item.reason,
        state=item.state.value,
        result=item.result,
        dismissed_reason=item.dismissed_reason,
        operation_id=item.operation_id,
    )


@router.get("/apps/{app_id}/reports", responses=READ_ERRORS)
def list_reports(app_id: PathId, session: DB, principal: CurrentPrincipal) -> list[ReportOut]:
    app = app_for(session, principal, app_id, VIEW_PEOPLE)
    rows = Tenant(session, principal.workspace_id).all(Report, Report.app_id == app.id)
    return [_report_out(r) for r in sorted(rows, key=lambda r: -r.id)]


@router.get("/reports/{report_id}", responses=READ_ERRORS)
def get_report(report_id: PathId, session: DB, principal: CurrentPrincipal) -> ReportDetail:
    report = Tenant(session, principal.workspace_id).get(Report, report_id)
    app_for(session, principal, report.app_id, VIEW_PEOPLE)
    found = current_report(session, report.app_id, report.id)
    items = []
    for item, account, user in found[1] if found else []:
        out = _item_out(item)
        out.account_email, out.account_name = account.email, account.name
        out.user_name = user.display_name if user else None
        items.append(out)
    return ReportDetail(**_report_out(report).model_dump(), items=items)


@router.post("/reports/{report_id}/apply", status_code=202, responses=WRITE_ERRORS)
def apply(
    report_id: PathId, body: ApplyIn, request: Request, session: DB, principal: CurrentPrincipal
) -> list[ReportItemOut]:
    report = Tenant(session, principal.workspace_id).get(Report, report_id)
    app_for(session, principal, report.app_id, APPLY_REPORT)
    items = apply_report(
        session,
        workspace_id=principal.workspace_id,
        report_id=report_id,
        actor=principal.actor,
        item_ids=body.item_ids,
    )
    session.commit()
    enqueue_operations(request, [i.operation_id for i in items])
    return [_item_out(i) for i in items]


@router.post("/reports/{report_id}/dismiss", responses=WRITE_ERRORS)
def dismiss(
    report_id: PathId, body: DismissIn, session: DB, principal: CurrentPrincipal
) -> list[ReportItemOut]:
    report = Tenant(session, principal.workspace_id).get(Report, report_id)
    app_for(session, principal, report.app_id, APPLY_REPORT)
    items = dismiss_items(
        session,
        workspace_id=principal.workspace_id,
        report_id=report_id,
        item_ids=body.item_ids,
        reason=body.reason,
        actor=principal.actor,
    )
    session.commit()
    return [_item_out(i) for i in items]
