"""An app's read-mostly tabs: Assets, Partners, History, Report and Operations.

Routes:
    GET  /apps/{app_id}/assets                     every asset with its type, owner and holders
    GET  /apps/{app_id}/assets/{asset_id}          who holds which tasks on one asset
    GET  /apps/{app_id}/partners                   agencies and clients, and what they hold
    GET  /apps/{app_id}/history                    check runs with counts and duration
    GET  /apps/{app_id}/history/{run_id}           the changes of one run (outside-Bastion marked)
    GET  /apps/{app_id}/report                     the open deprovisioning report
    POST /apps/{app_id}/report/confirm             how many people and seats applying removes
    POST /apps/{app_id}/report/apply               apply all or the selected items, once the
                                                   count confirmed is still the count
    POST /apps/{app_id}/report/dismiss             dismiss the selected items with a reason
    GET  /apps/{app_id}/operations                 queued, deferred, manual, failed, done
    POST /apps/{app_id}/operations/{op_id}/retry   retry a failed or deferred operation

Each tab asks ``actions/permissions.py`` what its API route asks: Assets, Partners and History
need view_details (and show holders, partner tasks and who asked for a check only with
view_people); one asset, one check's changes, Report and Operations need view_people.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Form, Request
from fastapi.responses import Response

from bastion.actions.operations import retry_operation
from bastion.actions.permissions import (
    APPLY_REPORT,
    MANAGE_APP,
    MANAGE_OPERATIONS,
    VIEW_DETAILS,
    VIEW_PEOPLE,
    require,
)
from bastion.actions.reports import ApplyPreview, apply_report, dismiss_items, preview_apply
from bastion.errors import NotFound
from bastion.queries import current_report, list_changes
from bastion.storage.models import App, Asset, CheckRun
from bastion.storage.models.enums import ReportItemState, ReportState
from bastion.storage.tenancy import Tenant
from bastion.web.context import (
    DB,
    Me,
    PageRoute,
    allowed,
    app_for,
    app_page,
    jobs_of,
    redirect,
    render,
)
from bastion.web.dialogs import dialog
from bastion.web.native_partners import partner_people
from bastion.web.reads import (
    accounts_by_id,
    asset_holders,
    asset_partners,
    assets_with_counts,
    holdings_by_account,
    operations_by_state,
    partners_with_assets,
    runs_page,
    user_names,
)

router = APIRouter(route_class=PageRoute)


@router.get("/apps/{app_id}/assets")
def assets_tab(request: Request, db: DB, me: Me, app_id: int) -> Response:
    app = app_for(db, me, app_id, VIEW_DETAILS)
    rows = assets_with_counts(db, app.id)
    return render(
        request, "apps/assets.html", {**app_page(db, me, app, "assets"), "rows": rows}, me=me
    )


@router.get("/apps/{app_id}/assets/{asset_id}")
def asset_detail(request: Request, db: DB, me: Me, app_id: int, asset_id: int) -> Response:
    app = app_for(db, me, app_id, VIEW_PEOPLE)
    asset = Tenant(db, me.workspace_id).get(Asset, asset_id)
    if asset.app_id != app.id:
        raise NotFound(f"Asset {asset_id} not found")
    return render(
        request,
        "apps/asset.html",
        {
            **app_page(db, me, app, "assets"),
            "asset": asset,
            "holders": asset_holders(db, asset.id),
            "partners": asset_partners(db, asset.id),
        },
        me=me,
    )


@router.get("/apps/{app_id}/partners")
def partners_tab(request: Request, db: DB, me: Me, app_id: int) -> Response:
    app = app_for(db, me, app_id, VIEW_DETAILS)
    return render(
        request,
        "apps/partners.html",
        {
            **app_page(db, me, app, "partners"),
            "rows": partners_with_assets(db, app.id),
            "people": partner_people(db, app.id),
            "manages_app": allowed(db, me, app, MANAGE_APP),
        },
        me=me,
    )


@router.get("/apps/{app_id}/history")
def history_tab(request: Request, db: DB, me: Me, app_id: int) -> Response:
    app = app_for(db, me, app_id, VIEW_DETAILS)
    runs = runs_page(db, app.id)
    page = app_page(db, me, app, "history")
    return render(
        request,
        "apps/history.html",
        {
            **page,
            "runs": runs,
            "people": user_names(db, {r.requested_by_id for r in runs})
            if page["sees_people"]
            else {},
        },
        me=me,
    )


@router.get("/apps/{app_id}/history/{run_id}")
def run_detail(request: Request, db: DB, me: Me, app_id: int, run_id: int) -> Response:
    app = app_for(db, me, app_id, VIEW_PEOPLE)
    run = Tenant(db, me.workspace_id).get(CheckRun, run_id)
    if run.app_id != app.id:
        raise NotFound(f"Check {run_id} not found")
    changes = list_changes(db, app.id, run.id)
    return render(
        request,
        "apps/run.html",
        {
            **app_page(db, me, app, "history"),
            "run": run,
            "changes": changes,
            "outside": sum(1 for c in changes if c.outside_bastion),
        },
        me=me,
    )


@router.get("/apps/{app_id}/report")
def report_tab(request: Request, db: DB, me: Me, app_id: int) -> Response:
    app = app_for(db, me, app_id, VIEW_PEOPLE)
    found = current_report(db, app.id)
    report, items = found if found is not None else (None, [])
    pending = [
        row for row in items if row[0].state in (ReportItemState.PENDING, ReportItemState.FAILED)
    ]
    applying = any(row[0].state == ReportItemState.APPLYING for row in items)
    return render(
        request,
        "apps/report.html",
        {
            **app_page(db, me, app, "report"),
            "report": report if report is not None and report.state == ReportState.OPEN else None,
            "last_closed": report
            if report is not None and report.state != ReportState.OPEN
            else None,
            "items": items,
            "pending": pending,
            "applying": applying,
            "holdings": holdings_by_account(db, [row[1].id for row in items]),
            "can_apply": allowed(db, me, app, APPLY_REPORT),
        },
        me=me,
    )


def _item_ids(values: list[str]) -> list[int]:
    return [int(v) for v in values if v.isdigit()]


def _apply_preview(
    db: DB, me: Me, app_id: int, report_id: int, scope: str, item_ids: list[str]
) -> tuple[App, ApplyPreview | None]:
    """What the form asks to apply, counted (None: "selected" with nothing selected)."""
    app = app_for(db, me, app_id)
    require(db, actor=me.actor, app=app, action=APPLY_REPORT)
    selected = _item_ids(item_ids) if scope == "selected" else None
    if selected is not None and not selected:
        return app, None
    preview = preview_apply(
        db, workspace_id=me.workspace_id, report_id=report_id, actor=me.actor, item_ids=selected
    )
    return app, preview


def _confirm_dialog(request: Request, db: DB, me: Me, app: App, preview: ApplyPreview) -> Response:
    found = current_report(db, app.id, preview.report_id)
    wanted = set(preview.item_ids)
    rows = [row for row in (found[1] if found else []) if row[0].id in wanted]
    return dialog(
        request,
        me,
        "apps/_report_confirm.html",
        {**app_page(db, me, app, "report"), "preview": preview, "rows": rows},
    )


@router.post("/apps/{app_id}/report/confirm")
def report_confirm(
    request: Request,
    db: DB,
    me: Me,
    app_id: int,
    report_id: Annotated[int, Form()],
    scope: Annotated[str, Form()] = "all",
    item_id: Annotated[list[str] | None, Form()] = None,
) -> Response:
    app, preview = _apply_preview(db, me, app_id, report_id, scope, item_id or [])
    if preview is None:
        return redirect(request, f"/apps/{app_id}/report", "Select at least one person.", "error")
    if not preview.item_ids:
        return redirect(request, f"/apps/{app_id}/report", "Nothing left to apply.", "info")
    return _confirm_dialog(request, db, me, app, preview)


@router.post("/apps/{app_id}/report/apply")
def report_apply(
    request: Request,
    db: DB,
    me: Me,
    app_id: int,
    report_id: Annotated[int, Form()],
    scope: Annotated[str, Form()] = "all",
    item_id: Annotated[list[str] | None, Form()] = None,
    confirmed: Annotated[str, Form()] = "",
) -> Response:
    """Applies what the confirmation showed; if the report changed since (or nothing was
    confirmed), the confirmation is shown again with the new counts."""
    app, preview = _apply_preview(db, me, app_id, report_id, scope, item_id or [])
    if preview is None:
        return redirect(request, f"/apps/{app_id}/report", "Select at least one person.", "error")
    if preview.item_ids and confirmed != preview.confirmation:
        return _confirm_dialog(request, db, me, app, preview)
    applied = apply_report(
        db,
        workspace_id=me.workspace_id,
        report_id=report_id,
        actor=me.actor,
        item_ids=list(preview.item_ids),
    )
    db.commit()
    jobs = jobs_of(request)
    for item in applied:
        if item.operation_id is not None:
            jobs.enqueue_operation(item.operation_id)
    count = len(applied)
    return redirect(
        request,
        f"/apps/{app_id}/report",
        f"{count} removal{'s' if count != 1 else ''} queued. Progress shows on each line."
        if count
        else "Nothing left to apply.",
        "success" if count else "info",
    )


@router.post("/apps/{app_id}/report/dismiss")
def report_dismiss(
    request: Request,
    db: DB,
    me: Me,
    app_id: int,
    report_id: Annotated[int, Form()],
    reason: Annotated[str, Form()] = "",
    item_id: Annotated[list[str] | None, Form()] = None,
) -> Response:
    app = app_for(db, me, app_id)
    require(db, actor=me.actor, app=app, action=APPLY_REPORT)
    ids = _item_ids(item_id or [])
    if not ids:
        return redirect(request, f"/apps/{app_id}/report", "Select at least one person.", "error")
    dismissed = dismiss_items(
        db,
        workspace_id=me.workspace_id,
        report_id=report_id,
        item_ids=ids,
        reason=reason,
        actor=me.actor,
    )
    db.commit()
    return redirect(
        request,
        f"/apps/{app_id}/report",
        f"{len(dismissed)} dismissed; those accounts stay.",
    )


@router.get("/apps/{app_id}/operations")
def operations_tab(request: Request, db: DB, me: Me, app_id: int) -> Response:
    app = app_for(db, me, app_id, VIEW_PEOPLE)
    grouped = operations_by_state(db, app.id)
    every = [op for ops in grouped.values() for op in ops]
    return render(
        request,
        "apps/operations.html",
        {
            **app_page(db, me, app, "operations"),
            "grouped": grouped,
            "accounts": accounts_by_id(db, {op.account_id for op in every}),
            "people": user_names(db, {op.requested_by_id for op in every}),
            "can_manage": allowed(db, me, app, MANAGE_OPERATIONS),
        },
        me=me,
    )


@router.post("/apps/{app_id}/operations/{operation_id}/retry")
def operation_retry(request: Request, db: DB, me: Me, app_id: int, operation_id: int) -> Response:
    app = app_for(db, me, app_id)
    require(db, actor=me.actor, app=app, action=MANAGE_OPERATIONS)
    operation = retry_operation(
        db, workspace_id=me.workspace_id, operation_id=operation_id, actor=me.actor
    )
    if operation.app_id != app.id:
        raise NotFound(f"Operation {operation_id} not found")
    db.commit()
    jobs_of(request).enqueue_operation(operation.id)
    return redirect(
        request, f"/apps/{app_id}/operations", f"Operation {operation_id} queued again."
    )
