"""Deciding a review: keep it with a reason, or revert it through the operations outbox.

A decision is taken once: the review moves from open with a compare-and-set UPDATE, so two
owners deciding at the same moment get one decision and one Conflict. Reverting becomes the
operations that undo the change, queued by the same actions an owner uses by hand (so the
blast-radius rule, Bastion's own system user and the last admin are guarded as everywhere),
with the review's idempotency key, so nothing is queued twice whatever is retried.
"""

from __future__ import annotations

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from bastion.actions.account_steps import account_label, audit_event, queue_once
from bastion.actions.actors import Actor
from bastion.actions.permissions import MANAGE_MEMBERS, require
from bastion.actions.removal import (
    FULL_CONTROL_TASK,
    change_role,
    remove_account,
    set_asset_tasks,
)
from bastion.actions.reviews import announce
from bastion.audit import AuditAction
from bastion.errors import Conflict, InvalidInput
from bastion.storage.models import (
    Account,
    App,
    Asset,
    Grant,
    Operation,
    Partner,
    PartnerGrant,
    Review,
    User,
    utcnow,
)
from bastion.storage.models.enums import AccountKind, OperationKind, ReviewState
from bastion.storage.tenancy import Tenant

REASON_MAX = 500


def _claim(session: Session, review: Review, state: ReviewState, actor: Actor) -> None:
    """Move the review from open to ``state``, or say who decided it first."""
    claimed = session.execute(
        update(Review)
        .where(Review.id == review.id, Review.state == ReviewState.OPEN)
        .values(
            state=state,
            decided_at=utcnow(),
            decided_by_id=actor.user_id,
            decided_by=actor.label,
        )
        .execution_options(synchronize_session=False)
    ).rowcount  # type: ignore[attr-defined]
    session.refresh(review)
    if not claimed:
        raise Conflict(
            f"review {review.id} was already decided: {review.state.value} by "
            f"{decider_name(session, review)}"
        )


def decider_name(session: Session, review: Review) -> str:
    user = session.get(User, review.decided_by_id) if review.decided_by_id else None
    if user is not None:
        return user.display_name or user.email or f"user {user.id}"
    return review.decided_by or "nobody"


def _review_and_app(session: Session, workspace_id: int, review_id: int) -> tuple[Review, App]:
    tenant = Tenant(session, workspace_id)
    review = tenant.get(Review, review_id)
    return review, tenant.get(App, review.app_id)


def keep_review(
    session: Session, *, workspace_id: int, review_id: int, reason: str, actor: Actor
) -> Review:
    """Keep the change: the reason is recorded on the review and in the audit log."""
    reason = (reason or "").strip()
    if not reason:
        raise InvalidInput("reason", "say why the change may stay")
    if len(reason) > REASON_MAX:
        raise InvalidInput("reason", f"must be at most {REASON_MAX} characters")
    review, app = _review_and_app(session, workspace_id, review_id)
    require(session, actor=actor, app=app, action=MANAGE_MEMBERS)
    _claim(session, review, ReviewState.KEPT, actor)
    review.reason = reason
    audit_event(
        session,
        app,
        actor,
        AuditAction.REVIEW_KEPT,
        f"review:{review.id}",
        {"review_id": review.id, "kind": review.kind.value, "reason": reason},
    )
    announce(session, review, "review.decided")
    session.flush()
    return review


def revert_review(
    session: Session,
    *,
    workspace_id: int,
    review_id: int,
    actor: Actor,
    force: bool = False,
    reason: str | None = None,
) -> list[Operation]:
    """Queue what undoes the change; the review is reverted once they are queued.

    ``force`` is the blast-radius confirmation: undoing may leave an asset nobody controls.
    """
    reason = (reason or "").strip() or None
    if reason is not None and len(reason) > REASON_MAX:
        raise InvalidInput("reason", f"must be at most {REASON_MAX} characters")
    review, app = _review_and_app(session, workspace_id, review_id)
    require(session, actor=actor, app=app, action=MANAGE_MEMBERS)
    with session.begin_nested():
        _claim(session, review, ReviewState.REVERTED, actor)
        operations = _undo(session, app, review, actor, force)
        review.operation_ids = [o.id for o in operations]
        review.reason = reason
    audit_event(
        session,
        app,
        actor,
        AuditAction.REVIEW_REVERTED,
        f"review:{review.id}",
        {
            "review_id": review.id,
            "kind": review.kind.value,
            "operations": review.operation_ids,
            "forced": force,
            **({"reason": reason} if reason else {}),
        },
    )
    announce(session, review, "review.decided")
    session.flush()
    return operations


def revert_words(review: Review) -> str:
    """What reverting does, as the pages and the CLI say it."""
    match review.undo.get("action"):
        case "remove":
            return "Remove the person from the business"
        case "role":
            return f"Make them {review.undo.get('role', 'EMPLOYEE')} again"
        case "tasks":
            tasks = review.undo.get("tasks") or []
            return f"Set their tasks on the asset back to {', '.join(tasks) or 'none'}"
        case "take_tasks":
            return "Take every asset task away from the system user"
        case "remove_partner":
            return "Remove the partner business"
        case "remove_partner_access":
            return "Take the asset back from the partner"
    return ""


