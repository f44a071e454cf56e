"""Removing a partner business with its residue, as one batch an owner reviews and applies.

    gather ──▶ batch (items: partner access per asset, people, invitations, the partnership)
                 │ the owner unticks what stays (trims)
                 ▼
    apply ───▶ one operation per kept item, idempotency key ``partner-removal-item:<id>:<n>``

Applying is done once: the first apply trims the unticked items and queues the rest; applying
again queues nothing, except a new attempt for an item whose operation failed. The operations
engine performs each exactly once and resumes after a crash (``operations.py``). As for any
removal, a batch that leaves an asset without anyone holding full control (people, and partners
other than this one; system users do not count) needs ``force``, and one that removes every
person holding the business admin role is refused.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.orm import Session

from bastion.actions.actors import Actor
from bastion.actions.operations import queue_operation
from bastion.actions.partner_residue import (
    clean_domains,
    gather_residue,
    guest_ids,
    partner_domains,
)
from bastion.actions.permissions import REMOVE_PARTNER, VIEW_PEOPLE, require
from bastion.actions.removal import ADMIN_ROLE, FULL_CONTROL_TASK
from bastion.audit import AuditAction, record
from bastion.errors import Conflict, NotFound
from bastion.storage.models import (
    Account,
    App,
    Asset,
    Grant,
    LocalPartner,
    Operation,
    Partner,
    PartnerGrant,
    PartnerRemoval,
    PartnerRemovalItem,
    utcnow,
)
from bastion.storage.models.enums import (
    AccountKind,
    OperationKind,
    OperationState,
    PartnerRemovalItemKind,
)
from bastion.storage.tenancy import Tenant

_ORDER = (
    PartnerRemovalItemKind.PARTNER_ACCESS,
    PartnerRemovalItemKind.PERSON,
    PartnerRemovalItemKind.INVITATION,
    PartnerRemovalItemKind.PARTNER,
)
_OPERATION_KINDS = {
    PartnerRemovalItemKind.PARTNER: OperationKind.REMOVE_PARTNER,
    PartnerRemovalItemKind.PARTNER_ACCESS: OperationKind.REMOVE_PARTNER_ACCESS,
    PartnerRemovalItemKind.PERSON: OperationKind.REMOVE,
    PartnerRemovalItemKind.INVITATION: OperationKind.CANCEL_INVITATION,
}


@dataclass(frozen=True)
class RemovalRow:
    """One item as the pages show it: its status is its operation's (or trimmed, or pending)."""

    item: PartnerRemovalItem
    status: str
    result: str | None
    # The item's person's asset tasks (asset name, tasks), for people.
    holds: tuple[tuple[str, tuple[str, ...]], ...]


@dataclass(frozen=True)
class RemovalView:
    removal: PartnerRemoval
    partner: Partner
    local_partner: LocalPartner | None
    rows: tuple[RemovalRow, ...]

    @property
    def applied(self) -> bool:
        return self.removal.applied_at is not None


@dataclass(frozen=True)
class RemovalPreview:
    """What applying would do now, for the confirmation every interface asks for."""

    removal_id: int
    item_ids: tuple[int, ...]
    people: int
    seats: int
    invitations: int
    partner_accesses: int
    ends_partnership: bool
    # Assets nobody would keep full control of: applying needs force.
    orphaned_assets: tuple[str, ...]
    forced: bool

    @property
    def confirmation(self) -> str:
        """Names exactly what was confirmed: a batch that changed since asks again."""
        return "-".join(map(str, self.item_ids)) + (":force" if self.forced else "")

    @property
    def summary(self) -> str:
        parts = [_count(self.people, "person", "people"), _count(self.seats, "seat")]
        parts.append(_count(self.invitations, "pending invitation"))
        if self.partner_accesses:
            parts.append(_count(self.partner_accesses, "shared asset"))
        return ", ".join(parts) + (" and the partnership" if self.ends_partnership else "")


def _count(n: int, one: str, many: str | None = None) -> str:
    return f"{n} {one if n == 1 else many or one + 's'}"


def _partner_of_app(tenant: Tenant, app_id: int, partner_id: int) -> tuple[App, Partner]:
    app = tenant.get(App, app_id)
    partner = tenant.get(Partner, partner_id)
    if partner.app_id != app.id:
        raise NotFound(f"partner {partner_id} not found in {app.label}")
    return app, partner


def open_removal(session: Session, partner_id: int) -> PartnerRemoval | None:
    """The partner's batch not applied yet, if any."""
    return session.scalars(
        select(PartnerRemoval).where(
            PartnerRemoval.partner_id == partner_id, PartnerRemoval.applied_at.is_(None)
        )
    ).first()


