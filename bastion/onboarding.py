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

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import NamedTuple, Protocol

from sqlalchemy import case, func, select
from sqlalchemy.orm import Session

from bastion.audit import AuditAction, AuditEntry, record_many
from bastion.email_templates import EmailBody, EmailStencil, render_email
from bastion.notify import queue_email, queue_emails
from bastion.storage.bulk import insert_rows, update_rows
from bastion.storage.models import Account, App, AppMember, Notification, User, table_of, utcnow
from bastion.storage.models.enums import (
    AccountState,
    AppRole,
    LoginMethod,
    OnboardingStatus,
    UserStatus,
)

ACCOUNTS_PATH = "/me/accounts"


class Seats(NamedTuple):
    """A person's present accounts in one app: how many count, how many are exempted."""

    managed: int = 0
    exempted: int = 0


class MemberFacts(Protocol):
    """What the rule reads of a member (an ``AppMember``, or its columns read in bulk)."""

    @property
    def invited_at(self) -> datetime | None: ...
    @property
    def invite_error(self) -> str | None: ...
    @property
    def connected_at(self) -> datetime | None: ...


class PersonFacts(Protocol):
    """What the rule reads of the person (a ``User``, or its columns read in bulk)."""

    @property
    def signed_in_at(self) -> datetime | None: ...


def status_for(app: App, member: MemberFacts, user: PersonFacts, seats: Seats) -> OnboardingStatus:
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
    _audit_changes(
        session,
        [(m.workspace_id, m.app_id, m.user_id, b, a) for m, b, a in changed],
        actor=actor,
        reason=reason,
        request_id=request_id,
    )
    return [member for member, _before, _after in changed]


StatusChange = tuple[int, int, int, OnboardingStatus, OnboardingStatus]


