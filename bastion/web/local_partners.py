"""Local partners and guest users: outsiders whose Bastion identity Bastion manages.

Routes:
    GET  /directory/partners                        every local partner and its guests (a
                                                    partner's admins see their own), and the
                                                    guests of no partner
    GET  /directory/partners/new                    the new local partner dialog (admins)
    POST /directory/partners                        create it
    GET  /directory/partners/{partner_id}/invite    invite a guest into the partner (admins and
                                                    the partner's admins)
    POST /directory/partners/{partner_id}/invite    the guest is e-mailed a set-password link
    GET  /directory/guests/invite                   invite a guest of no partner (admins)
    POST /directory/guests/invite
    GET  /directory/people/{user_id}/link           link a guest to an unmatched app account
                                                    (whoever may match accounts of that app)
    POST /directory/people/{user_id}/link           a manual match: the account moves to Guest
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Form, Request
from fastapi.responses import Response
from sqlalchemy import select

from bastion.actions.guests import (
    create_local_partner,
    invite_guest,
    invite_partner_guest,
    partners_led_by,
    require_partner_inviter,
)
from bastion.actions.members import match_account
from bastion.actions.permissions import MANAGE_DIRECTORY, MANAGE_MEMBERS, READ_DIRECTORY, require
from bastion.errors import Conflict, InvalidInput, NotFound, PermissionDenied
from bastion.queries import list_apps
from bastion.storage.models import Account, LocalPartner, LocalPartnerMember, User
from bastion.storage.models.enums import AccountKind, AccountState, AppRole, WorkspaceRole
from bastion.storage.tenancy import Tenant
from bastion.web.context import DB, Me, PageRoute, Viewer, allowed, redirect, render, runtime_of
from bastion.web.dialogs import dialog

router = APIRouter(route_class=PageRoute)
PAGE = "directory/dialog_page.html"
LINKABLE_LIMIT = 300


def _visible_partners(db: DB, me: Viewer) -> list[LocalPartner]:
    """Every partner for admins; a partner's admins see their own; anyone else is refused."""
    partners = sorted(Tenant(db, me.workspace_id).all(LocalPartner), key=lambda p: p.name_key)
    if allowed(db, me, None, MANAGE_DIRECTORY):
        return partners
    led = partners_led_by(db, user_id=me.user.id)
    if not led:
        raise PermissionDenied(
            "Seeing local partners needs the workspace admin role or a partner's admin role"
        )
    return [p for p in partners if p.id in led]


def _guests_by_partner(db: DB, partner_ids: list[int]) -> dict[int, list[tuple[User, bool]]]:
    found: dict[int, list[tuple[User, bool]]] = {i: [] for i in partner_ids}
    for partner_id, user, is_admin in db.execute(
        select(LocalPartnerMember.partner_id, User, LocalPartnerMember.is_admin)
        .join(User, User.id == LocalPartnerMember.user_id)
        .where(LocalPartnerMember.partner_id.in_(partner_ids))
        .order_by(User.email_key)
    ):
        found[partner_id].append((user, is_admin))
    return found


def _linked_accounts(db: DB, user_ids: list[int]) -> dict[int, list[Account]]:
    found: dict[int, list[Account]] = {i: [] for i in user_ids}
    for account in db.scalars(
        select(Account).where(Account.matched_user_id.in_(user_ids), Account.present.is_(True))
    ):
        found[account.matched_user_id or 0].append(account)
    return found


@router.get("/directory/partners")
def partners_page(request: Request, db: DB, me: Me) -> Response:
    partners = _visible_partners(db, me)
    is_admin = allowed(db, me, None, MANAGE_DIRECTORY)
    guests = _guests_by_partner(db, [p.id for p in partners])
    in_a_partner = set(
        db.scalars(
            select(LocalPartnerMember.user_id).where(
                LocalPartnerMember.workspace_id == me.workspace_id
            )
        )
    )
    loose = (
        [
            u
            for u in Tenant(db, me.workspace_id).all(
                User, User.role == WorkspaceRole.GUEST, User.removed_at.is_(None)
            )
            if u.id not in in_a_partner
        ]
        if is_admin
        else []
    )
    everyone = [u.id for rows in guests.values() for u, _ in rows] + [u.id for u in loose]
    return render(
        request,
        "directory/partners.html",
        {
            "section": "directory",
            "sub": "partners",
            "partners": partners,
            "guests": guests,
            "loose": [(u, False) for u in sorted(loose, key=lambda u: u.email_key or "")],
            # Which apps' accounts each guest vouches for: people's business, admins only.
            "linked": _linked_accounts(db, everyone) if me.reads_directory else {},
            "is_admin": is_admin,
            "can_link": me.reads_directory,
        },
        me=me,
    )


@router.get("/directory/partners/new")
def new_partner_dialog(request: Request, db: DB, me: Me) -> Response:
    require(db, actor=me.actor, app=None, action=MANAGE_DIRECTORY)
    return dialog(request, me, "directory/_partner_new.html", {"sub": "partners"}, page=PAGE)


@router.post("/directory/partners")
def new_partner(request: Request, db: DB, me: Me, name: Annotated[str, Form()] = "") -> Response:
    try:
        partner = create_local_partner(db, workspace_id=me.workspace_id, name=name, actor=me.actor)
    except (InvalidInput, Conflict) as exc:
        db.rollback()
        context = {"sub": "partners", "name": name, "error": exc.message.removeprefix("name: ")}
        return dialog(
            request, me, "directory/_partner_new.html", context, page=PAGE, status_code=400
        )
    db.commit()
    return redirect(
        request,
        "/directory/partners",
        f"{partner.name} is a local partner. Invite its people as guests.",
    )


