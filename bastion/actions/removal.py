"""Removing an account, and changing its business role or asset tasks, safely.

Full control of an asset is ``MANAGE`` on it. Before a removal is queued its blast radius is
computed: for each asset the account has full control of, who would keep it, people and, shown
apart, partner businesses. System users never count: one is a token nobody answers for, and
Bastion's own holds every asset, which would make every removal look harmless. An asset nobody
would keep is orphaned, and the removal then needs ``force``; taking ``MANAGE`` off an asset is
checked the same way. The business ``ADMIN`` role is not control of an asset (the app lists an
asset's holders by their tasks), but removing or demoting the business's last admin person is
refused outright, as the app refuses it. Bastion's own system user is never removed or demoted.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.orm import Session

from bastion.actions.account_steps import (
    account_and_app,
    account_label,
    audit_event,
    earlier_operation,
    is_bastions_own,
    queue_once,
    require_not_bastions_own,
    require_person,
    require_present,
)
from bastion.actions.actors import Actor
from bastion.actions.partner_person_removal import ask_partner_to_remove
from bastion.actions.permissions import MANAGE_MEMBERS, require
from bastion.actions.task_changes import held_tasks, task_steps
from bastion.actions.vouching import require_vouched_or_confirmed
from bastion.audit import AuditAction
from bastion.errors import Conflict, InvalidInput
from bastion.storage.models import Account, App, Asset, Grant, Operation, Partner, PartnerGrant
from bastion.storage.models.enums import AccountKind, OperationKind
from bastion.storage.tenancy import Tenant

FULL_CONTROL_TASK = "MANAGE"
ADMIN_ROLE = "ADMIN"
# The business roles Bastion sets; Meta has more, which stay as imported.
BUSINESS_ROLES = ("ADMIN", "EMPLOYEE")
_TASK = re.compile(r"^[A-Z][A-Z_]{0,63}$")


@dataclass(frozen=True)
class AssetKeepers:
    """One asset the account has full control of, and who would keep full control of it."""

    asset_id: int
    external_id: str
    name: str
    type: str
    people: tuple[str, ...]
    partners: tuple[str, ...]

    @property
    def orphaned(self) -> bool:
        return not self.people and not self.partners


@dataclass(frozen=True)
class BlastRadius:
    """What removing an account would leave without anyone holding full control."""

    account_id: int
    is_last_admin: bool
    # Every asset the account has full control of, the orphaned ones first.
    assets: tuple[AssetKeepers, ...]
    # The people keeping the business admin role: they can give an orphaned asset to someone.
    admins_left: tuple[str, ...] = ()

    @property
    def orphaned_assets(self) -> tuple[AssetKeepers, ...]:
        return tuple(a for a in self.assets if a.orphaned)

    @property
    def empty(self) -> bool:
        return not self.is_last_admin and not self.orphaned_assets


def blast_radius(session: Session, *, workspace_id: int, account_id: int) -> BlastRadius:
    """Who keeps full control of each asset the account has full control of, once it is gone."""
    account = Tenant(session, workspace_id).get(Account, account_id)
    if not account.present:
        return BlastRadius(account.id, False, ())
    admins_left = _person_admins(session, account.app_id, besides=account.id)
    is_last_admin = (
        account.kind == AccountKind.PERSON and account.app_role == ADMIN_ROLE and not admins_left
    )
    controlled = [
        asset
        for tasks, asset in session.execute(
            select(Grant.tasks, Asset)
            .join(Asset, Asset.id == Grant.asset_id)
            .where(
                Grant.account_id == account.id,
                Grant.present.is_(True),
                Asset.present.is_(True),
            )
        ).all()
        if FULL_CONTROL_TASK in tasks
    ]
    keepers = sorted(_keepers(session, account, controlled), key=lambda k: (not k.orphaned, k.name))
    return BlastRadius(account.id, is_last_admin, tuple(keepers), admins_left)


def _person_admins(session: Session, app_id: int, *, besides: int) -> tuple[str, ...]:
    """The present people other than ``besides`` holding the business ADMIN role (the app
    counts people only: a system user is never the business's last admin)."""
    rows = session.execute(
        select(Account.name, Account.email, Account.external_id)
        .where(
            Account.app_id == app_id,
            Account.present.is_(True),
            Account.kind == AccountKind.PERSON,
            Account.app_role == ADMIN_ROLE,
            Account.id != besides,
        )
        .order_by(Account.name, Account.id)
    )
    return tuple(name or email or external_id for name, email, external_id in rows)


def _keepers(session: Session, account: Account, assets: Iterable[Asset]) -> list[AssetKeepers]:
    """For each asset (all held by ``account``), the people other than it and the partner
    businesses holding ``MANAGE`` on it: two queries, whatever the number of assets."""
    by_id = {asset.id: asset for asset in assets}
    people: dict[int, list[str]] = {asset_id: [] for asset_id in by_id}
    partners: dict[int, list[str]] = {asset_id: [] for asset_id in by_id}
    if by_id:
        # The account's own assets as a subquery, not a list: Bastion's own holds thousands.
        wanted = select(Grant.asset_id).where(
            Grant.account_id == account.id, Grant.present.is_(True)
        )
        for asset_id, tasks, name, email, external_id in session.execute(
            select(Grant.asset_id, Grant.tasks, Account.name, Account.email, Account.external_id)
            .join(Account, Account.id == Grant.account_id)
            .where(
                Grant.asset_id.in_(wanted),
                Grant.present.is_(True),
                Grant.account_id != account.id,
                Account.present.is_(True),
                Account.kind == AccountKind.PERSON,
            )
            .order_by(Account.name, Account.id)
        ):
            if asset_id in people and FULL_CONTROL_TASK in tasks:
                people[asset_id].append(name or email or external_id)
        for asset_id, tasks, name, external_id in session.execute(
            select(PartnerGrant.asset_id, PartnerGrant.tasks, Partner.name, Partner.external_id)
            .join(Partner, Partner.id == PartnerGrant.partner_id)
            .where(
                PartnerGrant.asset_id.in_(wanted),
                PartnerGrant.present.is_(True),
                Partner.present.is_(True),
            )
            .order_by(Partner.name, Partner.id)
        ):
            if asset_id in partners and FULL_CONTROL_TASK in tasks:
                partners[asset_id].append(name or external_id)
    return [
        AssetKeepers(
            asset.id,
            asset.external_id,
            asset.name,
            asset.type.value,
            tuple(dict.fromkeys(people[asset.id])),
            tuple(dict.fromkeys(partners[asset.id])),
        )
        for asset in sorted(by_id.values(), key=lambda a: a.id)
    ]


def _left_without_full_control(
    session: Session, account: Account, assets: Iterable[Asset]
) -> list[AssetKeepers]:
    """Of the assets on which ``account`` gives up ``MANAGE``, those nobody else would control."""
    return [keepers for keepers in _keepers(session, account, assets) if keepers.orphaned]


def require_removable(app: App, account: Account) -> None:
    """Bastion removes people and invitations, never a system user (the app removes none
    through its API) and least of all its own, which would cut Bastion off."""
    require_not_bastions_own(app, account, "removing it would cut Bastion off from the business")
    require_person(app, account, "removed through Bastion (remove it in the app itself)")


def _names(assets: Iterable[AssetKeepers | Asset]) -> str:
    return ", ".join(a.name or a.external_id for a in assets)


def _refuse_taking_tasks_from_bastion(
    session: Session,
    app: App,
    account: Account,
    assets: Mapping[int, Asset],
    wanted_tasks: Mapping[int, Sequence[str]],
) -> None:
    """Bastion's own system user keeps every task it holds: without them Bastion could no
    longer see or manage those assets."""
    if not is_bastions_own(app, account):
        return
    held = dict(
        session.execute(
            select(Grant.asset_id, Grant.tasks).where(
                Grant.account_id == account.id,
                Grant.asset_id.in_(list(wanted_tasks)),
                Grant.present.is_(True),
            )
        ).all()
    )
    dropped = [
        assets[asset_id]
        for asset_id, wanted in sorted(wanted_tasks.items())
        if set(held.get(asset_id, ())) - set(wanted)
    ]
    if dropped:
        require_not_bastions_own(
            app,
            account,
            f"taking tasks away from it on {_names(dropped)} would leave Bastion unable to see "
            "or manage them",
        )


def _manages(session: Session, account: Account, asset: Asset) -> bool:
    tasks = session.scalar(
        select(Grant.tasks).where(
            Grant.account_id == account.id, Grant.asset_id == asset.id, Grant.present.is_(True)
        )
    )
    return tasks is not None and FULL_CONTROL_TASK in tasks


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

    Removing the business's last admin is refused outright, and so is removing a system user
    (the app removes none through its API; Bastion's own would cut Bastion off); removing
    someone whose departure leaves assets without full control needs ``force``.
    """
    tenant = Tenant(session, workspace_id)
    account, app = account_and_app(tenant, account_id)
    require(session, actor=actor, app=app, action=MANAGE_MEMBERS)
    require_present(account)
    require_removable(app, account)
    radius = blast_radius(session, workspace_id=workspace_id, account_id=account.id)
    if radius.is_last_admin:
        raise Conflict(
            f"{account_label(account)} is the business's last admin; make someone else an "
            "admin first"
        )
    if radius.orphaned_assets and not force:
        raise Conflict(
            f"removing this account leaves nobody with full control of: "
            f"{_names(radius.orphaned_assets)} (system users do not count); confirm with force "
            "to remove anyway"
        )
    if account.kind == AccountKind.PARTNER_PERSON:
        return ask_partner_to_remove(
            session, app=app, account=account, actor=actor, idempotency_key=idempotency_key
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
    confirm_unvouched: bool = False,
) -> Operation:
    """Queue a change of the person's business role (``ADMIN`` = full control).

    Making an account that is not onboarded an admin needs ``confirm_unvouched`` (vouching.py).
    """
    role = business_role(role)
    tenant = Tenant(session, workspace_id)
    account, app = account_and_app(tenant, account_id)
    require(session, actor=actor, app=app, action=MANAGE_MEMBERS)
    require_present(account)
    require_not_bastions_own(
        app, account, "Bastion never demotes it: that would cut Bastion off from the business"
    )
    require_person(app, account, "given a business role by Bastion")
    if account.kind != AccountKind.PERSON:
        raise Conflict("only a person's role can be changed")
    demoted = account.app_role == ADMIN_ROLE and role != ADMIN_ROLE
    if demoted and not _person_admins(session, app.id, besides=account.id):
        raise Conflict("this is the business's last admin; make someone else an admin first")
    promoted = role == ADMIN_ROLE and account.app_role != ADMIN_ROLE
    unvouched = promoted and require_vouched_or_confirmed(
        account, what="The business admin role", confirmed=confirm_unvouched
    )
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
                "unvouched_confirmed": unvouched,
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
    confirm_unvouched: bool = False,
) -> list[Operation]:
    """Queue what takes each asset to exactly the wanted tasks (asset id → tasks; no tasks
    revokes all of them).

    Taking ``MANAGE`` away where nobody else would keep full control of the asset (no other
    person or partner with ``MANAGE``; system users do not count) needs ``force``, as a removal
    does; giving ``MANAGE`` to an account that is not onboarded needs ``confirm_unvouched``
    (vouching.py).
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
    held = {asset_id: held_tasks(session, account, assets[asset_id]) for asset_id in assets}
    _refuse_taking_tasks_from_bastion(session, app, account, assets, wanted_tasks)
    losing = [
        assets[asset_id]
        for asset_id, tasks in wanted_tasks.items()
        if FULL_CONTROL_TASK not in tasks and _manages(session, account, assets[asset_id])
    ]
    orphaned = _left_without_full_control(session, account, losing)
    if orphaned and not force:
        raise Conflict(
            f"taking MANAGE away leaves nobody with full control of: {_names(orphaned)} "
            "(system users do not count); confirm with force to change anyway"
        )
    gaining = [
        assets[asset_id].name or assets[asset_id].external_id
        for asset_id, tasks in sorted(wanted_tasks.items())
        if FULL_CONTROL_TASK in tasks and FULL_CONTROL_TASK not in held[asset_id]
    ]
    unvouched = bool(gaining) and require_vouched_or_confirmed(
        account, what=f"MANAGE on {', '.join(gaining)}", confirmed=confirm_unvouched
    )
    operations: list[Operation] = []
    for asset_id, tasks in sorted(wanted_tasks.items()):
        asset = assets[asset_id]
        key = f"{idempotency_key}:{asset_id}" if idempotency_key else None
        earlier = [earlier_operation(session, app, k) for k in (key, f"{key}:2")] if key else []
        if earlier and earlier[0] is not None:
            # A repeat: what the first request queued, even if the tasks held changed since.
            operations.extend(o for o in earlier if o is not None)
            continue
        for step, (kind, step_tasks) in enumerate(task_steps(held[asset_id], tasks), start=1):
            operation, _created = queue_once(
                session,
                app=app,
                kind=kind,
                actor=actor,
                idempotency_key=f"{key}:{step}" if key and step > 1 else key,
                target_external_id=account.external_id,
                parameters={"asset_external_id": asset.external_id, "tasks": step_tasks},
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
            "unvouched_confirmed": unvouched,
        },
    )
    return operations
