"""What an owner or admin does to app accounts. Writes that queue an operation for the app
accept an ``Idempotency-Key`` header: a repeat with the same key returns the first operation.

    GET    /api/v1/accounts/{account_id}/blast-radius        who keeps full control of each asset
    POST   /api/v1/accounts/{account_id}/match               link to a directory person
    POST   /api/v1/accounts/{account_id}/unmatch             back to unmatched (re-assign)
    POST   /api/v1/accounts/{account_id}/claim               the caller claims it as Owner
    POST   /api/v1/accounts/{account_id}/exemption           exempt with a reason
    DELETE /api/v1/accounts/{account_id}/exemption           un-exempt
    POST   /api/v1/accounts/{account_id}/removal             queue the removal (force, key)
    POST   /api/v1/accounts/{account_id}/role                queue a business role change
    PUT    /api/v1/accounts/{account_id}/asset-tasks         queue asset task changes (both:
                                                             confirm_unvouched for full control)
    POST   /api/v1/accounts/{account_id}/guest               invite a guest who vouches for it
    POST   /api/v1/accounts/{account_id}/cancel-invitation   queue cancelling an invitation
    POST   /api/v1/apps/{app_id}/invitations                 invite a person by e-mail
    POST   /api/v1/apps/{app_id}/invitations/cancel-stale    cancel invitations older than N days
    POST   /api/v1/apps/{app_id}/accounts/bulk               one action over many accounts
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Literal

from fastapi import APIRouter, Request
from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    StrictBool,
    StringConstraints,
)

from bastion.actions import members
from bastion.actions.permissions import MANAGE_MEMBERS
from bastion.api.auth import DB, CurrentPrincipal, runtime_of
from bastion.api.common import (
    NOT_BLANK,
    BodyId,
    DateTimeWithZone,
    Email,
    IdempotencyKey,
    PathId,
    app_for,
    enqueue_operations,
    json_integer,
)
from bastion.api.errors import READ_ERRORS, WRITE_ERRORS
from bastion.api.schemas import AccountOut, AccountResultOut, OperationOut
from bastion.errors import InvalidInput
from bastion.storage.models import Account
from bastion.storage.models.enums import AppRole
from bastion.storage.tenancy import Tenant

router = APIRouter(tags=["account actions"])

# Task names as actions/removal.task_names takes them (it upper-cases them).
Tasks = list[Annotated[str, StringConstraints(pattern=r"^[A-Za-z][A-Za-z_]{0,63}$")]]
# Asset ids as JSON object keys (ids stay below a billion here, so nine digits say it exactly).
AssetTasks = Annotated[
    dict[Annotated[str, StringConstraints(pattern=r"^[1-9][0-9]{0,8}$")], Tasks],
    Field(json_schema_extra={"additionalProperties": False}),
]


class _In(BaseModel):
    model_config = ConfigDict(extra="forbid")


class MatchIn(_In):
    user_id: BodyId
    role: AppRole = AppRole.COLLABORATOR


class ExemptIn(_In):
    reason: str = Field(min_length=1, max_length=500, pattern=NOT_BLANK)
    expires_at: DateTimeWithZone | None = None


class RemoveIn(_In):
    force: StrictBool = False


CONFIRM_UNVOUCHED = Field(
    default=False,
    description="give full control (ADMIN, or MANAGE on an asset) to an account that is not "
    "onboarded: nobody in the directory vouches for it",
)


class RoleIn(_In):
    role: Literal["ADMIN", "EMPLOYEE"]
    confirm_unvouched: StrictBool = CONFIRM_UNVOUCHED


class AssetTasksIn(_In):
    asset_tasks: AssetTasks = Field(
        min_length=1, description="asset id → wanted tasks; [] revokes all"
    )
    force: StrictBool = Field(
        default=False,
        description="take MANAGE away even where nobody else would keep full control",
    )
    confirm_unvouched: StrictBool = CONFIRM_UNVOUCHED


class GuestIn(_In):
    email: Email
    name: str = Field(default="", max_length=200)


class InviteIn(_In):
    email: Email
    role: Literal["ADMIN", "EMPLOYEE"] = "EMPLOYEE"
    asset_tasks: AssetTasks = Field(default_factory=dict)


class StaleIn(_In):
    older_than_days: Annotated[int, Field(ge=0, le=3650), BeforeValidator(json_integer)]


class BulkIn(_In):
    action: Literal["remove", "exempt", "unmatch", "unexempt"]
    account_ids: list[BodyId] = Field(min_length=1, max_length=500)
    reason: str | None = Field(default=None, max_length=500)
    expires_at: DateTimeWithZone | None = None
    force: StrictBool = False


class OrphanedAssetOut(BaseModel):
    asset_id: int
    external_id: str
    name: str
    type: str


class AssetKeepersOut(OrphanedAssetOut):
    people: list[str] = Field(description="People keeping full control (MANAGE) of the asset")
    partners: list[str] = Field(description="Partner businesses keeping full control of it")
    orphaned: bool = Field(description="Nobody would keep it; system users do not count")


class BlastRadiusOut(BaseModel):
    account_id: int
    is_last_admin: bool
    orphaned_assets: list[OrphanedAssetOut]
    assets: list[AssetKeepersOut] = Field(
        description="Every asset the account has full control of, with who would keep it"
    )
    admins_left: list[str] = Field(
        description="People keeping the business admin role, who can give an asset to someone"
    )


class GuestOut(BaseModel):
    user_id: int
    email: str | None
    invitation_id: int
    expires_at: datetime


def _asset_ids(asset_tasks: dict[str, list[str]]) -> dict[int, list[str]]:
    parsed: dict[int, list[str]] = {}
    for key, tasks in asset_tasks.items():
        if not key.isdigit() or not 0 < int(key) < 2**31:
            raise InvalidInput("asset_tasks", f"{key!r} is not an asset id")
        parsed[int(key)] = tasks
    return parsed


@router.get("/accounts/{account_id}/blast-radius", responses=READ_ERRORS)
def blast_radius(account_id: PathId, session: DB, principal: CurrentPrincipal) -> BlastRadiusOut:
    account = Tenant(session, principal.workspace_id).get(Account, account_id)
    app_for(session, principal, account.app_id, MANAGE_MEMBERS)
    radius = members.blast_radius(
        session, workspace_id=principal.workspace_id, account_id=account_id
    )
    return BlastRadiusOut(
        account_id=radius.account_id,
        is_last_admin=radius.is_last_admin,
        orphaned_assets=[
            OrphanedAssetOut(
                asset_id=a.asset_id, external_id=a.external_id, name=a.name, type=a.type
            )
            for a in radius.orphaned_assets
        ],
        assets=[
            AssetKeepersOut(
                asset_id=a.asset_id,
                external_id=a.external_id,
                name=a.name,
                type=a.type,
                people=list(a.people),
                partners=list(a.partners),
                orphaned=a.orphaned,
            )
            for a in radius.assets
        ],
        admins_left=list(radius.admins_left),
    )


@router.post("/accounts/{account_id}/match", responses=WRITE_ERRORS)
def match(
    request: Request, account_id: PathId, body: MatchIn, session: DB, principal: CurrentPrincipal
) -> AccountOut:
    account = members.match_account(
        session,
        workspace_id=principal.workspace_id,
        account_id=account_id,
        user_id=body.user_id,
        role=body.role,
        actor=principal.actor,
        base_url=runtime_of(request).settings.base_url,
    )
    session.commit()
    return AccountOut.of(account)


@router.post("/accounts/{account_id}/unmatch", responses=WRITE_ERRORS)
def unmatch(account_id: PathId, session: DB, principal: CurrentPrincipal) -> AccountOut:
    account = members.unmatch_account(
        session, workspace_id=principal.workspace_id, account_id=account_id, actor=principal.actor
    )
    session.commit()
    return AccountOut.of(account)


@router.post("/accounts/{account_id}/claim", responses=WRITE_ERRORS)
def claim(
    request: Request, account_id: PathId, session: DB, principal: CurrentPrincipal
) -> AccountOut:
    account = members.claim_owner(
        session,
        workspace_id=principal.workspace_id,
        account_id=account_id,
        actor=principal.actor,
        base_url=runtime_of(request).settings.base_url,
    )
    session.commit()
    return AccountOut.of(account)


@router.post("/accounts/{account_id}/exemption", responses=WRITE_ERRORS)
def exempt(
    account_id: PathId, body: ExemptIn, session: DB, principal: CurrentPrincipal
) -> AccountOut:
    account = members.exempt_account(
        session,
        workspace_id=principal.workspace_id,
        account_id=account_id,
        reason=body.reason,
        expires_at=body.expires_at,
        actor=principal.actor,
    )
    session.commit()
    return AccountOut.of(account)


@router.delete("/accounts/{account_id}/exemption", responses=WRITE_ERRORS)
def unexempt(account_id: PathId, session: DB, principal: CurrentPrincipal) -> AccountOut:
    account = members.unexempt_account(
        session, workspace_id=principal.workspace_id, account_id=account_id, actor=principal.actor
    )
    session.commit()
    return AccountOut.of(account)


@router.post("/accounts/{account_id}/removal", status_code=202, responses=WRITE_ERRORS)
def remove(
    account_id: PathId,
    body: RemoveIn,
    request: Request,
    session: DB,
    principal: CurrentPrincipal,
    idempotency_key: IdempotencyKey = None,
) -> OperationOut:
    operation = members.remove_account(
        session,
        workspace_id=principal.workspace_id,
        account_id=account_id,
        actor=principal.actor,
        force=body.force,
        idempotency_key=idempotency_key,
    )
    session.commit()
    enqueue_operations(request, [operation.id])
    return OperationOut.of(operation)


@router.post("/accounts/{account_id}/role", status_code=202, responses=WRITE_ERRORS)
def change_role(
    account_id: PathId,
    body: RoleIn,
    request: Request,
    session: DB,
    principal: CurrentPrincipal,
    idempotency_key: IdempotencyKey = None,
) -> OperationOut:
    operation = members.change_role(
        session,
        workspace_id=principal.workspace_id,
        account_id=account_id,
        role=body.role,
        actor=principal.actor,
        idempotency_key=idempotency_key,
        confirm_unvouched=body.confirm_unvouched,
    )
    session.commit()
    enqueue_operations(request, [operation.id])
    return OperationOut.of(operation)


@router.put("/accounts/{account_id}/asset-tasks", status_code=202, responses=WRITE_ERRORS)
def set_asset_tasks(
    account_id: PathId,
    body: AssetTasksIn,
    request: Request,
    session: DB,
    principal: CurrentPrincipal,
    idempotency_key: IdempotencyKey = None,
) -> list[OperationOut]:
    operations = members.set_asset_tasks(
        session,
        workspace_id=principal.workspace_id,
        account_id=account_id,
        asset_tasks=_asset_ids(body.asset_tasks),
        actor=principal.actor,
        force=body.force,
        idempotency_key=idempotency_key,
        confirm_unvouched=body.confirm_unvouched,
    )
    session.commit()
    enqueue_operations(request, [o.id for o in operations])
    return [OperationOut.of(o) for o in operations]


@router.post("/accounts/{account_id}/guest", status_code=201, responses=WRITE_ERRORS)
def invite_guest(
    account_id: PathId, body: GuestIn, request: Request, session: DB, principal: CurrentPrincipal
) -> GuestOut:
    invite = members.invite_guest(
        session,
        workspace_id=principal.workspace_id,
        email=body.email,
        name=body.name,
        actor=principal.actor,
        account_id=account_id,
        base_url=runtime_of(request).settings.base_url,
    )
    session.commit()
    return GuestOut(
        user_id=invite.user.id,
        email=invite.user.email,
        invitation_id=invite.invitation.id,
        expires_at=invite.invitation.expires_at,
    )


@router.post("/accounts/{account_id}/cancel-invitation", status_code=202, responses=WRITE_ERRORS)
def cancel_invitation(
    account_id: PathId,
    request: Request,
    session: DB,
    principal: CurrentPrincipal,
    idempotency_key: IdempotencyKey = None,
) -> OperationOut:
    operation = members.cancel_invitation(
        session,
        workspace_id=principal.workspace_id,
        account_id=account_id,
        actor=principal.actor,
        idempotency_key=idempotency_key,
    )
    session.commit()
    enqueue_operations(request, [operation.id])
    return OperationOut.of(operation)


@router.post("/apps/{app_id}/invitations", status_code=202, responses=WRITE_ERRORS)
def invite_person(
    app_id: PathId,
    body: InviteIn,
    request: Request,
    session: DB,
    principal: CurrentPrincipal,
    idempotency_key: IdempotencyKey = None,
) -> OperationOut:
    operation = members.invite_person(
        session,
        workspace_id=principal.workspace_id,
        app_id=app_id,
        email=body.email,
        role=body.role,
        asset_tasks=_asset_ids(body.asset_tasks),
        actor=principal.actor,
        idempotency_key=idempotency_key,
    )
    session.commit()
    enqueue_operations(request, [operation.id])
    return OperationOut.of(operation)


@router.post("/apps/{app_id}/invitations/cancel-stale", responses=WRITE_ERRORS)
def cancel_stale(
    app_id: PathId, body: StaleIn, request: Request, session: DB, principal: CurrentPrincipal
) -> list[AccountResultOut]:
    results = members.cancel_stale_invitations(
        session,
        workspace_id=principal.workspace_id,
        app_id=app_id,
        older_than_days=body.older_than_days,
        actor=principal.actor,
    )
    session.commit()
    enqueue_operations(request, [r.operation_id for r in results])
    return [AccountResultOut.of(r) for r in results]


@router.post("/apps/{app_id}/accounts/bulk", responses=WRITE_ERRORS)
def bulk(
    app_id: PathId,
    body: BulkIn,
    request: Request,
    session: DB,
    principal: CurrentPrincipal,
    idempotency_key: IdempotencyKey = None,
) -> list[AccountResultOut]:
    """A result per account: one failure does not stop the rest."""
    app_for(session, principal, app_id, MANAGE_MEMBERS)
    tenant = Tenant(session, principal.workspace_id)
    in_app = {
        a.id
        for a in tenant.all(Account, Account.app_id == app_id, Account.id.in_(body.account_ids))
    }
    ids = [i for i in body.account_ids if i in in_app]
    workspace_id, actor = principal.workspace_id, principal.actor
    if body.action == "remove":
        results = members.bulk_remove(
            session,
            workspace_id=workspace_id,
            account_ids=ids,
            actor=actor,
            force=body.force,
            idempotency_key=idempotency_key,
        )
    elif body.action == "exempt":
        results = members.bulk_exempt(
            session,
            workspace_id=workspace_id,
            account_ids=ids,
            reason=body.reason or "",
            expires_at=body.expires_at,
            actor=actor,
        )
    elif body.action == "unmatch":
        results = members.bulk_unmatch(
            session, workspace_id=workspace_id, account_ids=ids, actor=actor
        )
    else:
        results = members.bulk_unexempt(
            session, workspace_id=workspace_id, account_ids=ids, actor=actor
        )
    missing = [
        members.AccountResult(i, False, f"Account {i} not found in this app", "not_found")
        for i in dict.fromkeys(body.account_ids)
        if i not in in_app
    ]
    session.commit()
    enqueue_operations(request, [r.operation_id for r in results])
    return [AccountResultOut.of(r) for r in [*results, *missing]]