def latest_removal(session: Session, partner_id: int) -> PartnerRemoval | None:
    return session.scalars(
        select(PartnerRemoval)
        .where(PartnerRemoval.partner_id == partner_id)
        .order_by(PartnerRemoval.id.desc())
    ).first()


def gather_partner_removal(
    session: Session,
    *,
    workspace_id: int,
    app_id: int,
    partner_id: int,
    actor: Actor,
    local_partner_id: int | None = None,
    domains: Iterable[str] = (),
) -> PartnerRemoval:
    """Gather the partner's residue into its batch (a batch not applied yet is gathered again:
    what the owner sees is what the app holds now)."""
    tenant = Tenant(session, workspace_id)
    app, partner = _partner_of_app(tenant, app_id, partner_id)
    require(session, actor=actor, app=app, action=REMOVE_PARTNER)
    if not partner.present:
        raise Conflict(
            f"{partner.name or partner.external_id} is no longer a partner of {app.label}"
        )
    named = clean_domains(domains)
    local_partner = tenant.get(LocalPartner, local_partner_id) if local_partner_id else None
    removal = open_removal(session, partner.id)
    if removal is None:
        removal = tenant.add(
            PartnerRemoval(app_id=app.id, partner_id=partner.id, created_by_id=actor.user_id)
        )
    else:
        removal.created_by_id, removal.created_at = actor.user_id, utcnow()
    removal.local_partner_id = local_partner.id if local_partner else None
    removal.domains = partner_domains(session, partner, local_partner, named)
    session.flush()
    guests = guest_ids(session, local_partner)
    found = gather_residue(session, app, partner, domains=removal.domains, guests=guests)
    # Gathering again keeps the ids of what is still there, so an item named from an earlier
    # listing (``--skip ITEM``) is still that item.
    earlier = {(i.kind, i.target_external_id): i for i in _items(session, removal)}
    for residue in found:
        item = earlier.pop((residue.kind, residue.target_external_id), None)
        if item is None:
            item = tenant.add(
                PartnerRemovalItem(
                    removal_id=removal.id,
                    kind=residue.kind,
                    target_external_id=residue.target_external_id,
                )
            )
        item.label, item.reason = residue.label[:400], residue.reason[:500]
        item.account_id, item.asset_id = residue.account_id, residue.asset_id
    for gone in earlier.values():
        session.delete(gone)
    session.flush()
    record(
        session,
        workspace_id=workspace_id,
        actor=actor.label,
        action=AuditAction.PARTNER_REMOVAL_GATHERED,
        target=f"app:{app.id}",
        details={
            "removal_id": removal.id,
            "partner": partner.external_id,
            "local_partner_id": removal.local_partner_id,
            "domains": removal.domains,
            "items": len(found),
        },
        request_id=actor.request_id,
    )
    return removal


def _items(session: Session, removal: PartnerRemoval) -> list[PartnerRemovalItem]:
    """The batch's items in the order they are carried out: the partnership ends last."""
    items = session.scalars(
        select(PartnerRemovalItem)
        .where(PartnerRemovalItem.removal_id == removal.id)
        .order_by(PartnerRemovalItem.id)
    )
    return sorted(items, key=lambda i: (_ORDER.index(i.kind), i.id))


def read_partner_removal(
    session: Session, *, workspace_id: int, removal_id: int, actor: Actor
) -> RemovalView:
    tenant = Tenant(session, workspace_id)
    removal = tenant.get(PartnerRemoval, removal_id)
    app = tenant.get(App, removal.app_id)
    require(session, actor=actor, app=app, action=VIEW_PEOPLE)
    partner = tenant.get(Partner, removal.partner_id)
    local = tenant.get(LocalPartner, removal.local_partner_id) if removal.local_partner_id else None
    items = _items(session, removal)
    operations = {
        o.id: o for o in tenant.all(Operation, Operation.id.in_([i.operation_id for i in items]))
    }
    holds = _holdings(session, [i.account_id for i in items if i.account_id is not None])
    rows = []
    for item in items:
        operation = operations.get(item.operation_id or 0)
        if item.trimmed:
            status, result = "trimmed", "Kept in the app."
        elif operation is None:
            status, result = "pending", None
        else:
            status = operation.state.value
            result = operation.last_error or (operation.result or {}).get("detail")
        rows.append(RemovalRow(item, status, result, holds.get(item.account_id or 0, ())))
    return RemovalView(removal, partner, local, tuple(rows))


def _holdings(
    session: Session, account_ids: list[int]
) -> dict[int, tuple[tuple[str, tuple[str, ...]], ...]]:
    found: dict[int, list[tuple[str, tuple[str, ...]]]] = {}
    for account_id, name, tasks in session.execute(
        select(Grant.account_id, Asset.name, Grant.tasks)
        .join(Asset, Asset.id == Grant.asset_id)
        .where(Grant.account_id.in_(account_ids), Grant.present.is_(True))
        .order_by(Asset.name)
    ):
        found.setdefault(account_id, []).append((name, tuple(tasks)))
    return {k: tuple(v) for k, v in found.items()}


