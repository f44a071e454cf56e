"""Inviting people to an app's business by e-mail, and cancelling invitations."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import timedelta

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
from bastion.actions.permissions import MANAGE_MEMBERS, require
from bastion.actions.removal import assets_by_id, business_role, task_names
from bastion.actions.users import email_key, validate_email
from bastion.audit import AuditAction
from bastion.errors import Conflict, InvalidInput
from bastion.storage.models import Account, App, Operation, utcnow
from bastion.storage.models.enums import AccountKind, OperationKind
from bastion.storage.tenancy import Tenant


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
            {"account": account.id, "operation_id": operation.id, "stale": stale},
        )
    return operation


def cancel_stale_invitations(
    session: Session, *, workspace_id: int, app_id: int, older_than_days: int, actor: Actor
) -> list[AccountResult]:
    """Cancel every pending invitation Bastion first saw more than N days ago."""
    if older_than_days < 0 or older_than_days > 3650:
        raise InvalidInput("older_than_days", "must be between 0 and 3650")
    tenant = Tenant(session, workspace_id)
    app = tenant.get(App, app_id)
    require(session, actor=actor, app=app, action=MANAGE_MEMBERS)
    cutoff = utcnow() - timedelta(days=older_than_days)
    stale = session.scalars(
        select(Account.id)
        .where(
            Account.workspace_id == workspace_id,
            Account.app_id == app.id,
            Account.kind == AccountKind.INVITATION,
            Account.present.is_(True),
            Account.created_at <= cutoff,
        )
        .order_by(Account.id)
    ).all()
    return for_each_account(
        session,
        stale,
        lambda account_id: cancel_invitation(
            session, workspace_id=workspace_id, account_id=account_id, actor=actor, stale=True
        ),
    )
