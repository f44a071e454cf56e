"""Native partners on the Partners tab: a partner's own token, and its people on our assets.

Routes:
    GET  /apps/{app_id}/partners/{partner_id}/token          the token dialog (owners): add,
                                                             replace or remove
    POST /apps/{app_id}/partners/{partner_id}/token          add or replace (validated first)
    POST /apps/{app_id}/partners/{partner_id}/token/remove   remove it
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated, Any

from fastapi import APIRouter, Form, Request
from fastapi.responses import Response
from sqlalchemy import select
from sqlalchemy.orm import Session

from bastion.actions.partner_tokens import remove_partner_token, set_partner_token
from bastion.actions.permissions import MANAGE_APP
from bastion.connectors.base import ConnectorError
from bastion.errors import Conflict, InvalidInput, NotFound
from bastion.storage.models import Account, App, Asset, Grant, Partner
from bastion.storage.models.enums import AccountKind
from bastion.storage.tenancy import Tenant
from bastion.web.context import DB, Me, PageRoute, Viewer, app_for, redirect, runtime_of
from bastion.web.dialogs import dialog

router = APIRouter(route_class=PageRoute)
TEMPLATE = "apps/_partner_token.html"


@dataclass(frozen=True)
class PartnerPerson:
    account: Account
    holdings: list[tuple[Asset, list[str]]]


def partner_people(session: Session, app_id: int) -> dict[str, list[PartnerPerson]]:
    """Each partner's people (by the partner's business id) with what they hold on our assets."""
    accounts = session.scalars(
        select(Account)
        .where(
            Account.app_id == app_id,
            Account.kind == AccountKind.PARTNER_PERSON,
            Account.present.is_(True),
        )
        .order_by(Account.name, Account.id)
    ).all()
    held: dict[int, list[tuple[Asset, list[str]]]] = {a.id: [] for a in accounts}
    for account_id, asset, tasks in session.execute(
        select(Grant.account_id, Asset, Grant.tasks)
        .join(Asset, Asset.id == Grant.asset_id)
        .where(Grant.account_id.in_(list(held)), Grant.present.is_(True))
        .order_by(Asset.name)
    ).all():
        held[account_id].append((asset, tasks))
    found: dict[str, list[PartnerPerson]] = {}
    for account in accounts:
        partner = str(account.details.get("partner_external_id") or "")
        found.setdefault(partner, []).append(PartnerPerson(account, held[account.id]))
    return found


def _partner(db: DB, me: Viewer, app: App, partner_id: int) -> Partner:
    partner = Tenant(db, me.workspace_id).get(Partner, partner_id)
    if partner.app_id != app.id or not partner.present:
        raise NotFound(f"Partner {partner_id} not found")
    return partner


def _context(app: App, partner: Partner, **values: Any) -> dict[str, Any]:
    return {"app": app, "partner": partner, "tab": "partners", **values}


@router.get("/apps/{app_id}/partners/{partner_id}/token")
def token_dialog(request: Request, db: DB, me: Me, app_id: int, partner_id: int) -> Response:
    app = app_for(db, me, app_id, MANAGE_APP)
    return dialog(request, me, TEMPLATE, _context(app, _partner(db, me, app, partner_id)))


@router.post("/apps/{app_id}/partners/{partner_id}/token")
def set_token(
    request: Request,
    db: DB,
    me: Me,
    app_id: int,
    partner_id: int,
    token: Annotated[str, Form()] = "",
) -> Response:
    app = app_for(db, me, app_id, MANAGE_APP)
    partner = _partner(db, me, app, partner_id)
    runtime = runtime_of(request)
    try:
        set_partner_token(
            db,
            runtime.require_key_ring(),
            runtime.connector_options,
            workspace_id=me.workspace_id,
            app_id=app.id,
            partner_id=partner.id,
            token=token,
            actor=me.actor,
        )
    except (InvalidInput, Conflict, ConnectorError) as exc:
        db.rollback()
        message = exc.message.removeprefix("token: ")
        context = _context(app, _partner(db, me, app, partner_id), error=message)
        return dialog(request, me, TEMPLATE, context, status_code=400)
    db.commit()
    return redirect(
        request,
        f"/apps/{app.id}/partners",
        f"{partner.name}'s token is kept. The next check imports its people on our assets.",
    )


@router.post("/apps/{app_id}/partners/{partner_id}/token/remove")
def remove_token(request: Request, db: DB, me: Me, app_id: int, partner_id: int) -> Response:
    app = app_for(db, me, app_id, MANAGE_APP)
    partner = _partner(db, me, app, partner_id)
    try:
        remove_partner_token(
            db, workspace_id=me.workspace_id, app_id=app.id, partner_id=partner.id, actor=me.actor
        )
    except Conflict as exc:
        db.rollback()
        context = _context(app, _partner(db, me, app, partner_id), error=exc.message)
        return dialog(request, me, TEMPLATE, context, status_code=400)
    db.commit()
    return redirect(
        request,
        f"/apps/{app.id}/partners",
        f"{partner.name}'s token is removed; its people stay as the last check saw them.",
    )


def partner_names(session: Session, app_id: int) -> dict[str, str]:
    """A partner's name by its business id, for the accounts of its people."""
    return {
        external_id: name or external_id
        for external_id, name in session.execute(
            select(Partner.external_id, Partner.name).where(Partner.app_id == app_id)
        )
    }
