"""Assets of an app and who holds what on them.

GET /api/v1/apps/{app_id}/assets          Pages, ad accounts, catalogs, pixels, Instagram
GET /api/v1/assets/{asset_id}/holders     every account and partner with tasks on one asset
"""

from __future__ import annotations

from fastapi import APIRouter
from pydantic import BaseModel
from sqlalchemy import select

from bastion.actions.permissions import VIEW_DETAILS, VIEW_PEOPLE
from bastion.api.auth import DB, CurrentPrincipal
from bastion.api.common import PathId, app_for
from bastion.api.errors import READ_ERRORS
from bastion.storage.models import Account, Asset, Grant, Partner, PartnerGrant
from bastion.storage.models.enums import AssetType
from bastion.storage.tenancy import Tenant

router = APIRouter(tags=["assets"])


class AssetOut(BaseModel):
    id: int
    app_id: int
    external_id: str
    name: str
    type: str
    ownership: str
    owner_business_id: str | None


class HolderOut(BaseModel):
    account_id: int | None
    partner_id: int | None
    name: str
    email: str | None
    app_role: str | None
    tasks: list[str]


class AssetHolders(BaseModel):
    asset: AssetOut
    holders: list[HolderOut]


def _asset_out(a: Asset) -> AssetOut:
    return AssetOut(
        id=a.id,
        app_id=a.app_id,
        external_id=a.external_id,
        name=a.name,
        type=a.type.value,
        ownership=a.ownership.value,
        owner_business_id=a.owner_business_id,
    )


@router.get("/apps/{app_id}/assets", responses=READ_ERRORS)
def list_assets(
    app_id: PathId, session: DB, principal: CurrentPrincipal, type: AssetType | None = None
) -> list[AssetOut]:
    app = app_for(session, principal, app_id, VIEW_DETAILS)
    query = Tenant(session, principal.workspace_id).select(
        Asset, Asset.app_id == app.id, Asset.present.is_(True)
    )
    if type is not None:
        query = query.where(Asset.type == type)
    return [_asset_out(a) for a in session.scalars(query.order_by(Asset.name, Asset.id))]


@router.get("/assets/{asset_id}/holders", responses=READ_ERRORS)
def holders(asset_id: PathId, session: DB, principal: CurrentPrincipal) -> AssetHolders:
    asset = Tenant(session, principal.workspace_id).get(Asset, asset_id)
    app_for(session, principal, asset.app_id, VIEW_PEOPLE)
    people = session.execute(
        select(Grant, Account)
        .join(Account, Account.id == Grant.account_id)
        .where(Grant.asset_id == asset.id, Grant.present.is_(True), Account.present.is_(True))
        .order_by(Account.name, Account.id)
    ).all()
    partners = session.execute(
        select(PartnerGrant, Partner)
        .join(Partner, Partner.id == PartnerGrant.partner_id)
        .where(PartnerGrant.asset_id == asset.id, PartnerGrant.present.is_(True))
        .order_by(Partner.name, Partner.id)
    ).all()
    return AssetHolders(
        asset=_asset_out(asset),
        holders=[
            *(
                HolderOut(
                    account_id=account.id,
                    partner_id=None,
                    name=account.name,
                    email=account.email,
                    app_role=account.app_role,
                    tasks=grant.tasks,
                )
                for grant, account in people
            ),
            *(
                HolderOut(
                    account_id=None,
                    partner_id=partner.id,
                    name=partner.name,
                    email=None,
                    app_role=None,
                    tasks=grant.tasks,
                )
                for grant, partner in partners
            ),
        ],
    )
