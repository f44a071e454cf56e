"""Removing an account, and changing its business role or asset tasks, safely.

Before a removal is queued its blast radius is computed: which assets would be left with nobody
holding full control. Removing (or demoting) the business's last admin is refused outright.
Taking ``MANAGE`` off an asset is checked the same way: leaving it without full control needs
``force``.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.orm import Session

from bastion.actions.account_steps import (
    account_and_app,
    audit_event,
    queue_once,
    require_present,
)
from bastion.actions.actors import Actor
from bastion.actions.permissions import MANAGE_MEMBERS, require
from bastion.audit import AuditAction
from bastion.errors import Conflict, InvalidInput
from bastion.storage.models import Account, App, Asset, Grant, Operation, PartnerGrant
from bastion.storage.models.enums import AccountKind, OperationKind
from bastion.storage.tenancy import Tenant

FULL_CONTROL_TASK = "MANAGE"
ADMIN_ROLE = "ADMIN"
# The business roles Bastion sets; Meta has more, which stay as imported.
BUSINESS_ROLES = ("ADMIN", "EMPLOYEE")
_TASK = re.compile(r"^[A-Z][A-Z_]{0,63}$")


@dataclass(frozen=True)
class OrphanedAsset:
    asset_id: int
    external_id: str
    name: str
    type: str


@dataclass(frozen=True)
class BlastRadius:
    """What removing an account would leave without anyone holding full control."""

    account_id: int
    is_last_admin: bool
    orphaned_assets: tuple[OrphanedAsset, ...]

    @property
    def empty(self) -> bool:
        return not self.is_last_admin and not self.orphaned_assets


def blast_radius(session: Session, *, workspace_id: int, account_id: int) -> BlastRadius:
    """Full control is ``MANAGE`` on the asset or the business ``ADMIN`` role (which reaches
    every asset); a partner business holding ``MANAGE`` also keeps the asset reachable."""
    tenant = Tenant(session, workspace_id)
    account = tenant.get(Account, account_id)
    if not account.present or _any_admin(session, account.app_id, besides=account.id):
        return BlastRadius(account.id, False, ())
    is_admin = account.app_role == ADMIN_ROLE
    if is_admin:
        candidates = tenant.all(Asset, Asset.app_id == account.app_id, Asset.present.is_(True))
    else:
        candidates = [
            asset
            for grant, asset in session.execute(
                select(Grant, Asset)
                .join(Asset, Asset.id == Grant.asset_id)
                .where(
                    Grant.account_id == account.id,
                    Grant.present.is_(True),
                    Asset.present.is_(True),
                )
            ).all()
            if FULL_CONTROL_TASK in grant.tasks
        ]
    return BlastRadius(account.id, is_admin, tuple(_orphans(session, account, candidates)))


def _any_admin(session: Session, app_id: int, besides: int | None = None) -> bool:
    """Whether a present account (other than ``besides``) holds the business ADMIN role, which
    gives full control of every asset."""
    query = select(Account.id).where(
        Account.app_id == app_id,
        Account.present.is_(True),
        Account.kind != AccountKind.INVITATION,
        Account.app_role == ADMIN_ROLE,
    )
    if besides is not None:
        query = query.where(Account.id != besides)
    return session.scalar(query.limit(1)) is not None


def _orphans(session: Session, account: Account, assets: Iterable[Asset]) -> list[OrphanedAsset]:
    """The assets nobody but ``account`` holds ``MANAGE`` on (directly or as a partner)."""
    return [
        OrphanedAsset(asset.id, asset.external_id, asset.name, asset.type.value)
        for asset in sorted(assets, key=lambda a: a.id)
        if not _someone_else_manages(session, asset, account)
    ]


def _left_without_full_control(
    session: Session, account: Account, assets: Iterable[Asset]
) -> list[OrphanedAsset]:
    """Of the assets on which ``account`` gives up ``MANAGE``, those nobody else would control."""
    if _any_admin(session, account.app_id):
        return []
    return _orphans(session, account, assets)


def _manages(session: Session, account: Account, asset: Asset) -> bool:
    tasks = session.scalar(
        select(Grant.tasks).where(
            Grant.account_id == account.id, Grant.asset_id == asset.id, Grant.present.is_(True)
        )
    )
    return tasks is not None and FULL_CONTROL_TASK in tasks


def _someone_else_manages(session: Session, asset: Asset, account: Account) -> bool:
    holders = session.scalars(
        select(Grant.tasks)
        .join(Account, Account.id == Grant.account_id)
        .where(
            Grant.asset_id == asset.id,
            Grant.present.is_(True),
            Grant.account_id != account.id,
            Account.present.is_(True),
        )
    )
    partners = session.scalars(
        select(PartnerGrant.tasks).where(
            PartnerGrant.asset_id == asset.id, PartnerGrant.present.is_(True)
        )
    )
    return any(FULL_CONTROL_TASK in tasks for tasks in [*holders, *partners])


def remove_account(
    session: Session,
    *,
    workspace_id: int,
    account_id: int,
    actor: Actor,
    force: bool = False,
    idempotency_key: str | None = None,
) -> Operation:
    """Queue the removal of the seat and every asset task (or the cancelling of an invitation).

    Removing the business's last admin is refused outright; removing someone whose departure
    leaves assets without full control needs ``force``.
    """
    tenant = Tenant(session, workspace_id)
    account, app = account_and_app(tenant, account_id)
    require(session, actor=actor, app=app, action=MANAGE_MEMBERS)
    require_present(account)
    radius = blast_radius(session, workspace_id=workspace_id, account_id=account.id)
    if radius.is_last_admin:
        raise Conflict(
            f"{account.name or account.email or account.external_id} is the business's last "
            "admin; make someone else an admin first"
        )
    if radius.orphaned_assets and not force:
        names = ", ".join(a.name or a.external_id for a in radius.orphaned_assets)
        raise Conflict(
            f"removing this account leaves nobody with full control of: {names}; "
            "confirm with force to remove anyway"
        )
    kind = (
        OperationKind.CANCEL_INVITATION
        if account.kind == AccountKind.INVITATION
        else OperationKind.REMOVE
    )
    operation, created = queue_once(
        session,
        app=app,
        kind=kind,
        actor=actor,
        idempotency_key=idempotency_key,
        target_external_id=account.external_id,
        parameters={"email": account.email} if account.email else {},
        account_id=account.id,
    )
    if created:
        audit_event(
            session,
            app,
            actor,
            AuditAction.ACCOUNT_REMOVAL_REQUESTED,
            f"account:{account.id}",
            {
                "account": account.id,
                "operation_id": operation.id,
                "forced": bool(force and radius.orphaned_assets),
                "orphaned_assets": [a.external_id for a in radius.orphaned_assets],
            },
        )
    return operation


def business_role(role: str) -> str:
    role = (role or "").strip().upper()
    if role not in BUSINESS_ROLES:
        raise InvalidInput("role", f"must be one of {', '.join(BUSINESS_ROLES)}")
    return role


def task_names(field: str, tasks: Iterable[str]) -> list[str]:
    cleaned = sorted({str(t).strip().upper() for t in tasks})
    for task in cleaned:
        if not _TASK.match(task):
            raise InvalidInput(field, f"{task!r} is not a task name (e.g. MANAGE, ADVERTISE)")
    return cleaned


def assets_by_id(tenant: Tenant, app: App, asset_ids: Iterable[int]) -> dict[int, Asset]:
    found: dict[int, Asset] = {}
    for asset_id in asset_ids:
        asset = tenant.find(Asset, Asset.id == asset_id, Asset.app_id == app.id)
        if asset is None or not asset.present:
            raise InvalidInput("asset_tasks", f"asset {asset_id} is not in {app.label}")
        found[asset_id] = asset
    return found


def change_role(
    session: Session,
    *,
    workspace_id: int,
    account_id: int,
    role: str,
    actor: Actor,
    idempotency_key: str | None = None,
) -> Operation:
    """Queue a change of the person's business role (``ADMIN`` = full control)."""
    role = business_role(role)
    tenant = Tenant(session, workspace_id)
    account, app = account_and_app(tenant, account_id)
    require(session, actor=actor, app=app, action=MANAGE_MEMBERS)
    require_present(account)
    if account.kind != AccountKind.PERSON:
        raise Conflict("only a person's role can be changed")
    demoted = account.app_role == ADMIN_ROLE and role != ADMIN_ROLE
    if (
        demoted
        and blast_radius(session, workspace_id=workspace_id, account_id=account.id).is_last_admin
    ):
        raise Conflict("this is the business's last admin; make someone else an admin first")
    operation, created = queue_once(
        session,
        app=app,
        kind=OperationKind.SET_ROLE,
        actor=actor,
        idempotency_key=idempotency_key,
        target_external_id=account.external_id,
        parameters={"role": role},
        account_id=account.id,
    )
    if created:
        audit_event(
            session,
            app,
            actor,
            AuditAction.ACCOUNT_ROLE_CHANGE_REQUESTED,
            f"account:{account.id}",
            {
                "account": account.id,
                "operation_id": operation.id,
                "before": account.app_role,
                "after": role,
            },
        )
    return operation


