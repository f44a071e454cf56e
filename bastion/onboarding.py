"""A member's onboarding: the events that move it, and the one rule that settles its status.

A member is a directory person with a Bastion role on an app (``AppMember``). What their status
says follows from facts kept on the member, the person and their seats in the app:

    bastion_only        no present account of theirs in the app
    managed_outside     every present account of theirs in the app is exempted
    onboarded           they connected their account (linked their own profile in the app)
    sso                 an app people sign in to with single sign-on, and they signed in to Bastion
    invite_failed       the "you have access" e-mail was refused (or never went out after retries)
    invite_sent         the e-mail went out
    pending_onboarding  matched; the e-mail has not gone out yet

Each event updates its fact and calls ``settle``, which writes the status the rule gives and
audits a change (``member.onboarding_changed``). The invitation is sent once per member, whether
an admin or a check matched them; a failed one is retried from the E-mail page.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from sqlalchemy import case, func, select
from sqlalchemy.orm import Session

from bastion.audit import AuditAction, AuditEntry, record_many
from bastion.email_templates import render_email
from bastion.notify import queue_email
from bastion.storage.models import Account, App, AppMember, Notification, User, utcnow
from bastion.storage.models.enums import (
    AccountKind,
    AccountState,
    LoginMethod,
    OnboardingStatus,
    UserStatus,
)

ACCOUNTS_PATH = "/me/accounts"


@dataclass(frozen=True)
class Seats:
    """A person's present accounts in one app: how many count, how many are exempted."""

    managed: int = 0
    exempted: int = 0


def status_for(app: App, member: AppMember, user: User, seats: Seats) -> OnboardingStatus:
    """The status the facts give (the module's table, in order)."""
    if seats.managed == 0:
        return OnboardingStatus.MANAGED_OUTSIDE if seats.exempted else OnboardingStatus.BASTION_ONLY
    if member.connected_at is not None:
        return OnboardingStatus.ONBOARDED
    if app.login_method == LoginMethod.SSO and user.signed_in_at is not None:
        return OnboardingStatus.SSO
    if member.invite_error:
        return OnboardingStatus.INVITE_FAILED
    if member.invited_at is not None:
        return OnboardingStatus.INVITE_SENT
    return OnboardingStatus.PENDING_ONBOARDING


def seats_of(session: Session, app_id: int, user_ids: Iterable[int]) -> dict[int, Seats]:
    """Each person's seats in the app, in one query."""
    wanted = list(set(user_ids))
    if not wanted:
        return {}
    exempted = func.sum(case((Account.state == AccountState.EXEMPTED, 1), else_=0))
    rows = session.execute(
        select(Account.matched_user_id, func.count(Account.id), exempted)
        .where(
            Account.app_id == app_id,
            Account.present.is_(True),
            Account.matched_user_id.in_(wanted),
        )
        .group_by(Account.matched_user_id)
    ).all()
    found = {
        int(user_id): Seats(managed=int(total) - int(ex or 0), exempted=int(ex or 0))
        for user_id, total, ex in rows
    }
    return {user_id: found.get(user_id, Seats()) for user_id in wanted}


def settle(
    session: Session,
    members: Iterable[tuple[AppMember, App, User]],
    *,
    actor: str,
    reason: str,
    seats: dict[int, Seats] | None = None,
    request_id: str | None = None,
) -> list[AppMember]:
    """Write each member's status from its facts; audit the ones that changed."""
    members = list(members)
    changed: list[tuple[AppMember, OnboardingStatus, OnboardingStatus]] = []
    by_app: dict[int, list[tuple[AppMember, App, User]]] = {}
    for entry in members:
        by_app.setdefault(entry[1].id, []).append(entry)
    for app_id, entries in by_app.items():
        known = seats
        if known is None:
            known = seats_of(session, app_id, (user.id for *_, user in entries))
        for member, app, user in entries:
            after = status_for(app, member, user, known.get(user.id, Seats()))
            before = member.onboarding_status
            if after != before:
                member.onboarding_status = after
                changed.append((member, before, after))
    workspaces: dict[int, list[AuditEntry]] = {}
    for member, before, after in changed:
        workspaces.setdefault(member.workspace_id, []).append(
            AuditEntry(
                AuditAction.MEMBER_ONBOARDING_CHANGED,
                f"app:{member.app_id}",
                {
                    "app_id": member.app_id,
                    "user_id": member.user_id,
                    "before": before.value,
                    "after": after.value,
                    "reason": reason,
                },
            )
        )
    for workspace_id, events in workspaces.items():
        record_many(
            session,
            workspace_id=workspace_id,
            actor=actor,
            entries=events,
            request_id=request_id,
        )
    return [member for member, _before, _after in changed]


