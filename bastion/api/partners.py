"""Partners: the app's agencies and clients (from Meta), and Bastion's local partners and guests.

GET  /api/v1/apps/{app_id}/partners                    agencies and clients of the business
GET  /api/v1/local-partners                            local partners (non-admins: their own)
POST /api/v1/local-partners                            create one (workspace admins)
POST /api/v1/local-partners/{partner_id}/guests        invite a guest into a local partner
POST /api/v1/guests                                    invite a guest user to the workspace
"""

from __future__ import annotations

from datetime import datetime

from fastapi import APIRouter, Request
from pydantic import BaseModel, ConfigDict, Field, StrictBool

from bastion.actions import members
from bastion.actions.permissions import VIEW_DETAILS, visible_local_partners
from bastion.api.common import NOT_BLANK, Email, PathId, app_for
from bastion.api.errors import READ_ERRORS, WRITE_ERRORS
from bastion.security.auth import DB, CurrentPrincipal, runtime_of
from bastion.storage.models import LocalPartner, Partner
from bastion.storage.tenancy import Tenant

router = APIRouter(tags=["partners"])


class PartnerOut(BaseModel):
    id: int
    external_id: str
    name: str
    relation: str


class LocalPartnerOut(BaseModel):
    id: int
    name: str
    created_at: datetime


class LocalPartnerIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    name: str = Field(min_length=1, max_length=200, pattern=NOT_BLANK)


class GuestIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    email: Email
    name: str = Field(default="", max_length=200)


class PartnerGuestIn(GuestIn):
    partner_admin: StrictBool = False


class GuestInvited(BaseModel):
    user_id: int
    email: str | None
    invitation_id: int
    expires_at: datetime


def _invited(invite: members.GuestInvite) -> GuestInvited:
    return GuestInvited(
        user_id=invite.user.id,
        email=invite.user.email,
        invitation_id=invite.invitation.id,
        expires_at=invite.invitation.expires_at,
    )


@router.get("/apps/{app_id}/partners", responses=READ_ERRORS)
def app_partners(app_id: PathId, session: DB, principal: CurrentPrincipal) -> list[PartnerOut]:
    app = app_for(session, principal, app_id, VIEW_DETAILS)
    rows = Tenant(session, principal.workspace_id).all(
        Partner, Partner.app_id == app.id, Partner.present.is_(True)
    )
    return [
        PartnerOut(id=p.id, external_id=p.external_id, name=p.name, relation=p.relation.value)
        for p in sorted(rows, key=lambda p: (p.name, p.id))
    ]


@router.get("/local-partners", responses=READ_ERRORS)
def local_partners(session: DB, principal: CurrentPrincipal) -> list[LocalPartnerOut]:
    rows = Tenant(session, principal.workspace_id).all(LocalPartner)
    visible = visible_local_partners(session, user=principal.user)
    return [
        LocalPartnerOut(id=p.id, name=p.name, created_at=p.created_at)
        for p in sorted(rows, key=lambda p: p.name_key)
        if visible is None or p.id in visible
    ]


@router.post("/local-partners", status_code=201, responses=WRITE_ERRORS)
def create_local_partner(
    body: LocalPartnerIn, session: DB, principal: CurrentPrincipal
) -> LocalPartnerOut:
    partner = members.create_local_partner(
        session, workspace_id=principal.workspace_id, name=body.name, actor=principal.actor
    )
    session.commit()
    return LocalPartnerOut(id=partner.id, name=partner.name, created_at=partner.created_at)


@router.post("/local-partners/{partner_id}/guests", status_code=201, responses=WRITE_ERRORS)
def invite_partner_guest(
    partner_id: PathId,
    body: PartnerGuestIn,
    request: Request,
    session: DB,
    principal: CurrentPrincipal,
) -> GuestInvited:
    invite = members.invite_partner_guest(
        session,
        workspace_id=principal.workspace_id,
        partner_id=partner_id,
        email=body.email,
        name=body.name,
        actor=principal.actor,
        partner_admin=body.partner_admin,
        base_url=runtime_of(request).settings.base_url,
    )
    session.commit()
    return _invited(invite)


@router.post("/guests", status_code=201, responses=WRITE_ERRORS)
def invite_guest(
    body: GuestIn, request: Request, session: DB, principal: CurrentPrincipal
) -> GuestInvited:
    invite = members.invite_guest(
        session,
        workspace_id=principal.workspace_id,
        email=body.email,
        name=body.name,
        actor=principal.actor,
        base_url=runtime_of(request).settings.base_url,
    )
    session.commit()
    return _invited(invite)