def _due(session: Session, items: list[PartnerRemovalItem]) -> list[PartnerRemovalItem]:
    """Items not trimmed whose operation was never queued, or failed."""
    failed = set(
        session.scalars(
            select(Operation.id).where(
                Operation.id.in_([i.operation_id for i in items if i.operation_id]),
                Operation.state == OperationState.FAILED,
            )
        )
    )
    return [
        i for i in items if not i.trimmed and (i.operation_id is None or i.operation_id in failed)
    ]


def _kept(
    removal: PartnerRemoval, items: list[PartnerRemovalItem], kept_ids: Iterable[int] | None
) -> list[PartnerRemovalItem]:
    """The items the owner keeps ticked; once applied, the trimming stays as it was."""
    if kept_ids is None or removal.applied_at is not None:
        return [i for i in items if not i.trimmed]
    wanted = set(kept_ids)
    missing = wanted - {i.id for i in items}
    if missing:
        raise NotFound(
            f"partner removal {removal.id} has no item {', '.join(map(str, sorted(missing)))}"
            " (gather it again to see what it holds now)"
        )
    return [i for i in items if i.id in wanted]


def _orphaned(
    session: Session, app: App, partner: Partner, kept: list[PartnerRemovalItem]
) -> tuple[tuple[str, ...], bool]:
    """Assets left without full control once the kept items are done, and whether every
    person holding the business admin role would be gone."""
    removed = {i.account_id for i in kept if i.kind == PartnerRemovalItemKind.PERSON}
    ends = any(i.kind == PartnerRemovalItemKind.PARTNER for i in kept)
    unshared = {i.asset_id for i in kept if i.kind == PartnerRemovalItemKind.PARTNER_ACCESS}
    losing: set[int] = set()
    keepers: dict[int, int] = {}
    for asset_id, account_id, tasks in session.execute(
        select(Grant.asset_id, Grant.account_id, Grant.tasks)
        .join(Account, Account.id == Grant.account_id)
        .where(
            Grant.app_id == app.id,
            Grant.present.is_(True),
            Account.present.is_(True),
            Account.kind == AccountKind.PERSON,
        )
    ):
        if FULL_CONTROL_TASK not in tasks:
            continue
        if account_id in removed:
            losing.add(asset_id)
        else:
            keepers[asset_id] = keepers.get(asset_id, 0) + 1
    for asset_id, partner_id, tasks in session.execute(
        select(PartnerGrant.asset_id, PartnerGrant.partner_id, PartnerGrant.tasks)
        .join(Partner, Partner.id == PartnerGrant.partner_id)
        .where(
            Partner.app_id == app.id,
            Partner.present.is_(True),
            PartnerGrant.present.is_(True),
        )
    ):
        if FULL_CONTROL_TASK not in tasks:
            continue
        if partner_id == partner.id and (ends or asset_id in unshared):
            losing.add(asset_id)
        else:
            keepers[asset_id] = keepers.get(asset_id, 0) + 1
    orphaned = [a for a in sorted(losing) if not keepers.get(a)]
    names = tuple(
        asset.name or asset.external_id
        for asset in session.scalars(select(Asset).where(Asset.id.in_(orphaned)))
    )
    admins = set(
        session.scalars(
            select(Account.id).where(
                Account.app_id == app.id,
                Account.present.is_(True),
                Account.kind == AccountKind.PERSON,
                Account.app_role == ADMIN_ROLE,
            )
        )
    )
    return tuple(sorted(names)), bool(admins) and admins <= removed


def preview_partner_removal(
    session: Session,
    *,
    workspace_id: int,
    removal_id: int,
    actor: Actor,
    kept_item_ids: Iterable[int] | None = None,
    force: bool = False,
) -> RemovalPreview:
    """What ``apply_partner_removal`` would queue now, counted, with the assets it orphans."""
    tenant = Tenant(session, workspace_id)
    removal = tenant.get(PartnerRemoval, removal_id)
    app = tenant.get(App, removal.app_id)
    require(session, actor=actor, app=app, action=REMOVE_PARTNER)
    partner = tenant.get(Partner, removal.partner_id)
    items = _items(session, removal)
    kept = _kept(removal, items, kept_item_ids)
    due = [i for i in _due(session, items) if i in kept]
    orphaned, last_admins = _orphaned(session, app, partner, kept)
    if last_admins:
        raise Conflict(
            "this batch removes every person holding the business admin role; untick one of "
            "them or make someone else an admin first"
        )
    matched = {
        a.id: a.matched_user_id
        for a in tenant.all(Account, Account.id.in_([i.account_id for i in due if i.account_id]))
    }
    people = {
        f"user:{matched[i.account_id]}"
        if matched.get(i.account_id) is not None
        else f"account:{i.account_id}"
        for i in due
        if i.account_id is not None
    }
    return RemovalPreview(
        removal_id=removal.id,
        item_ids=tuple(i.id for i in due),
        people=len(people),
        seats=sum(1 for i in due if i.kind == PartnerRemovalItemKind.PERSON),
        invitations=sum(1 for i in due if i.kind == PartnerRemovalItemKind.INVITATION),
        partner_accesses=sum(1 for i in due if i.kind == PartnerRemovalItemKind.PARTNER_ACCESS),
        ends_partnership=any(i.kind == PartnerRemovalItemKind.PARTNER for i in due),
        orphaned_assets=orphaned if due else (),
        forced=bool(force and orphaned and due),
    )


