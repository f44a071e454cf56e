"""Members tab dialogs that change what an account holds: its business role and its asset
tasks, and an admin claiming their own account.

Routes:
    GET  /apps/{app_id}/members/{account_id}/role     the business role dialog
    POST /apps/{app_id}/members/{account_id}/role     queue the change; full control for an
                                                      account that is not onboarded asks first
    GET  /apps/{app_id}/members/{account_id}/tasks    the account's assets with task checkboxes
                                                      (``add`` lists one more asset)
    POST /apps/{app_id}/members/{account_id}/tasks    queue what takes each changed asset to its
                                                      ticked tasks (asks first, as above)
    POST /apps/{app_id}/members/{account_id}/claim    the signed-in admin claims it as Owner

Mounted before members.py, whose ``/{account_id}/{dialog}`` would answer these GETs otherwise.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Form, Request
from fastapi.responses import Response

from bastion.actions.members import UnvouchedFullControl, change_role, claim_owner, set_asset_tasks
from bastion.actions.permissions import MANAGE_MEMBERS
from bastion.actions.removal import BUSINESS_ROLES, FULL_CONTROL_TASK
from bastion.errors import Conflict, InvalidInput
from bastion.storage.models import Account, App
from bastion.web.asset_task_form import AssetTaskForm, asset_ids, build_form, parse_ticks
from bastion.web.context import (
    DB,
    Me,
    PageRoute,
    Viewer,
    app_for,
    app_page,
    enqueue_operations,
    jobs_of,
    redirect,
    runtime_of,
)
from bastion.web.dialogs import account_of, dialog, label_of

router = APIRouter(route_class=PageRoute)


def _back(app: App, account: Account) -> str:
    return f"/apps/{app.id}/members?tab={account.state.value}"


def _role_context(db: DB, me: Viewer, app: App, account: Account) -> dict[str, Any]:
    return {
        **app_page(db, me, app, "members"),
        "account": account,
        "roles": BUSINESS_ROLES,
        "chosen": account.app_role if account.app_role in BUSINESS_ROLES else "EMPLOYEE",
    }


@router.get("/apps/{app_id}/members/{account_id}/role")
def role_dialog(request: Request, db: DB, me: Me, app_id: int, account_id: int) -> Response:
    app = app_for(db, me, app_id, MANAGE_MEMBERS)
    account = account_of(db, me, app, account_id)
    return dialog(request, me, "members/_role.html", _role_context(db, me, app, account))


@router.post("/apps/{app_id}/members/{account_id}/role")
def role_change(
    request: Request,
    db: DB,
    me: Me,
    app_id: int,
    account_id: int,
    role: Annotated[str, Form()] = "",
    confirm_unvouched: Annotated[str, Form()] = "",
) -> Response:
    app = app_for(db, me, app_id, MANAGE_MEMBERS)
    account = account_of(db, me, app, account_id)
    try:
        operation = change_role(
            db,
            workspace_id=me.workspace_id,
            account_id=account.id,
            role=role,
            actor=me.actor,
            confirm_unvouched=confirm_unvouched == "yes",
        )
    except UnvouchedFullControl as exc:
        db.rollback()
        context = {**_role_context(db, me, app, account), "chosen": role, "risk": exc.risk}
        return dialog(request, me, "members/_role.html", context, status_code=409)
    except (InvalidInput, Conflict) as exc:
        db.rollback()
        context = {**_role_context(db, me, app, account), "error": exc.message}
        return dialog(request, me, "members/_role.html", context, status_code=400)
    db.commit()
    jobs_of(request).enqueue_operation(operation.id)
    return redirect(
        request,
        _back(app, account),
        f"The role change of {label_of(account)} to {role.upper()} is queued "
        f"(operation #{operation.id}). The Operations tab shows its progress.",
    )


def _tasks_context(
    db: DB, me: Viewer, app: App, account: Account, form: AssetTaskForm
) -> dict[str, Any]:
    return {
        **app_page(db, me, app, "members"),
        "account": account,
        "form": form,
        "full_control": FULL_CONTROL_TASK,
        "form_url": f"/apps/{app.id}/members/{account.id}/tasks",
    }


@router.get("/apps/{app_id}/members/{account_id}/tasks")
def tasks_dialog(
    request: Request, db: DB, me: Me, app_id: int, account_id: int, add: str = ""
) -> Response:
    app = app_for(db, me, app_id, MANAGE_MEMBERS)
    account = account_of(db, me, app, account_id)
    listed = request.query_params.getlist("asset")
    form = build_form(
        db,
        app,
        account_id=account.id,
        listed=asset_ids(listed) if listed else None,
        ticks=parse_ticks(request.query_params.getlist("task")) if listed else None,
        add=int(add) if add.isdigit() else None,
    )
    return dialog(request, me, "members/_tasks.html", _tasks_context(db, me, app, account, form))


@router.post("/apps/{app_id}/members/{account_id}/tasks")
def tasks_change(
    request: Request,
    db: DB,
    me: Me,
    app_id: int,
    account_id: int,
    asset: Annotated[list[str] | None, Form()] = None,
    task: Annotated[list[str] | None, Form()] = None,
    force: Annotated[str, Form()] = "",
    confirm_unvouched: Annotated[str, Form()] = "",
) -> Response:
    app = app_for(db, me, app_id, MANAGE_MEMBERS)
    account = account_of(db, me, app, account_id)
    form = build_form(
        db,
        app,
        account_id=account.id,
        listed=asset_ids(asset or []),
        ticks=parse_ticks(task or []),
    )
    context = _tasks_context(db, me, app, account, form)
    wanted = form.wanted(only_changed=True)
    try:
        if not wanted:
            raise InvalidInput("asset_tasks", "nothing changed: tick or untick a task first")
        operations = set_asset_tasks(
            db,
            workspace_id=me.workspace_id,
            account_id=account.id,
            asset_tasks=wanted,
            actor=me.actor,
            force=force == "yes",
            confirm_unvouched=confirm_unvouched == "yes",
        )
    except UnvouchedFullControl as exc:
        db.rollback()
        context["risk"] = exc.risk
        return dialog(request, me, "members/_tasks.html", context, status_code=409)
    except (InvalidInput, Conflict) as exc:
        db.rollback()
        context["error"] = exc.message.removeprefix("asset_tasks: ")
        # Taking MANAGE away from the last one holding it: offer to do it anyway.
        context["offer_force"] = any(
            FULL_CONTROL_TASK in row.held and FULL_CONTROL_TASK not in row.ticked
            for row in form.rows
        )
        return dialog(request, me, "members/_tasks.html", context, status_code=400)
    db.commit()
    enqueue_operations(request, operations)
    count = len(wanted)
    return redirect(
        request,
        _back(app, account),
        f"Task changes for {label_of(account)} on {count} asset{'s' if count != 1 else ''} are "
        f"queued ({len(operations)} operation{'s' if len(operations) != 1 else ''}). "
        "The Operations tab shows their progress.",
    )


@router.post("/apps/{app_id}/members/{account_id}/claim")
def claim(request: Request, db: DB, me: Me, app_id: int, account_id: int) -> Response:
    app = app_for(db, me, app_id, MANAGE_MEMBERS)
    account = account_of(db, me, app, account_id)
    claim_owner(
        db,
        workspace_id=me.workspace_id,
        account_id=account.id,
        actor=me.actor,
        base_url=runtime_of(request).settings.base_url,
    )
    db.commit()
    return redirect(
        request,
        _back(app, account),
        f"{label_of(account)} is yours now: matched to you as Owner of {app.label}.",
    )