def set_asset_tasks(
    session: Session,
    *,
    workspace_id: int,
    account_id: int,
    asset_tasks: Mapping[int, Sequence[str]],
    actor: Actor,
    force: bool = False,
    idempotency_key: str | None = None,
) -> list[Operation]:
    """Queue the wanted tasks per asset (asset id → tasks; no tasks revokes all of them).

    Taking ``MANAGE`` away where nobody else would keep full control of the asset (no business
    admin, no other person or partner with ``MANAGE``) needs ``force``, as a removal does.
    """
    if not asset_tasks:
        raise InvalidInput("asset_tasks", "name at least one asset")
    tenant = Tenant(session, workspace_id)
    account, app = account_and_app(tenant, account_id)
    require(session, actor=actor, app=app, action=MANAGE_MEMBERS)
    require_present(account)
    if account.kind == AccountKind.INVITATION:
        raise Conflict("an invitation's tasks are set when it is sent; cancel and invite again")
    assets = assets_by_id(tenant, app, asset_tasks)
    wanted_tasks = {
        asset_id: task_names("asset_tasks", wanted) for asset_id, wanted in asset_tasks.items()
    }
    losing = [
        assets[asset_id]
        for asset_id, tasks in wanted_tasks.items()
        if FULL_CONTROL_TASK not in tasks and _manages(session, account, assets[asset_id])
    ]
    orphaned = _left_without_full_control(session, account, losing)
    if orphaned and not force:
        names = ", ".join(a.name or a.external_id for a in orphaned)
        raise Conflict(
            f"taking MANAGE away leaves nobody with full control of: {names}; "
            "confirm with force to change anyway"
        )
    operations = []
    for asset_id, tasks in sorted(wanted_tasks.items()):
        asset = assets[asset_id]
        operation, _created = queue_once(
            session,
            app=app,
            kind=OperationKind.GRANT_TASKS if tasks else OperationKind.REVOKE_TASKS,
            actor=actor,
            idempotency_key=f"{idempotency_key}:{asset_id}" if idempotency_key else None,
            target_external_id=account.external_id,
            parameters={"asset_external_id": asset.external_id, "tasks": tasks},
            account_id=account.id,
            asset_id=asset.id,
        )
        operations.append(operation)
    audit_event(
        session,
        app,
        actor,
        AuditAction.ACCOUNT_TASKS_CHANGE_REQUESTED,
        f"account:{account.id}",
        {
            "account": account.id,
            "operations": [o.id for o in operations],
            "assets": {str(k): v for k, v in sorted(wanted_tasks.items())},
            "forced": bool(orphaned),
            "orphaned_assets": [a.external_id for a in orphaned],
        },
    )
    return operations