def apply_partner_removal(
    session: Session,
    *,
    workspace_id: int,
    removal_id: int,
    actor: Actor,
    kept_item_ids: Iterable[int] | None = None,
    force: bool = False,
) -> list[Operation]:
    """Trim the unticked items and queue one operation per kept item; returns those queued.

    ``kept_item_ids`` None keeps every item. Applying a batch again queues nothing but a new
    attempt for each item whose operation failed.
    """
    preview = preview_partner_removal(
        session,
        workspace_id=workspace_id,
        removal_id=removal_id,
        actor=actor,
        kept_item_ids=kept_item_ids,
        force=force,
    )
    if preview.orphaned_assets and not force:
        raise Conflict(
            "this batch leaves nobody with full control of: "
            f"{', '.join(preview.orphaned_assets)} (system users do not count); untick the "
            "people who hold it, or confirm with force to remove anyway"
        )
    tenant = Tenant(session, workspace_id)
    removal = tenant.get(PartnerRemoval, removal_id)
    app = tenant.get(App, removal.app_id)
    partner = tenant.get(Partner, removal.partner_id)
    items = _items(session, removal)
    trimmed: list[int] = []
    if removal.applied_at is None:
        kept = {i.id for i in _kept(removal, items, kept_item_ids)}
        for item in items:
            if item.id not in kept:
                item.trimmed = True
                trimmed.append(item.id)
        removal.applied_at, removal.applied_by_id = utcnow(), actor.user_id
        removal.forced = preview.forced
    wanted = set(preview.item_ids)
    queued: list[Operation] = []
    for item in items:
        if item.id not in wanted:
            continue
        attempt = 1 if item.operation_id is None else _attempt(session, item) + 1
        operation = _queue_item(
            session, app, partner, item, actor, f"partner-removal-item:{item.id}:{attempt}"
        )
        item.operation_id = operation.id
        queued.append(operation)
    record(
        session,
        workspace_id=workspace_id,
        actor=actor.label,
        action=AuditAction.PARTNER_REMOVAL_APPLIED,
        target=f"app:{app.id}",
        details={
            "removal_id": removal.id,
            "partner": partner.external_id,
            "items": list(preview.item_ids),
            "trimmed": trimmed,
            "operations": [o.id for o in queued],
            "forced": preview.forced,
            "orphaned_assets": list(preview.orphaned_assets),
        },
        request_id=actor.request_id,
    )
    session.flush()
    return queued


def _queue_item(
    session: Session,
    app: App,
    partner: Partner,
    item: PartnerRemovalItem,
    actor: Actor,
    key: str,
) -> Operation:
    kind = _OPERATION_KINDS[item.kind]
    if item.kind == PartnerRemovalItemKind.PARTNER:
        return queue_operation(
            session,
            app=app,
            kind=kind,
            actor=actor,
            target_external_id=partner.external_id,
            parameters={"relation": partner.relation.value},
            idempotency_key=key,
        )
    if item.kind == PartnerRemovalItemKind.PARTNER_ACCESS:
        return queue_operation(
            session,
            app=app,
            kind=kind,
            actor=actor,
            target_external_id=partner.external_id,
            parameters={"asset_external_id": item.target_external_id},
            asset_id=item.asset_id,
            idempotency_key=key,
        )
    account = session.get(Account, item.account_id) if item.account_id else None
    email = account.email if account is not None else None
    return queue_operation(
        session,
        app=app,
        kind=kind,
        actor=actor,
        target_external_id=item.target_external_id,
        parameters={"email": email} if email else {},
        account_id=item.account_id,
        idempotency_key=key,
    )


def _attempt(session: Session, item: PartnerRemovalItem) -> int:
    key = session.scalar(select(Operation.idempotency_key).where(Operation.id == item.operation_id))
    try:
        return int((key or "").rsplit(":", 1)[-1])
    except ValueError:
        return 1
