"""What an admin does to an app's accounts: match, exempt, remove, change access, invite.

Each action checks the caller's role itself (``permissions.require``), writes an audit event,
and never talks to the app: anything for the app is an Operation in the outbox, which the
interface then hands to a worker (``Jobs(runtime).enqueue_operation``). Callers commit.

This module holds matching and exemptions; removal, roles and asset tasks live in
``removal.py``, invitations in ``invitations.py``, guests and local partners in ``guests.py``.
They are all importable from here, the one door the interfaces use.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime

from sqlalchemy.orm import Session

from bastion.actions.account_steps import (
    AccountResult,
    account_and_app,
    account_label,
    audit_event,
    for_each_account,
    require_person,
    require_present,
    state_for,
)
from bastion.actions.actors import Actor
from bastion.actions.guests import (
    GuestInvite,
    create_local_partner,
    invite_guest,
    invite_partner_guest,
    redeem_guest_invite,
)
from bastion.actions.invitations import (
    PendingInvitation,
    cancel_invitation,
    cancel_stale_invitations,
    invite_person,
    pending_invitations,
)
from bastion.actions.permissions import MANAGE_MEMBERS, require
from bastion.actions.removal import (
    AssetKeepers,
    BlastRadius,
    blast_radius,
    change_role,
    remove_account,
    set_asset_tasks,
)
from bastion.actions.vouching import UnvouchedFullControl
from bastion.audit import AuditAction
from bastion.checks.classify import is_guest
from bastion.errors import Conflict, InvalidInput
from bastion.matching import MatchRule
from bastion.onboarding import invite, settle_one
from bastion.storage.models import Account, AppMember, User, utcnow
from bastion.storage.models.enums import (
    AccountKind,
    AccountState,
    AppRole,
    OnboardingStatus,
    UserStatus,
)
from bastion.storage.tenancy import Tenant

__all__ = [
    "AccountResult",
    "AssetKeepers",
    "BlastRadius",
    "GuestInvite",
    "PendingInvitation",
    "UnvouchedFullControl",
    "blast_radius",
    "bulk_exempt",
    "bulk_match",
    "bulk_remove",
    "bulk_unexempt",
    "bulk_unmatch",
    "cancel_invitation",
    "cancel_stale_invitations",
    "change_role",
    "claim_owner",
    "create_local_partner",
    "exempt_account",
    "invite_guest",
    "invite_partner_guest",
    "invite_person",
    "match_account",
    "pending_invitations",
    "redeem_guest_invite",
    "remove_account",
    "set_asset_tasks",
    "unexempt_account",
    "unmatch_account",
]

MAX_EXEMPTION_REASON = 500


def match_account(
    session: Session,
    *,
    workspace_id: int,
    account_id: int,
    user_id: int,
    role: AppRole,
    actor: Actor,
    base_url: str = "",
) -> Account:
    """Link an account to a directory person by hand; the person becomes a member of the app.

    A manual link wins over every e-mail rule and survives later checks (see matching.py). The
    person is e-mailed that they have access (once per app; ``base_url`` makes its link).
    """
    tenant = Tenant(session, workspace_id)
    account, app = account_and_app(tenant, account_id)
    require(session, actor=actor, app=app, action=MANAGE_MEMBERS)
    require_present(account)
    require_person(app, account, "matched to a person")
    role = _app_role(role)
    user = tenant.get(User, user_id)
    if user.status != UserStatus.ACTIVE or user.removed_at is not None:
        raise InvalidInput("user_id", f"{user.display_name or user.email} is not active")
    if account.kind == AccountKind.INVITATION:
        raise Conflict("an invitation cannot be matched; match the person once they accept it")
    if account.kind == AccountKind.PARTNER_PERSON and not is_guest(user):
        raise Conflict(
            f"{account_label(account)} is a partner's person: only a guest user (or a local "
            f"partner's guest) vouches for them, and {user.display_name or user.email} is not one"
        )
    now = utcnow()
    account.matched_user_id, account.match_rule = user.id, MatchRule.MANUAL.value
    account.match_confidence, account.matched_by_id, account.matched_at = 1.0, actor.user_id, now
    account.exemption_reason = account.exempted_by_id = None
    account.exempted_at = account.exemption_expires_at = None
    account.state = state_for(user, kind=account.kind)
    member = tenant.find(AppMember, AppMember.app_id == app.id, AppMember.user_id == user.id)
    if member is None:
        member = tenant.add(
            AppMember(
                app_id=app.id,
                user_id=user.id,
                role=role,
                onboarding_status=OnboardingStatus.PENDING_ONBOARDING,
            )
        )
    else:
        member.role = role
    invite(session, member, app=app, user=user, account=account, base_url=base_url)
    settle_one(session, member, actor=actor.label, reason="matched", request_id=actor.request_id)
    session.flush()
    audit_event(
        session,
        app,
        actor,
        AuditAction.ACCOUNT_MATCHED,
        f"account:{account.id}",
        {"account": account.id, "user_id": user.id, "role": role.value, "rule": "manual"},
    )
    return account


def _app_role(role: AppRole | str) -> AppRole:
    try:
        return AppRole(role)
    except ValueError:
        raise InvalidInput("role", "must be owner or collaborator") from None


def unmatch_account(
    session: Session, *, workspace_id: int, account_id: int, actor: Actor
) -> Account:
    """Re-assign: the account goes back to Unmatched and its manual link is dropped.

    The person keeps their Bastion role on the app; without a seat they show as Bastion-only.
    """
    tenant = Tenant(session, workspace_id)
    account, app = account_and_app(tenant, account_id)
    require(session, actor=actor, app=app, action=MANAGE_MEMBERS)
    previous = account.matched_user_id
    if previous is None:
        raise Conflict(f"account {account.id} is not matched to anyone")
    account.matched_user_id = account.match_rule = account.match_confidence = None
    account.matched_by_id = account.matched_at = None
    account.state = (
        AccountState.EXEMPTED if account.exemption_reason else state_for(None, kind=account.kind)
    )
    session.flush()
    member = tenant.find(AppMember, AppMember.app_id == app.id, AppMember.user_id == previous)
    if member is not None:
        settle_one(
            session, member, actor=actor.label, reason="unmatched", request_id=actor.request_id
        )
    audit_event(
        session,
        app,
        actor,
        AuditAction.ACCOUNT_UNMATCHED,
        f"account:{account.id}",
        {"account": account.id, "user_id": previous},
    )
    return account


def claim_owner(
    session: Session,
    *,
    workspace_id: int,
    account_id: int,
    actor: Actor,
    base_url: str = "",
    claimant_id: int | None = None,
) -> Account:
    """The signed-in admin takes an account as their own, as Owner (their e-mails differ).

    ``claimant_id`` names the admin when the actor is not a person (the command line).
    """
    claimant = actor.user_id if actor.user_id is not None else claimant_id
    if claimant is None:
        raise InvalidInput("user", "name the admin who claims the account")
    if actor.user_id is not None and claimant_id not in (None, actor.user_id):
        raise InvalidInput("user", "a signed-in person claims an account for themselves only")
    return match_account(
        session,
        workspace_id=workspace_id,
        account_id=account_id,
        user_id=claimant,
        role=AppRole.OWNER,
        actor=actor,
        base_url=base_url,
    )


# --- exemptions ---------------------------------------------------------------------------------


def exempt_account(
    session: Session,
    *,
    workspace_id: int,
    account_id: int,
    reason: str,
    expires_at: datetime | None,
    actor: Actor,
) -> Account:
    """Keep the seat, unmanaged, for a stated reason (and optionally until a date)."""
    reason = (reason or "").strip()
    if not reason:
        raise InvalidInput("reason", "say why this account stays unmanaged")
    if len(reason) > MAX_EXEMPTION_REASON:
        raise InvalidInput("reason", f"must be at most {MAX_EXEMPTION_REASON} characters")
    if expires_at is not None:
        if expires_at.tzinfo is None:
            raise InvalidInput("expires_at", "must carry a time zone (e.g. 2030-01-01T00:00Z)")
        if expires_at <= utcnow():
            raise InvalidInput("expires_at", "must be in the future")
    tenant = Tenant(session, workspace_id)
    account, app = account_and_app(tenant, account_id)
    require(session, actor=actor, app=app, action=MANAGE_MEMBERS)
    require_present(account)
    require_person(app, account, "exempted")
    account.exemption_reason, account.exemption_expires_at = reason, expires_at
    account.exempted_by_id, account.exempted_at = actor.user_id, utcnow()
    account.state = AccountState.EXEMPTED
    session.flush()
    _settle_matched(session, tenant, account, actor, "exempted")
    audit_event(
        session,
        app,
        actor,
        AuditAction.ACCOUNT_EXEMPTED,
        f"account:{account.id}",
        {
            "account": account.id,
            "reason": reason,
            "expires_at": expires_at.isoformat() if expires_at else None,
        },
    )
    return account


def unexempt_account(
    session: Session, *, workspace_id: int, account_id: int, actor: Actor
) -> Account:
    tenant = Tenant(session, workspace_id)
    account, app = account_and_app(tenant, account_id)
    require(session, actor=actor, app=app, action=MANAGE_MEMBERS)
    if not account.exemption_reason:
        raise Conflict(f"account {account.id} is not exempted")
    account.exemption_reason = account.exempted_by_id = None
    account.exempted_at = account.exemption_expires_at = None
    user = session.get(User, account.matched_user_id) if account.matched_user_id else None
    account.state = state_for(user, kind=account.kind)
    session.flush()
    _settle_matched(session, tenant, account, actor, "exemption ended")
    audit_event(
        session,
        app,
        actor,
        AuditAction.ACCOUNT_UNEXEMPTED,
        f"account:{account.id}",
        {"account": account.id},
    )
    return account


def _settle_matched(
    session: Session, tenant: Tenant, account: Account, actor: Actor, reason: str
) -> None:
    """The matched person's onboarding follows their seats (an exempted one is managed outside)."""
    if account.matched_user_id is None:
        return
    member = tenant.find(
        AppMember, AppMember.app_id == account.app_id, AppMember.user_id == account.matched_user_id
    )
    if member is not None:
        settle_one(session, member, actor=actor.label, reason=reason, request_id=actor.request_id)