def _audit_changes(
    session: Session,
    changed: Sequence[StatusChange],
    *,
    actor: str,
    reason: str,
    request_id: str | None = None,
) -> None:
    """One ``member.onboarding_changed`` event per (workspace, app, user, before, after)."""
    workspaces: dict[int, list[AuditEntry]] = {}
    for workspace_id, app_id, user_id, before, after in changed:
        workspaces.setdefault(workspace_id, []).append(
            AuditEntry(
                AuditAction.MEMBER_ONBOARDING_CHANGED,
                f"app:{app_id}",
                {
                    "app_id": app_id,
                    "user_id": user_id,
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
    seat = (account.email or account.name) if account is not None else None
    email = _Invitations(app, base_url).email(member.role.value, seat)
    notification = queue_email(
        session,
        workspace_id=member.workspace_id,
        kind=f"member-access:{app.id}:{user.id}",
        recipients=[user.email or ""],
        subject=email.subject,
        text=email.text,
        html=email.html,
    )
    if notification is not None:
        notification.app_member_id = member.id
    return notification


@dataclass(frozen=True)
class _Email:
    subject: str
    text: str
    html: str


class _Invitations:
    """The "you have access" e-mails of one app, for one seat each (an account's e-mail or name).
    ``email`` renders one in full; ``stenciled`` renders each role's once and fills in the seat,
    for a check's thousands."""

    def __init__(self, app: App, base_url: str) -> None:
        self._label = app.label
        self._context = {
            "link": f"{base_url.rstrip('/')}{ACCOUNTS_PATH}",
            "how": (
                "Sign in to Bastion to see it with its assets; the app is signed in to with your "
                "company's single sign-on."
                if app.login_method == LoginMethod.SSO
                else "Sign in to Bastion to see it with its assets, then connect your account."
            ),
        }
        self._by_role: dict[str, EmailStencil] = {}

    def email(self, role: str, seat: str | None) -> _Email:
        body = render_email("member_access", where=self._where(seat), role=role, **self._context)
        return self._email(body)

    def stenciled(self, role: str, seat: str | None) -> _Email:
        stencil = self._by_role.get(role)
        if stencil is None:
            stencil = self._by_role[role] = EmailStencil(
                "member_access", "where", role=role, **self._context
            )
        return self._email(stencil.fill(self._where(seat)))

    def _where(self, seat: str | None) -> str:
        return f"Your account {seat} in {self._label}" if seat else f"Your access to {self._label}"

    def _email(self, body: EmailBody) -> _Email:
        return _Email(f"[Bastion] You have access to {self._label}", body.text, body.html)


# --- a check's members, in bulk -------------------------------------------------------------------


class Seated(NamedTuple):
    """A person a check found holding a managed seat, with what the rule and the e-mail need."""

    user_id: int
    email: str | None
    active: bool  # may be invited: active and not removed by the identity provider
    seat: str | None  # the seat's e-mail or name, for the invitation
    seat_is_invitation: bool  # only an invitation to the app: no access yet


class _MemberRow(NamedTuple):
    id: int
    user_id: int
    role: str
    onboarding_status: OnboardingStatus
    invited_at: datetime | None
    invite_error: str | None
    connected_at: datetime | None


class _Person(NamedTuple):
    signed_in_at: datetime | None


def settle_check_members(
    session: Session,
    app: App,
    *,
    seated: dict[int, Seated],
    seats: dict[int, Seats],
    signed_in: dict[int, datetime | None],
    base_url: str,
) -> int:
    """A check's members in bulk: every seated person becomes a member, every member's status is
    settled by ``status_for`` and audited when it changes, and each seated member not yet told
    is sent their invitation (as ``invite`` would, once per member). Returns how many were
    invited. ``signed_in`` holds when each directory person last signed in to Bastion."""
    connection = session.connection()
    members = _member_rows(session, app.id)
    now = utcnow()
    insert_rows(
        connection,
        table_of(AppMember),
        ("user_id",),
        [(user_id,) for user_id in seated.keys() - members.keys()],
        {
            "workspace_id": app.workspace_id,
            "app_id": app.id,
            "role": AppRole.COLLABORATOR,
            "onboarding_status": OnboardingStatus.PENDING_ONBOARDING,
            "created_at": now,
            "updated_at": now,
        },
    )
    if seated.keys() - members.keys():
        members = _member_rows(session, app.id)
    changed: list[StatusChange] = []
    for user_id, member in members.items():
        if user_id not in signed_in:
            continue  # not a directory person of this workspace any more
        person = _Person(signed_in[user_id])
        after = status_for(app, member, person, seats.get(user_id, Seats()))
        if after != member.onboarding_status:
            changed.append((app.workspace_id, app.id, user_id, member.onboarding_status, after))
    update_rows(
        connection,
        table_of(AppMember),
        ("onboarding_status",),
        [(after, members[user_id].id) for _w, _a, user_id, _b, after in changed],
    )
    _audit_changes(session, changed, actor="system:check", reason="check")
    return _invite_seated(session, app, members, seated, base_url)


def _member_rows(session: Session, app_id: int) -> dict[int, _MemberRow]:
    rows = session.execute(
        select(
            AppMember.id,
            AppMember.user_id,
            AppMember.role,
            AppMember.onboarding_status,
            AppMember.invited_at,
            AppMember.invite_error,
            AppMember.connected_at,
        ).where(AppMember.app_id == app_id)
    )
    # Plain tuples: a check reads every member's fields again, several times faster than a row's.
    return {row[1]: _MemberRow._make(row) for row in rows}


def _invite_seated(
    session: Session,
    app: App,
    members: dict[int, _MemberRow],
    seated: dict[int, Seated],
    base_url: str,
) -> int:
    candidates = [
        (members[user_id], person)
        for user_id, person in seated.items()
        if members[user_id].invited_at is None
        and not person.seat_is_invitation
        and person.active
        and person.email
    ]
    if not candidates:
        return 0
    told = set(
        session.scalars(
            select(Notification.app_member_id)
            .join(AppMember, AppMember.id == Notification.app_member_id)
            .where(AppMember.app_id == app.id)
        )
    )
    emails = []
    invitations = _Invitations(app, base_url)
    for member, person in candidates:
        if member.id in told:
            continue
        email = invitations.stenciled(AppRole(member.role).value, person.seat)
        emails.append(
            (
                f"member-access:{app.id}:{person.user_id}",
                [person.email or ""],
                email.subject,
                email.text,
                email.html,
                member.id,
            )
        )
    return queue_emails(session, workspace_id=app.workspace_id, emails=emails)


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
