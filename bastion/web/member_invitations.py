"""Inviting people to the app's business, and cancelling the invitations nobody accepted.

Routes:
    GET  /apps/{app_id}/members/invite                   e-mail, business role, asset tasks
                                                         (``add`` lists one more asset)
    POST /apps/{app_id}/members/invite                   queue the invitation in Meta
    GET  /apps/{app_id}/members/invitations              pending invitations with their age;
                                                         those older than N days are marked
    POST /apps/{app_id}/members/invitations/cancel-stale queue cancelling those older than N days
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Form, Request
from fastapi.responses import Response

from bastion.actions.members import cancel_stale_invitations, invite_person, pending_invitations
from bastion.actions.permissions import MANAGE_APP, MANAGE_MEMBERS
from bastion.actions.removal import FULL_CONTROL_TASK
from bastion.errors import Conflict, InvalidInput
from bastion.storage.models import App
from bastion.web.asset_task_form import AssetTaskForm, asset_ids, build_form, parse_ticks
from bastion.web.context import (
    DB,
    Me,
    PageRoute,
    Viewer,
    allowed,
    app_for,
    app_page,
    jobs_of,
    redirect,
)
from bastion.web.dialogs import dialog

router = APIRouter(route_class=PageRoute)
DEFAULT_STALE_DAYS = 30


def _invite_context(
    db: DB, me: Viewer, app: App, form: AssetTaskForm, email: str, role: str
) -> dict[str, Any]:
    return {
        **app_page(db, me, app, "members"),
        "form": form,
        "email": email,
        "role": role if role in ("ADMIN", "EMPLOYEE") else "EMPLOYEE",
        "full_control": FULL_CONTROL_TASK,
        "form_url": f"/apps/{app.id}/members/invite",
        "empty_rows": "No assets yet: the person gets only the business role. Add an asset to "
        "give them tasks on it.",
    }


@router.get("/apps/{app_id}/members/invite")
def invite_dialog(
    request: Request,
    db: DB,
    me: Me,
    app_id: int,
    email: str = "",
    role: str = "EMPLOYEE",
    add: str = "",
) -> Response:
    app = app_for(db, me, app_id, MANAGE_MEMBERS)
    form = build_form(
        db,
        app,
        account_id=None,
        listed=asset_ids(request.query_params.getlist("asset")),
        ticks=parse_ticks(request.query_params.getlist("task")),
        add=int(add) if add.isdigit() else None,
    )
    return dialog(
        request, me, "members/_invite.html", _invite_context(db, me, app, form, email, role)
    )


@router.post("/apps/{app_id}/members/invite")
def invite(
    request: Request,
    db: DB,
    me: Me,
    app_id: int,
    email: Annotated[str, Form()] = "",
    role: Annotated[str, Form()] = "EMPLOYEE",
    asset: Annotated[list[str] | None, Form()] = None,
    task: Annotated[list[str] | None, Form()] = None,
) -> Response:
    app = app_for(db, me, app_id, MANAGE_MEMBERS)
    form = build_form(
        db, app, account_id=None, listed=asset_ids(asset or []), ticks=parse_ticks(task or [])
    )
    try:
        operation = invite_person(
            db,
            workspace_id=me.workspace_id,
            app_id=app.id,
            email=email,
            role=role,
            asset_tasks={k: v for k, v in form.wanted(only_changed=False).items() if v},
            actor=me.actor,
        )
    except (InvalidInput, Conflict) as exc:
        db.rollback()
        context = _invite_context(db, me, app, form, email, role)
        context["error"] = exc.message
        context["field"] = exc.field if isinstance(exc, InvalidInput) else None
        return dialog(request, me, "members/_invite.html", context, status_code=400)
    db.commit()
    jobs_of(request).enqueue_operation(operation.id)
    return redirect(
        request,
        f"/apps/{app.id}/members?tab=unmatched",
        f"The invitation of {operation.parameters['email']} is queued (operation "
        f"#{operation.id}); it shows under Unmatched once Meta has sent it.",
    )


def _days(value: str, default: int) -> int:
    value = value.strip()
    if not value:
        return default
    if not value.isdigit():
        raise InvalidInput("older_than_days", "must be a whole number of days")
    return int(value)


def _stale_context(
    db: DB, me: Viewer, app: App, older_than_days: int, error: str | None = None
) -> dict[str, Any]:
    rows = pending_invitations(
        db,
        workspace_id=me.workspace_id,
        app_id=app.id,
        older_than_days=older_than_days,
        actor=me.actor,
    )
    return {
        **app_page(db, me, app, "members"),
        "rows": rows,
        "older_than_days": older_than_days,
        "stale": sum(1 for r in rows if r.older_than_limit),
        "error": error,
        "can_settings": allowed(db, me, app, MANAGE_APP),
    }


@router.get("/apps/{app_id}/members/invitations")
def invitations_dialog(
    request: Request, db: DB, me: Me, app_id: int, older_than_days: str = ""
) -> Response:
    app = app_for(db, me, app_id, MANAGE_MEMBERS)
    default = app.auto_cancel_invitations_days or DEFAULT_STALE_DAYS
    try:
        context = _stale_context(db, me, app, _days(older_than_days, default))
    except InvalidInput as exc:
        context = _stale_context(db, me, app, default, exc.message)
    return dialog(request, me, "members/_invitations.html", context)


@router.post("/apps/{app_id}/members/invitations/cancel-stale")
def cancel_stale(
    request: Request,
    db: DB,
    me: Me,
    app_id: int,
    older_than_days: Annotated[str, Form()] = "",
) -> Response:
    app = app_for(db, me, app_id, MANAGE_MEMBERS)
    try:
        days = _days(older_than_days, DEFAULT_STALE_DAYS)
        results = cancel_stale_invitations(
            db, workspace_id=me.workspace_id, app_id=app.id, older_than_days=days, actor=me.actor
        )
    except InvalidInput as exc:
        db.rollback()
        context = _stale_context(db, me, app, DEFAULT_STALE_DAYS, exc.message)
        return dialog(request, me, "members/_invitations.html", context, status_code=400)
    db.commit()
    jobs = jobs_of(request)
    for result in results:
        if result.operation_id is not None:
            jobs.enqueue_operation(result.operation_id)
    done = sum(1 for r in results if r.ok)
    failed = [r.message for r in results if not r.ok]
    message = (
        f"{done} invitation{'s' if done != 1 else ''} older than {days} days "
        f"{'is' if done == 1 else 'are'} being cancelled in Meta."
        if done
        else f"No pending invitation is older than {days} days."
    )
    if failed:
        message += f" {len(failed)} not cancelled: " + "; ".join(failed[:3])
    return redirect(request, f"/apps/{app.id}/members?tab=unmatched", message)