def settle_one(
    session: Session, member: AppMember, *, actor: str, reason: str, request_id: str | None = None
) -> bool:
    app = session.get_one(App, member.app_id)
    user = session.get_one(User, member.user_id)
    return bool(
        settle(session, [(member, app, user)], actor=actor, reason=reason, request_id=request_id)
    )


# --- the invitation -------------------------------------------------------------------------------


def invitation_queued(session: Session, member: AppMember) -> bool:
    """Whether this member was ever sent (or is being sent) their invitation."""
    return (
        member.invited_at is not None
        or session.scalar(
            select(Notification.id).where(Notification.app_member_id == member.id).limit(1)
        )
        is not None
    )


def invite(
    session: Session,
    member: AppMember,
    *,
    app: App,
    user: User,
    account: Account | None,
    base_url: str,
) -> Notification | None:
    """Queue the "you have access" e-mail, once per member; None when not sent now.

    Not sent to someone inactive, without an e-mail, or already invited.
    """
    if not _invitable(user):
        return None
    session.flush()  # the member has its id
    if invitation_queued(session, member):
        return None
    return _queue_invitation(
        session, member, app=app, user=user, account=account, base_url=base_url
    )


def invite_all(
    session: Session,
    app: App,
    seated: Iterable[tuple[AppMember, User, Account]],
    *,
    base_url: str,
) -> int:
    """``invite`` for every member a check found seated, with one look-up per 500 members.

    A seat that is only an invitation to the app is no access yet: its invitee is told once a
    check sees the invitation accepted.
    """
    candidates = [
        (member, user, account)
        for member, user, account in seated
        if member.invited_at is None and account.kind != AccountKind.INVITATION and _invitable(user)
    ]
    session.flush()
    invited: set[int] = set()
    for start in range(0, len(candidates), 500):
        ids = [member.id for member, _u, _a in candidates[start : start + 500]]
        invited.update(
            member_id
            for member_id in session.scalars(
                select(Notification.app_member_id).where(Notification.app_member_id.in_(ids))
            )
            if member_id is not None
        )
    sent = 0
    for member, user, account in candidates:
        if member.id not in invited:
            queued = _queue_invitation(
                session, member, app=app, user=user, account=account, base_url=base_url
            )
            sent += queued is not None
    return sent


def _invitable(user: User) -> bool:
    return user.status == UserStatus.ACTIVE and user.removed_at is None and bool(user.email)


def _queue_invitation(
    session: Session,
    member: AppMember,
    *,
    app: App,
    user: User,
    account: Account | None,
    base_url: str,
) -> Notification | None:
    link = f"{base_url.rstrip('/')}{ACCOUNTS_PATH}"
    seat = (account.email or account.name) if account is not None else None
    where = f"Your account {seat} in {app.label}" if seat else f"Your access to {app.label}"
    how = (
        "Sign in to Bastion to see it with its assets; the app is signed in to with your "
        "company's single sign-on."
        if app.login_method == LoginMethod.SSO
        else "Sign in to Bastion to see it with its assets, then connect your account."
    )
    body = render_email("member_access", where=where, role=member.role.value, how=how, link=link)
    notification = queue_email(
        session,
        workspace_id=member.workspace_id,
        kind=f"member-access:{app.id}:{user.id}",
        recipients=[user.email or ""],
        subject=f"[Bastion] You have access to {app.label}",
        text=body.text,
        html=body.html,
    )
    if notification is not None:
        notification.app_member_id = member.id
    return notification


def invitation_delivered(session: Session, member: AppMember) -> bool:
    """The SMTP server took the invitation."""
    member.invited_at, member.invite_error = utcnow(), None
    return settle_one(session, member, actor="system:e-mail", reason="invitation sent")


def invitation_refused(session: Session, member: AppMember, error: str) -> bool:
    """The SMTP server refused the invitation, or it could not be sent after every retry."""
    member.invite_error = error[:300]
    return settle_one(session, member, actor="system:e-mail", reason="invitation refused")


def signed_in(session: Session, user: User, *, request_id: str | None = None) -> None:
    """The person signed in to Bastion: apps signed in to with SSO count them onboarded."""
    user.signed_in_at = utcnow()
    rows = session.execute(
        select(AppMember, App)
        .join(App, App.id == AppMember.app_id)
        .where(
            AppMember.user_id == user.id,
            App.disconnected_at.is_(None),
            App.login_method == LoginMethod.SSO,
        )
    ).all()
    settle(
        session,
        [(member, app, user) for member, app in rows],
        actor=f"user:{user.id}",
        reason="signed in",
        request_id=request_id,
    )


def account_connected(session: Session, member: AppMember, *, actor: str) -> bool:
    """The person connected their app account (password apps)."""
    member.connected_at = utcnow()
    return settle_one(session, member, actor=actor, reason="account connected")
