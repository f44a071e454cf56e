"""What a person reads as an account's status, the same on the Members tab, in the CSV export and
from ``bastion members list``: the words of its state (the enums' ``label``), a member's
onboarding for an onboarded or guest account, and for an unmatched one why nobody vouches for it.
"""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy import or_, select
from sqlalchemy.orm import Session

from bastion.storage.models import Account, AppMember, User, UserEmail
from bastion.storage.models.enums import AccountKind, AccountState, OnboardingStatus, UserStatus


def unmatched_reason(account: Account, people: Sequence[User]) -> str:
    """Why ``account`` is unmatched, given the directory people holding its e-mail."""
    if account.kind == AccountKind.INVITATION:
        return "invitation not accepted yet"
    if not account.email:
        return "no e-mail to match on"
    if not people:
        return f"no directory match for {account.email}"
    active = [p for p in people if p.status == UserStatus.ACTIVE]
    if not active:
        if any(p.status == UserStatus.DEPROVISIONED for p in people):
            return "directory person deprovisioned"
        return "directory person suspended"
    if len(active) > 1:
        return f"{len(active)} directory people have {account.email}"
    # The directory changed after the last check, which will match it.
    return f"{active[0].display_name or active[0].email} has this e-mail since the last check"


def unmatched_reasons(
    session: Session, workspace_id: int, accounts: Sequence[Account]
) -> dict[int, str]:
    """The reason of every unmatched account among ``accounts``, in two queries."""
    unmatched = [a for a in accounts if a.state == AccountState.UNMATCHED]
    keys = {a.email_key for a in unmatched if a.email_key}
    holders: dict[str, dict[int, User]] = {}
    if keys:
        found = session.execute(
            select(User, UserEmail.email_key)
            .outerjoin(UserEmail, UserEmail.user_id == User.id)
            .where(
                User.workspace_id == workspace_id,
                or_(User.email_key.in_(keys), UserEmail.email_key.in_(keys)),
            )
        ).all()
        for user, other_key in found:
            for key in {user.email_key, other_key} & keys:
                if key is not None:
                    holders.setdefault(key, {})[user.id] = user
    return {
        a.id: unmatched_reason(a, list(holders.get(a.email_key or "", {}).values()))
        for a in unmatched
    }


def account_statuses(
    session: Session, workspace_id: int, app_id: int, accounts: Sequence[Account]
) -> dict[int, str]:
    """Each account's status in a person's words."""
    reasons = unmatched_reasons(session, workspace_id, accounts)
    user_ids = {a.matched_user_id for a in accounts if a.matched_user_id is not None}
    onboarding = (
        dict(
            session.execute(
                select(AppMember.user_id, AppMember.onboarding_status).where(
                    AppMember.app_id == app_id, AppMember.user_id.in_(user_ids)
                )
            ).all()
        )
        if user_ids
        else {}
    )
    statuses = {}
    for account in accounts:
        if account.id in reasons:
            statuses[account.id] = f"{account.state.label}: {reasons[account.id]}"
        elif account.state in (AccountState.ONBOARDED, AccountState.GUEST):
            status = onboarding.get(account.matched_user_id or -1)
            statuses[account.id] = (status or OnboardingStatus.PENDING_ONBOARDING).label
        else:
            statuses[account.id] = account.state.label
    return statuses
