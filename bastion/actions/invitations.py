"""Inviting people to an app's business by e-mail, and cancelling invitations.

An invitation's age counts from the check that first saw it. An app may cancel invitations past
an age by itself (``App.auto_cancel_invitations_days``): each check queues one cancellation per
such invitation, ever (``cancel_invitations_past_limit``).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import select
from sqlalchemy.orm import Session

from bastion.actions.account_steps import (
    AccountResult,
    account_and_app,
    audit_event,
    clean_idempotency_key,
    earlier_operation,
    for_each_account,
    queue_once,
    require_present,
)
from bastion.actions.actors import Actor
from bastion.actions.apps import MAX_INVITATION_AGE_DAYS
from bastion.actions.permissions import MANAGE_MEMBERS, require
from bastion.actions.removal import assets_by_id, business_role, task_names
from bastion.actions.users import email_key, validate_email
from bastion.audit import AuditAction
from bastion.errors import Conflict, InvalidInput
from bastion.storage.models import Account, App, Operation, utcnow
from bastion.storage.models.enums import AccountKind, OperationKind, OperationState
from bastion.storage.tenancy import Tenant

# Operations that, while not finished, already take the invitation away.
_UNDER_WAY = (
    OperationState.QUEUED,
    OperationState.RUNNING,
    OperationState.DEFERRED,
    OperationState.MANUAL,
)


def invite_person(
    session: Session,
    *,
    workspace_id: int,
    app_id: int,
    email: str,
    role: str,
    asset_tasks: Mapping[int, Sequence[str]],
    actor: Actor,
    idempotency_key: str | None = None,
) -> Operation:
    """Queue an invitation to the business by e-mail, with a business role and asset tasks."""
    email = validate_email(email)
    role = business_role(role)
    tenant = Tenant(session, workspace_id)
    app = tenant.get(App, app_id)
    require(session, actor=actor, app=app, action=MANAGE_MEMBERS)
    if app.disconnected_at is not None:
        raise Conflict(f"app {app.label!r} is disconnected")
    assets = assets_by_id(tenant, app, asset_tasks)
    by_external = {
        assets[k].external_id: task_names("asset_tasks", v) for k, v in asset_tasks.items() if v
    }
    idempotency_key = clean_idempotency_key(idempotency_key)
    if earlier_operation(session, app, idempotency_key) is None:
        seated = tenant.find(
            Account,
            Account.app_id == app.id,
            Account.email_key == email_key(email),
            Account.present.is_(True),
        )
        if seated is not None:
            raise Conflict(f"{email} already has a seat or an invitation in {app.label}")
    operation, created = queue_once(
        session,
        app=app,
        kind=OperationKind.INVITE,
        actor=actor,
        idempotency_key=idempotency_key,
        parameters={"email": email, "role": role, "asset_tasks": by_external},
    )
    if created:
        audit_event(
            session,
            app,
            actor,
            AuditAction.PERSON_INVITED,
            f"app:{app.id}",
            {"email": email, "role": role, "assets": by_external, "operation_id": operation.id},
        )
    return operation


def cancel_invitation(
    session: Session,
    *,
    workspace_id: int,
    account_id: int,
    actor: Actor,
    idempotency_key: str | None = None,
    stale: bool = False,
    older_than_days: int | None = None,
) -> Operation:
    tenant = Tenant(session, workspace_id)
    account, app = account_and_app(tenant, account_id)
    require(session, actor=actor, app=app, action=MANAGE_MEMBERS)
    require_present(account)
    if account.kind != AccountKind.INVITATION:
        raise Conflict(f"account {account.id} is not a pending invitation")
    operation, created = queue_once(
        session,
        app=app,
        kind=OperationKind.CANCEL_INVITATION,
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
            AuditAction.INVITATION_CANCEL_REQUESTED,
            f"account:{account.id}",
            {
                "account": account.id,
                "operation_id": operation.id,
                "stale": stale,
                "older_than_days": older_than_days,
            },
        )
    return operation


def invitation_age_limit(value: int, field: str = "older_than_days") -> int:
    if not 0 <= value <= MAX_INVITATION_AGE_DAYS:
        raise InvalidInput(field, f"must be between 0 and {MAX_INVITATION_AGE_DAYS}")
    return value


def _stale_ids(session: Session, app: App, older_than_days: int) -> list[int]:
    cutoff = utcnow() - timedelta(days=older_than_days)
    return list(
        session.scalars(
            select(Account.id)
            .where(
                Account.workspace_id == app.workspace_id,
                Account.app_id == app.id,
                Account.kind == AccountKind.INVITATION,
                Account.present.is_(True),
                Account.created_at <= cutoff,
            )
            .order_by(Account.id)
        ).all()
    )


def cancel_stale_invitations(
    session: Session, *, workspace_id: int, app_id: int, older_than_days: int, actor: Actor
) -> list[AccountResult]:
    """Cancel every pending invitation Bastion first saw more than N days ago."""
    older_than_days = invitation_age_limit(older_than_days)
    tenant = Tenant(session, workspace_id)
    app = tenant.get(App, app_id)
    require(session, actor=actor, app=app, action=MANAGE_MEMBERS)
    return for_each_account(
        session,
        _stale_ids(session, app, older_than_days),
        lambda account_id: cancel_invitation(
            session,
            workspace_id=workspace_id,
            account_id=account_id,
            actor=actor,
            stale=True,
            older_than_days=older_than_days,
        ),
    )


def cancel_invitations_past_limit(session: Session, app: App, *, actor: Actor) -> list[Operation]:
    """A check's part: queue the cancelling of each invitation older than the app's limit.

    Each invitation gets one such cancellation, ever (its key is ``stale-invitation:<account>``),
    and none while another cancellation or removal of it is under way.
    """
    days = app.auto_cancel_invitations_days
    if days is None or app.disconnected_at is not None:
        return []
    queued = []
    for account_id in _stale_ids(session, app, days):
        key = f"bastion:stale-invitation:{account_id}"
        if earlier_operation(session, app, key) is not None or _being_taken_away(
            session, account_id
        ):
            continue
        queued.append(
            cancel_invitation(
                session,
                workspace_id=app.workspace_id,
                account_id=account_id,
                actor=actor,
                idempotency_key=key,
                stale=True,
                older_than_days=days,
            )
        )
    return queued


def _being_taken_away(session: Session, account_id: int) -> bool:
    return (
        session.scalar(
            select(Operation.id)
            .where(
                Operation.account_id == account_id,
                Operation.kind.in_((OperationKind.CANCEL_INVITATION, OperationKind.REMOVE)),
                Operation.state.in_(_UNDER_WAY),
            )
            .limit(1)
        )
        is not None
    )


@dataclass(frozen=True)
class PendingInvitation:
    """An invitation waiting for its person, with its age as Bastion knows it."""

    account: Account
    first_seen_at: datetime
    age_days: int
    expires_at: datetime | None
    older_than_limit: bool

    @property
    def expired(self) -> bool:
        """Meta lets an invitation lapse; a lapsed one still holds its e-mail until cancelled."""
        return self.expires_at is not None and self.expires_at <= utcnow()


def pending_invitations(
    session: Session, *, workspace_id: int, app_id: int, older_than_days: int, actor: Actor
) -> list[PendingInvitation]:
    """Every pending invitation of the app, oldest first, marked when older than N days."""
    older_than_days = invitation_age_limit(older_than_days)
    tenant = Tenant(session, workspace_id)
    app = tenant.get(App, app_id)
    require(session, actor=actor, app=app, action=MANAGE_MEMBERS)
    now = utcnow()
    cutoff = now - timedelta(days=older_than_days)
    rows = tenant.all(
        Account,
        Account.app_id == app.id,
        Account.kind == AccountKind.INVITATION,
        Account.present.is_(True),
    )
    found = []
    for account in sorted(rows, key=lambda a: (a.created_at, a.id)):
        expires = account.details.get("invitation_expires_at")
        found.append(
            PendingInvitation(
                account=account,
                first_seen_at=account.created_at,
                age_days=(now - account.created_at).days,
                expires_at=datetime.fromisoformat(expires) if expires else None,
                older_than_limit=account.created_at <= cutoff,
            )
        )
    return found