def _partner(db: DB, me: Viewer, partner_id: int) -> LocalPartner:
    partner = Tenant(db, me.workspace_id).get(LocalPartner, partner_id)
    require_partner_inviter(db, actor=me.actor, partner=partner)
    return partner


def _guest_context(partner: LocalPartner | None, **values: Any) -> dict[str, Any]:
    action = f"/directory/partners/{partner.id}/invite" if partner else "/directory/guests/invite"
    return {"sub": "partners", "partner": partner, "action": action, **values}


@router.get("/directory/partners/{partner_id}/invite")
def partner_guest_dialog(request: Request, db: DB, me: Me, partner_id: int) -> Response:
    partner = _partner(db, me, partner_id)
    return dialog(request, me, "directory/_guest_invite.html", _guest_context(partner), page=PAGE)


@router.post("/directory/partners/{partner_id}/invite")
def partner_guest(
    request: Request,
    db: DB,
    me: Me,
    partner_id: int,
    email: Annotated[str, Form()] = "",
    name: Annotated[str, Form()] = "",
    partner_admin: Annotated[str, Form()] = "",
) -> Response:
    partner = _partner(db, me, partner_id)
    try:
        invite = invite_partner_guest(
            db,
            workspace_id=me.workspace_id,
            partner_id=partner.id,
            email=email,
            name=name,
            actor=me.actor,
            partner_admin=partner_admin == "yes",
            base_url=runtime_of(request).settings.base_url,
        )
    except (InvalidInput, Conflict) as exc:
        db.rollback()
        context = _guest_context(partner, email=email, name=name, error=exc.message)
        return dialog(
            request, me, "directory/_guest_invite.html", context, page=PAGE, status_code=400
        )
    db.commit()
    return redirect(
        request,
        "/directory/partners",
        f"{invite.user.email} is invited to {partner.name}; they get an e-mail to set a password.",
    )


@router.get("/directory/guests/invite")
def guest_dialog(request: Request, db: DB, me: Me) -> Response:
    require(db, actor=me.actor, app=None, action=MANAGE_DIRECTORY)
    return dialog(request, me, "directory/_guest_invite.html", _guest_context(None), page=PAGE)


@router.post("/directory/guests/invite")
def guest(
    request: Request,
    db: DB,
    me: Me,
    email: Annotated[str, Form()] = "",
    name: Annotated[str, Form()] = "",
) -> Response:
    try:
        invite = invite_guest(
            db,
            workspace_id=me.workspace_id,
            email=email,
            name=name,
            actor=me.actor,
            base_url=runtime_of(request).settings.base_url,
        )
    except (InvalidInput, Conflict) as exc:
        db.rollback()
        context = _guest_context(None, email=email, name=name, error=exc.message)
        return dialog(
            request, me, "directory/_guest_invite.html", context, page=PAGE, status_code=400
        )
    db.commit()
    return redirect(
        request,
        "/directory/partners",
        f"{invite.user.email} is invited as a guest user; they get an e-mail to set a password.",
    )


def _guest_user(db: DB, me: Viewer, user_id: int) -> User:
    require(db, actor=me.actor, app=None, action=READ_DIRECTORY)
    user = Tenant(db, me.workspace_id).get(User, user_id)
    if user.role != WorkspaceRole.GUEST or user.removed_at is not None:
        raise NotFound(f"User {user_id} is not a guest user")
    return user


def _linkable(db: DB, me: Viewer) -> list[tuple[str, list[Account]]]:
    """Per app the viewer may match accounts of, its unmatched people (by name)."""
    found = []
    for app in list_apps(db, me.workspace_id):
        if not allowed(db, me, app, MANAGE_MEMBERS):
            continue
        accounts = list(
            db.scalars(
                select(Account)
                .where(
                    Account.app_id == app.id,
                    Account.present.is_(True),
                    Account.state.in_([AccountState.UNMATCHED, AccountState.PARTNER]),
                    Account.kind.in_([AccountKind.PERSON, AccountKind.PARTNER_PERSON]),
                )
                .order_by(Account.name, Account.id)
                .limit(LINKABLE_LIMIT)
            )
        )
        if accounts:
            found.append((app.label, accounts))
    return found


def _link_context(db: DB, me: Viewer, user: User, **values: Any) -> dict[str, Any]:
    return {"sub": "partners", "person": user, "groups": _linkable(db, me), **values}


@router.get("/directory/people/{user_id}/link")
def link_dialog(request: Request, db: DB, me: Me, user_id: int) -> Response:
    user = _guest_user(db, me, user_id)
    return dialog(request, me, "directory/_guest_link.html", _link_context(db, me, user), page=PAGE)


@router.post("/directory/people/{user_id}/link")
def link(
    request: Request,
    db: DB,
    me: Me,
    user_id: int,
    account_id: Annotated[str, Form()] = "",
) -> Response:
    user = _guest_user(db, me, user_id)
    if not account_id.isdigit():
        context = _link_context(db, me, user, error="Pick the account this guest uses.")
        return dialog(
            request, me, "directory/_guest_link.html", context, page=PAGE, status_code=400
        )
    account = match_account(
        db,
        workspace_id=me.workspace_id,
        account_id=int(account_id),
        user_id=user.id,
        role=AppRole.COLLABORATOR,
        actor=me.actor,
        base_url=runtime_of(request).settings.base_url,
    )
    db.commit()
    return redirect(
        request,
        "/directory/partners",
        f"{account.name or account.email} is linked to the guest; it shows under Guest users.",
    )