# --- bulk variants: a result per account, one failure does not stop the rest -----------------


def bulk_match(
    session: Session,
    *,
    workspace_id: int,
    matches: Iterable[tuple[int, int]],
    role: AppRole,
    actor: Actor,
    base_url: str = "",
) -> list[AccountResult]:
    """Match each (account id, user id) pair."""
    users = dict(matches)
    return for_each_account(
        session,
        users,
        lambda account_id: match_account(
            session,
            workspace_id=workspace_id,
            account_id=account_id,
            user_id=users[account_id],
            role=role,
            actor=actor,
            base_url=base_url,
        ),
    )


def bulk_unmatch(
    session: Session, *, workspace_id: int, account_ids: Iterable[int], actor: Actor
) -> list[AccountResult]:
    return for_each_account(
        session,
        account_ids,
        lambda account_id: unmatch_account(
            session, workspace_id=workspace_id, account_id=account_id, actor=actor
        ),
    )


def bulk_exempt(
    session: Session,
    *,
    workspace_id: int,
    account_ids: Iterable[int],
    reason: str,
    expires_at: datetime | None,
    actor: Actor,
) -> list[AccountResult]:
    return for_each_account(
        session,
        account_ids,
        lambda account_id: exempt_account(
            session,
            workspace_id=workspace_id,
            account_id=account_id,
            reason=reason,
            expires_at=expires_at,
            actor=actor,
        ),
    )


def bulk_remove(
    session: Session,
    *,
    workspace_id: int,
    account_ids: Iterable[int],
    actor: Actor,
    force: bool = False,
    idempotency_key: str | None = None,
) -> list[AccountResult]:
    """Queue a removal per account; with a key, each account's operation gets ``key:<id>``."""
    return for_each_account(
        session,
        account_ids,
        lambda account_id: remove_account(
            session,
            workspace_id=workspace_id,
            account_id=account_id,
            actor=actor,
            force=force,
            idempotency_key=f"{idempotency_key}:{account_id}" if idempotency_key else None,
        ),
    )


def bulk_unexempt(
    session: Session, *, workspace_id: int, account_ids: Iterable[int], actor: Actor
) -> list[AccountResult]:
    return for_each_account(
        session,
        account_ids,
        lambda account_id: unexempt_account(
            session, workspace_id=workspace_id, account_id=account_id, actor=actor
        ),
    )
