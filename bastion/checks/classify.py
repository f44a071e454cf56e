"""Match every present account to a directory person and sort it into its tab.

Onboarded: matched to a directory person. Guest: matched to a guest user. Exempted: an admin
exempted it (until the exemption's expiry, when it returns to the other tabs and the owners are
told). Unmatched: nobody vouches for it. Accounts matched to a deprovisioned person stay linked,
which is how the deprovisioning report finds them. System users are not people: they sit in a
tab of their own, never matched, so no count of people includes them. A partner's person
(imported with the partner's own token) is vouched for by a guest or local partner it is matched
to, or else sits under its partner (state ``partner``), never among our own people.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

from sqlalchemy import select
from sqlalchemy.orm import Session

from bastion.matching import DirectoryIndex, Identity, MatchingOptions, MatchRule, Person
from bastion.onboarding import Seats, settle
from bastion.storage.models import Account, App, AppMember, User, utcnow
from bastion.storage.models.enums import (
    AccountKind,
    AccountState,
    AppRole,
    OnboardingStatus,
    UserSource,
    UserStatus,
    WorkspaceRole,
)


@dataclass
class ClassifyResult:
    states: dict[str, int] = field(default_factory=dict)
    expired_exemptions: list[Account] = field(default_factory=list)
    # Each person with a managed seat: their membership, themselves, one of their accounts.
    seated_members: list[tuple[AppMember, User, Account]] = field(default_factory=list)


def directory_people(session: Session, workspace_id: int) -> tuple[list[Person], dict[int, User]]:
    users = {
        u.id: u for u in session.scalars(select(User).where(User.workspace_id == workspace_id))
    }
    people = [
        Person(
            user_id=user.id,
            email=user.email,
            other_emails=tuple(e.email for e in user.emails if not e.primary),
            name=user.display_name,
            active=user.status == UserStatus.ACTIVE,
        )
        for user in users.values()
    ]
    return people, users


def is_guest(user: User) -> bool:
    return user.role == WorkspaceRole.GUEST or user.source in (UserSource.GUEST, UserSource.PARTNER)


def classify_accounts(
    session: Session, app: App, options: MatchingOptions | None = None
) -> ClassifyResult:
    people, users = directory_people(session, app.workspace_id)
    index = DirectoryIndex(people, options)
    now = utcnow()
    result = ClassifyResult()
    accounts = session.scalars(
        select(Account).where(Account.app_id == app.id, Account.present.is_(True))
    ).all()
    for account in accounts:
        if account.kind == AccountKind.SYSTEM_USER:
            _set_apart(account)
            result.states[account.state.value] = result.states.get(account.state.value, 0) + 1
            continue
        manual = account.matched_user_id if account.match_rule == MatchRule.MANUAL else None
        match = index.match(Identity(account.id, account.email, account.name, manual))
        if match is None:
            if account.matched_user_id is not None:
                account.matched_user_id = None
                account.match_rule = account.match_confidence = account.matched_at = None
        elif (account.matched_user_id, account.match_rule) != (match.user_id, match.rule.value):
            account.matched_user_id = match.user_id
            account.match_rule = match.rule.value
            account.match_confidence = match.confidence
            account.matched_at = now
            if match.rule != MatchRule.MANUAL:
                account.matched_by_id = None
        expiry = account.exemption_expires_at
        if account.exemption_reason and expiry is not None and expiry <= now:
            result.expired_exemptions.append(account)
            account.exemption_reason = None
            account.exempted_at = account.exempted_by_id = None
            account.exemption_expires_at = None
        if account.exemption_reason:
            state = AccountState.EXEMPTED
        elif account.kind == AccountKind.PARTNER_PERSON and not (
            match is not None and is_guest(users[match.user_id])
        ):
            # Only a guest or a local partner of ours vouches for a partner's person.
            state = AccountState.PARTNER
        elif match is None:
            state = AccountState.UNMATCHED
        elif is_guest(users[match.user_id]):
            state = AccountState.GUEST
        else:
            state = AccountState.ONBOARDED
        if account.state != state:
            account.state = state
        result.states[state.value] = result.states.get(state.value, 0) + 1
    result.seated_members = _update_members(session, app, accounts, users)
    session.flush()
    return result


def _set_apart(account: Account) -> None:
    """A system user is nobody's seat: never matched, exempted or counted among people."""
    if account.state != AccountState.SYSTEM_USER:
        account.state = AccountState.SYSTEM_USER
    if account.matched_user_id is not None or account.match_rule is not None:
        account.matched_user_id = account.match_rule = account.match_confidence = None
        account.matched_by_id = account.matched_at = None
    if account.exemption_reason is not None:
        account.exemption_reason = account.exempted_by_id = None
        account.exempted_at = account.exemption_expires_at = None


def _update_members(
    session: Session, app: App, accounts: Sequence[Account], users: dict[int, User]
) -> list[tuple[AppMember, User, Account]]:
    """Every person with a managed seat is a member of the app; each member's onboarding status
    is settled from their seats (bastion/onboarding.py). Returns each seated member with one of
    their accounts, for the invitations."""
    counts: dict[int, list[int]] = {}
    seat_of: dict[int, Account] = {}
    for account in accounts:
        if account.matched_user_id is None or account.state == AccountState.PARTNER:
            continue
        managed_exempted = counts.setdefault(account.matched_user_id, [0, 0])
        if account.state == AccountState.EXEMPTED:
            managed_exempted[1] += 1
        else:
            managed_exempted[0] += 1
            seat = seat_of.get(account.matched_user_id)
            if seat is None or seat.kind == AccountKind.INVITATION:  # an accepted seat first
                seat_of[account.matched_user_id] = account
    seats = {user_id: Seats(managed, exempted) for user_id, (managed, exempted) in counts.items()}
    members = {
        m.user_id: m for m in session.scalars(select(AppMember).where(AppMember.app_id == app.id))
    }
    for user_id in seat_of.keys() - members.keys():
        member = AppMember(
            workspace_id=app.workspace_id,
            app_id=app.id,
            user_id=user_id,
            role=AppRole.COLLABORATOR,
            onboarding_status=OnboardingStatus.PENDING_ONBOARDING,
        )
        session.add(member)
        members[user_id] = member
    settle(
        session,
        [(member, app, users[user_id]) for user_id, member in members.items() if user_id in users],
        actor="system:check",
        reason="check",
        seats=seats,
    )
    return [(members[user_id], users[user_id], seat) for user_id, seat in seat_of.items()]
