"""Removing a partner's person: a manual step naming what to ask the partner.

A partner's people hold tasks on our assets through the partner: the partner assigned them, in
its own business, to assets we gave it, and the app's own token cannot take those tasks away
(docs/connector-meta.md, "Native partners' people", says why for Meta). So the removal is an
operation in the ``manual`` state whose step says what to ask the partner; the check that no
longer sees the person confirms it. Taking the asset away from the partner altogether is the
partner removal's own operation.
"""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.orm import Session

from bastion.actions.account_steps import account_label, queue_once
from bastion.actions.actors import Actor
from bastion.audit import AuditAction, record
from bastion.storage.models import Account, App, Asset, Grant, Operation, Partner
from bastion.storage.models.enums import OperationKind, OperationState


def ask_partner_to_remove(
    session: Session, *, app: App, account: Account, actor: Actor, idempotency_key: str | None
) -> Operation:
    partner_id = account.details.get("partner_external_id")
    partner = session.scalars(
        select(Partner).where(Partner.app_id == app.id, Partner.external_id == partner_id)
    ).first()
    partner_name = partner.name if partner is not None and partner.name else str(partner_id)
    held = session.execute(
        select(Asset.name, Asset.external_id, Grant.tasks)
        .join(Grant, Grant.asset_id == Asset.id)
        .where(Grant.account_id == account.id, Grant.present.is_(True))
        .order_by(Asset.name)
    ).all()
    assets = "; ".join(f"{name or ext} ({', '.join(tasks)})" for name, ext, tasks in held)
    step = (
        f"Ask {partner_name} to remove {account_label(account)} from our assets: in their "
        f"Business settings, each asset's People list: {assets or 'every asset of ours'}. Or "
        f"take those assets away from {partner_name} altogether (Partners tab). Bastion's own "
        "token cannot remove a partner's person; the next check that no longer sees them "
        "confirms it."
    )
    operation, created = queue_once(
        session,
        app=app,
        kind=OperationKind.REMOVE,
        actor=actor,
        idempotency_key=idempotency_key,
        target_external_id=account.external_id,
        parameters={"partner_external_id": partner_id} if partner_id else {},
        account_id=account.id,
    )
    if created:
        operation.state, operation.manual_steps = OperationState.MANUAL, step
        operation.next_attempt_at = None
        record(
            session,
            workspace_id=app.workspace_id,
            actor=actor.label,
            action=AuditAction.ACCOUNT_REMOVAL_REQUESTED,
            target=f"account:{account.id}",
            details={"account": account.id, "operation_id": operation.id, "forced": False},
            request_id=actor.request_id,
        )
    session.flush()
    return operation
