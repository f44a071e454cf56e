"""Partners: the app's agencies and clients (from Meta), and Bastion's local partners and guests.

GET  /api/v1/apps/{app_id}/partners                    agencies and clients of the business
PUT  /api/v1/apps/{app_id}/partners/{partner_id}/token     add or replace a native partner's token
DELETE /api/v1/apps/{app_id}/partners/{partner_id}/token   remove it (its people stay as last seen)
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
from bastion.actions.partner_tokens import remove_partner_token, set_partner_token
from bastion.actions.permissions import VIEW_DETAILS, visible_local_partners
from bastion.api.auth import DB, CurrentPrincipal, runtime_of
from bastion.api.common import NOT_BLANK, Email, PathId, app_for
from bastion.api.errors import READ_ERRORS, WRITE_ERRORS
from bastion.storage.models import LocalPartner, Partner
from bastion.storage.tenancy import Tenant

router = APIRouter(tags=["partners"])


class PartnerOut(BaseModel):
    id: int
    external_id: str
    name: str
    relation: str
    # A native partner's token: whether one is kept (never the token itself), when it was set,
    # and whether the last check read the partner's people with it (ok, review_configuration).
    has_token: bool = False
    token_set_at: datetime | None = None
    people_status: str | None = None
    people_status_reason: str | None = None
    people_checked_at: datetime | None = None


class PartnerTokenIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    token: str = Field(min_length=1, max_length=4096)

    def __repr__(self) -> str:
        return "PartnerTokenIn(token=<hidden>)"


def _partner_out(p: Partner) -> PartnerOut:
    return PartnerOut(
        id=p.id,
        external_id=p.external_id,
        name=p.name,
        relation=p.relation.value,
        has_token=p.token_secret_id is not None,
        token_set_at=p.token_set_at,
        people_status=p.people_status.value if p.people_status else None,
        people_status_reason=p.people_status_reason,
        people_checked_at=p.people_checked_at,
    )


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
    return [_partner_out(p) for p in sorted(rows, key=lambda p: (p.name, p.id))]


@router.put("/apps/{app_id}/partners/{partner_id}/token", responses=WRITE_ERRORS)
def put_partner_token(
    app_id: PathId,
    partner_id: PathId,
    body: PartnerTokenIn,
    request: Request,
    session: DB,
    principal: CurrentPrincipal,
) -> PartnerOut:
    """Owners: validated like the app's own token (a system user's token of that partner
    business), stored in the vault; each check then imports the partner's people with it."""
    runtime = runtime_of(request)
    partner = set_partner_token(
        session,
        runtime.require_key_ring(),
        runtime.connector_options,
        workspace_id=principal.workspace_id,
        app_id=app_id,
        partner_id=partner_id,
        token=body.token,
        actor=principal.actor,
    )
    session.commit()
    return _partner_out(partner)


@router.delete("/apps/{app_id}/partners/{partner_id}/token", responses=WRITE_ERRORS)
def delete_partner_token(
    app_id: PathId, partner_id: PathId, session: DB, principal: CurrentPrincipal
) -> PartnerOut:
    partner = remove_partner_token(
        session,
        workspace_id=principal.workspace_id,
        app_id=app_id,
        partner_id=partner_id,
        actor=principal.actor,
    )
    session.commit()
    return _partner_out(partner)


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