def _undo(session: Session, app: App, review: Review, actor: Actor, force: bool) -> list[Operation]:
    key = f"review:{review.id}"
    account = session.get(Account, review.account_id) if review.account_id else None
    action = review.undo.get("action")
    if action == "remove_partner":
        return [_remove_partner(session, app, review, actor, force, key)]
    if action == "remove_partner_access":
        return [_remove_partner_access(session, app, review, actor, force, key)]
    if account is None or not account.present:
        raise Conflict("the account is no longer in the app: nothing to revert; keep the review")
    ws, account_id = app.workspace_id, account.id
    match action:
        case "remove":
            return [
                remove_account(
                    session,
                    workspace_id=ws,
                    account_id=account_id,
                    actor=actor,
                    force=force,
                    idempotency_key=key,
                )
            ]
        case "role":
            return [
                change_role(
                    session,
                    workspace_id=ws,
                    account_id=account_id,
                    actor=actor,
                    role=review.undo["role"],
                    idempotency_key=key,
                )
            ]
        case "tasks":
            asset_id = int(review.undo["asset_id"])
            return set_asset_tasks(
                session,
                workspace_id=ws,
                account_id=account_id,
                actor=actor,
                asset_tasks={asset_id: list(review.undo.get("tasks") or [])},
                force=force,
                idempotency_key=key,
            )
        case "take_tasks":
            held = session.scalars(
                select(Grant.asset_id)
                .join(Asset, Asset.id == Grant.asset_id)
                .where(
                    Grant.account_id == account.id,
                    Grant.present.is_(True),
                    Asset.present.is_(True),
                )
                .order_by(Grant.asset_id)
            ).all()
            if not held:
                raise Conflict(
                    f"{account_label(account)} holds no asset tasks Bastion could take away; a "
                    "system user itself is deleted in the app (Meta: Business settings > Users "
                    "> System users)"
                )
            return set_asset_tasks(
                session,
                workspace_id=ws,
                account_id=account_id,
                actor=actor,
                asset_tasks={asset_id: [] for asset_id in held},
                force=force,
                idempotency_key=key,
            )
    raise Conflict(f"review {review.id} cannot be reverted")


def _remove_partner(
    session: Session, app: App, review: Review, actor: Actor, force: bool, key: str
) -> Operation:
    partner = session.get(Partner, review.partner_id) if review.partner_id else None
    if partner is None or not partner.present:
        raise Conflict("the partner is no longer in the app: nothing to revert; keep the review")
    orphaned = _left_to_nobody(session, partner)
    if orphaned and not force:
        raise Conflict(
            "removing this partner leaves nobody with full control of: "
            f"{', '.join(orphaned)} (system users do not count); confirm with force to remove "
            "anyway"
        )
    operation, _created = queue_once(
        session,
        app=app,
        kind=OperationKind.REMOVE_PARTNER,
        actor=actor,
        idempotency_key=key,
        target_external_id=partner.external_id,
        parameters={"relation": partner.relation.value},
    )
    return operation


def _remove_partner_access(
    session: Session, app: App, review: Review, actor: Actor, force: bool, key: str
) -> Operation:
    partner = session.get(Partner, review.partner_id) if review.partner_id else None
    asset = session.get(Asset, review.asset_id) if review.asset_id else None
    grant = (
        session.scalars(
            select(PartnerGrant).where(
                PartnerGrant.partner_id == partner.id,
                PartnerGrant.asset_id == asset.id,
                PartnerGrant.present.is_(True),
            )
        ).first()
        if partner is not None and asset is not None
        else None
    )
    if partner is None or asset is None or grant is None or not partner.present:
        raise Conflict("the partner no longer has this asset: nothing to revert; keep the review")
    if FULL_CONTROL_TASK in grant.tasks and not force:
        orphaned = _left_to_nobody(session, partner)
        if (asset.name or asset.external_id) in orphaned:
            raise Conflict(
                f"taking {asset.name or asset.external_id} back from the partner leaves nobody "
                "with full control of it (system users do not count); confirm with force to "
                "take it back anyway"
            )
    operation, _created = queue_once(
        session,
        app=app,
        kind=OperationKind.REMOVE_PARTNER_ACCESS,
        actor=actor,
        idempotency_key=key,
        target_external_id=partner.external_id,
        parameters={"asset_external_id": asset.external_id},
        asset_id=asset.id,
    )
    return operation


def _left_to_nobody(session: Session, partner: Partner) -> list[str]:
    """The assets the partner controls that no person of the business controls."""
    controlled = [
        asset
        for tasks, asset in session.execute(
            select(PartnerGrant.tasks, Asset)
            .join(Asset, Asset.id == PartnerGrant.asset_id)
            .where(
                PartnerGrant.partner_id == partner.id,
                PartnerGrant.present.is_(True),
                Asset.present.is_(True),
            )
        ).all()
        if FULL_CONTROL_TASK in tasks
    ]
    orphaned = []
    for asset in controlled:
        people = session.scalars(
            select(Grant.tasks)
            .join(Account, Account.id == Grant.account_id)
            .where(
                Grant.asset_id == asset.id,
                Grant.present.is_(True),
                Account.present.is_(True),
                Account.kind == AccountKind.PERSON,
            )
        ).all()
        if not any(FULL_CONTROL_TASK in tasks for tasks in people):
            orphaned.append(asset.name or asset.external_id)
    return orphaned
