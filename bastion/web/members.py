"""The Members tab: the user overview, its dialogs and the bulk actions.

Routes:
    GET  /apps/{app_id}/members                          tabs (System users apart, with token
                                                         hygiene), search, sort, pages (htmx
                                                         swaps rows)
    GET  /apps/{app_id}/members/{account_id}/{dialog}    match | exempt | remove | guest dialog
    GET  /apps/{app_id}/members/{account_id}/suggest     match dialog: people as you type
    POST /apps/{app_id}/members/{account_id}/match       match to a person as Owner or Collaborator
    POST /apps/{app_id}/members/{account_id}/exempt      exempt with a reason (optional expiry)
    POST /apps/{app_id}/members/{account_id}/unexempt    manage the account again
    POST /apps/{app_id}/members/{account_id}/reassign    back to Unmatched
    POST /apps/{app_id}/members/{account_id}/remove      queue the removal in Meta
    POST /apps/{app_id}/members/{account_id}/guest       invite as a guest user
    POST /apps/{app_id}/members/bulk/confirm             the bulk dialog (remove or exempt)
    POST /apps/{app_id}/members/bulk                     do it; one line of outcome per account

Each dialog is also a page of its own when htmx is not there (a link opened in a new tab).
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated, Any

from fastapi import APIRouter, Form, Request
from fastapi.responses import Response
from sqlalchemy import select

from bastion.actions.account_steps import require_person
from bastion.actions.members import (
    blast_radius,
    bulk_exempt,
    bulk_remove,
    exempt_account,
    invite_guest,
    match_account,
    remove_account,
    unexempt_account,
    unmatch_account,
)
from bastion.actions.permissions import MANAGE_MEMBERS, sees_every_account
from bastion.actions.removal import require_removable
from bastion.credential_status import credential_statuses
from bastion.errors import InvalidInput, NotFound
from bastion.matching import Identity, Person, SuggestionIndex
from bastion.storage.models import Account, App, User
from bastion.storage.models.enums import AppRole, UserStatus
from bastion.storage.tenancy import Tenant
from bastion.system_users import system_users
from bastion.web.context import (
    DB,
    Me,
    PageRoute,
    Viewer,
    allowed,
    app_for,
    app_page,
    is_htmx,
    jobs_of,
    redirect,
    render,
    runtime_of,
)
from bastion.web.member_table import TABS, MemberQuery, directory_candidates, member_page
from bastion.web.native_partners import partner_names
from bastion.web.reads import account_holdings

router = APIRouter(route_class=PageRoute)
DIALOGS = ("match", "exempt", "remove", "guest")


@router.get("/apps/{app_id}/members")
def members_tab(
    request: Request,
    db: DB,
    me: Me,
    app_id: int,
    tab: str = "onboarded",
    q: str = "",
    sort: str = "name",
    order: str = "asc",
    page: int = 1,
) -> Response:
    app = app_for(db, me, app_id)
    query = MemberQuery.clean(tab, q, sort, order, page)
    every = sees_every_account(db, user=me.user, app=app)
    result = member_page(db, app.id, query, only_user_id=None if every else me.user.id)
    context = {
        **app_page(db, me, app, "members"),
        "query": query,
        "result": result,
        "tabs": TABS,
        "partner_names": partner_names(db, app.id),
        "can_manage": allowed(db, me, app, MANAGE_MEMBERS),
        "sees_all": every,
        # Which rows have a saved login, with two-factor and rotation (never a value).
        "saved_logins": credential_statuses(
            db, actor=me.actor, app=app, account_ids=[row.account.id for row in result.rows]
        )
        if every
        else {},
    }
    if query.tab == "system_user":
        # Not people: their own table, with the token hygiene an owner looks at.
        context["system"] = system_users(db, app, query.q) if every else None
    # The search box and pager swap only the table; the tabs' counts stay.
    template = (
        ("members/_system_users.html" if query.tab == "system_user" else "members/_table.html")
        if request.headers.get("hx-target") == "members-table"
        else "members/tab.html"
    )
    return render(request, template, context, me=me)


def _account(db: DB, me: Viewer, app: App, account_id: int) -> Account:
    account = Tenant(db, me.workspace_id).get(Account, account_id)
    if account.app_id != app.id:
        raise NotFound(f"Account {account_id} not found")
    return account


def _back(app: App, account: Account) -> str:
    return f"/apps/{app.id}/members?tab={account.state.value}"


def _dialog(
    request: Request, me: Viewer, name: str, context: dict[str, Any], status_code: int = 200
) -> Response:
    template = f"members/_{name}.html"
    if is_htmx(request):
        return render(request, template, context, me=me, status_code=200)
    return render(
        request,
        "members/dialog_page.html",
        {**context, "inner": template},
        status_code=status_code,
        me=me,
    )


def _suggestions(db: DB, me: Viewer, account: Account, q: str) -> list[tuple[User, str]]:
    """People matching what was typed; with nothing typed, the closest names to the account."""
    tenant = Tenant(db, me.workspace_id)
    if q.strip():
        return [(u, "") for u in directory_candidates(db, me.workspace_id, q)]
    people = tenant.all(User, User.status == UserStatus.ACTIVE, User.removed_at.is_(None))
    index = SuggestionIndex(
        Person(u.id, u.email, tuple(e.email for e in u.emails), u.display_name, True)
        for u in people
    )
    by_id = {u.id: u for u in people}
    found = index.suggest(Identity(account.id, account.email, account.name), limit=5)
    return [(by_id[s.user_id], s.reason) for s in found if s.user_id in by_id]


def _dialog_context(db: DB, me: Viewer, app: App, account: Account, name: str) -> dict[str, Any]:
    context: dict[str, Any] = {
        **app_page(db, me, app, "members"),
        "account": account,
        "dialog": name,
    }
    if name == "match":
        context["suggestions"] = _suggestions(db, me, account, "")
    elif name == "remove":
        context["holdings"] = account_holdings(db, account.id)
        context["radius"] = blast_radius(db, workspace_id=me.workspace_id, account_id=account.id)
    return context


@router.get("/apps/{app_id}/members/{account_id}/suggest")
def suggest(
    request: Request, db: DB, me: Me, app_id: int, account_id: int, q: str = ""
) -> Response:
    app = app_for(db, me, app_id, MANAGE_MEMBERS)
    account = _account(db, me, app, account_id)
    return render(
        request,
        "members/_suggestions.html",
        {"suggestions": _suggestions(db, me, account, q), "account": account},
        me=me,
    )


@router.get("/apps/{app_id}/members/{account_id}/{dialog}")
def open_dialog(
    request: Request, db: DB, me: Me, app_id: int, account_id: int, dialog: str
) -> Response:
    if dialog not in DIALOGS:
        raise NotFound("There is no such page")
    app = app_for(db, me, app_id, MANAGE_MEMBERS)
    account = _account(db, me, app, account_id)
    # The people actions refuse a system user as the actions themselves do.
    if dialog == "remove":
        require_removable(app, account)
    require_person(app, account, "matched, exempted or invited as a guest")
    return _dialog(request, me, dialog, _dialog_context(db, me, app, account, dialog))


def _failed(
    request: Request, db: DB, me: Viewer, app: App, account: Account, name: str, exc: InvalidInput
) -> Response:
    db.rollback()
    context = _dialog_context(db, me, app, account, name)
    context["error"] = exc.message.split(": ", 1)[-1]
    context["field"] = exc.field
    return _dialog(request, me, name, context, status_code=400)


def _label(account: Account) -> str:
    return account.name or account.email or account.external_id


@router.post("/apps/{app_id}/members/{account_id}/match")
def match(
    request: Request,
    db: DB,
    me: Me,
    app_id: int,
    account_id: int,
    user_id: Annotated[str, Form()] = "",
    role: Annotated[str, Form()] = "collaborator",
) -> Response:
    app = app_for(db, me, app_id, MANAGE_MEMBERS)
    account = _account(db, me, app, account_id)
    try:
        if not user_id.isdigit():
            raise InvalidInput("user_id", "pick the person this account belongs to")
        match_account(
            db,
            workspace_id=me.workspace_id,
            account_id=account.id,
            user_id=int(user_id),
            role=AppRole(role) if role in ("owner", "collaborator") else AppRole.COLLABORATOR,
            actor=me.actor,
            base_url=runtime_of(request).settings.base_url,
        )
    except InvalidInput as exc:
        return _failed(request, db, me, app, account, "match", exc)
    person = db.get_one(User, int(user_id))
    db.commit()
    return redirect(
        request,
        f"/apps/{app.id}/members?tab={account.state.value}",
        f"{_label(account)} is matched to {person.display_name or person.email} as {role}.",
    )


def _expiry(value: str) -> datetime | None:
    if not value.strip():
        return None
    try:
        day = datetime.strptime(value.strip(), "%Y-%m-%d").replace(tzinfo=UTC)
    except ValueError:
        raise InvalidInput("expires_at", "use a date like 2030-01-31") from None
    return day


@router.post("/apps/{app_id}/members/{account_id}/exempt")
def exempt(
    request: Request,
    db: DB,
    me: Me,
    app_id: int,
    account_id: int,
    reason: Annotated[str, Form()] = "",
    expires_at: Annotated[str, Form()] = "",
) -> Response:
    app = app_for(db, me, app_id, MANAGE_MEMBERS)
    account = _account(db, me, app, account_id)
    back = _back(app, account)
    try:
        exempt_account(
            db,
            workspace_id=me.workspace_id,
            account_id=account.id,
            reason=reason,
            expires_at=_expiry(expires_at),
            actor=me.actor,
        )
    except InvalidInput as exc:
        return _failed(request, db, me, app, account, "exempt", exc)
    db.commit()
    return redirect(request, back, f"{_label(account)} is exempted: {reason.strip()}")


@router.post("/apps/{app_id}/members/{account_id}/unexempt")
def unexempt(request: Request, db: DB, me: Me, app_id: int, account_id: int) -> Response:
    app = app_for(db, me, app_id, MANAGE_MEMBERS)
    account = _account(db, me, app, account_id)
    unexempt_account(db, workspace_id=me.workspace_id, account_id=account.id, actor=me.actor)
    db.commit()
    return redirect(
        request,
        f"/apps/{app.id}/members?tab=exempted",
        f"{_label(account)} is managed again ({account.state.value}).",
    )


@router.post("/apps/{app_id}/members/{account_id}/reassign")
def reassign(request: Request, db: DB, me: Me, app_id: int, account_id: int) -> Response:
    app = app_for(db, me, app_id, MANAGE_MEMBERS)
    account = _account(db, me, app, account_id)
    back = _back(app, account)
    unmatch_account(db, workspace_id=me.workspace_id, account_id=account.id, actor=me.actor)
    db.commit()
    return redirect(request, back, f"{_label(account)} is unmatched and back in Unmatched.")


@router.post("/apps/{app_id}/members/{account_id}/remove")
def remove(
    request: Request,
    db: DB,
    me: Me,
    app_id: int,
    account_id: int,
    force: Annotated[str, Form()] = "",
    idempotency_key: Annotated[str, Form()] = "",
) -> Response:
    app = app_for(db, me, app_id, MANAGE_MEMBERS)
    account = _account(db, me, app, account_id)
    back = _back(app, account)
    operation = remove_account(
        db,
        workspace_id=me.workspace_id,
        account_id=account.id,
        actor=me.actor,
        force=force == "yes",
        idempotency_key=idempotency_key or None,
    )
    db.commit()
    jobs_of(request).enqueue_operation(operation.id)
    return redirect(
        request,
        back,
        f"Removal of {_label(account)} is queued (operation #{operation.id}). "
        "The Operations tab shows its progress.",
    )


@router.post("/apps/{app_id}/members/{account_id}/guest")
def guest(
    request: Request,
    db: DB,
    me: Me,
    app_id: int,
    account_id: int,
    email: Annotated[str, Form()] = "",
    name: Annotated[str, Form()] = "",
) -> Response:
    app = app_for(db, me, app_id, MANAGE_MEMBERS)
    account = _account(db, me, app, account_id)
    try:
        invite = invite_guest(
            db,
            workspace_id=me.workspace_id,
            email=email,
            name=name,
            actor=me.actor,
            account_id=account.id,
            base_url=runtime_of(request).settings.base_url,
        )
    except InvalidInput as exc:
        return _failed(request, db, me, app, account, "guest", exc)
    db.commit()
    return redirect(
        request,
        f"/apps/{app.id}/members?tab=guest",
        f"{invite.user.email} is invited as a guest; they get an e-mail to set a password.",
    )


def _selected(db: DB, me: Viewer, app: App, values: list[str]) -> list[Account]:
    ids = [int(v) for v in values if v.isdigit()]
    if not ids:
        return []
    return list(
        db.scalars(
            select(Account)
            .where(
                Account.app_id == app.id,
                Account.id.in_(ids),
                Account.workspace_id == me.workspace_id,
            )
            .order_by(Account.name)
        )
    )


@router.post("/apps/{app_id}/members/bulk/confirm")
def bulk_confirm(
    request: Request,
    db: DB,
    me: Me,
    app_id: int,
    action: Annotated[str, Form()] = "",
    account_id: Annotated[list[str] | None, Form()] = None,
    tab: Annotated[str, Form()] = "unmatched",
) -> Response:
    app = app_for(db, me, app_id, MANAGE_MEMBERS)
    accounts = _selected(db, me, app, account_id or [])
    if not accounts:
        return redirect(
            request, f"/apps/{app.id}/members?tab={tab}", "Select at least one account.", "error"
        )
    return _dialog(
        request,
        me,
        "bulk",
        {
            **app_page(db, me, app, "members"),
            "accounts": accounts,
            "action": "remove" if action == "remove" else "exempt",
            "back_tab": tab,
        },
    )


@router.post("/apps/{app_id}/members/bulk")
def bulk(
    request: Request,
    db: DB,
    me: Me,
    app_id: int,
    action: Annotated[str, Form()] = "",
    account_id: Annotated[list[str] | None, Form()] = None,
    reason: Annotated[str, Form()] = "",
    expires_at: Annotated[str, Form()] = "",
    tab: Annotated[str, Form()] = "unmatched",
) -> Response:
    app = app_for(db, me, app_id, MANAGE_MEMBERS)
    accounts = _selected(db, me, app, account_id or [])
    names = {a.id: _label(a) for a in accounts}
    ids = list(names)
    if action == "remove":
        results = bulk_remove(db, workspace_id=me.workspace_id, account_ids=ids, actor=me.actor)
    else:
        results = bulk_exempt(
            db,
            workspace_id=me.workspace_id,
            account_ids=ids,
            reason=reason,
            expires_at=_expiry(expires_at),
            actor=me.actor,
        )
    db.commit()
    jobs = jobs_of(request)
    for result in results:
        if result.ok and result.operation_id is not None:
            jobs.enqueue_operation(result.operation_id)
    done = sum(1 for r in results if r.ok)
    failed = [f"{names.get(r.account_id, r.account_id)}: {r.message}" for r in results if not r.ok]
    verb = "removals queued" if action == "remove" else "exempted"
    message = f"{done} {verb}."
    if failed:
        message += f" {len(failed)} not done — " + "; ".join(failed[:5])
    return redirect(
        request,
        f"/apps/{app.id}/members?tab={tab}",
        message,
        "error" if failed and not done else "success",
    )
