"""A member's onboarding, event by event: a check's or an admin's match, the invitation's fate,
signing in, connecting the account, exemptions and seats coming and going (bastion/onboarding.py).

Each story asserts the member's status, the facts it is settled from, the audited changes and the
e-mails, on SQLite and PostgreSQL.
"""

from __future__ import annotations

import smtplib
import socket
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from email import message_from_bytes
from email.message import Message
from typing import Any

import pytest
from aiosmtpd.controller import Controller
from sqlalchemy import select, update

from bastion.actions import members
from bastion.actions.actors import Actor
from bastion.actions.directory import create_person
from bastion.actions.sessions import SignInLimiter, sign_in
from bastion.directory_records import PersonRecord
from bastion.email_delivery import MAX_ATTEMPTS, NO_SMTP_SERVER, send_due_notifications
from bastion.onboarding import ACCOUNTS_PATH, Seats, account_connected, status_for
from bastion.security.passwords import hash_password
from bastion.settings import Settings, load_settings
from bastion.storage.models import (
    Account,
    App,
    AppMember,
    AuditEvent,
    Notification,
    User,
    utcnow,
)
from bastion.storage.models.enums import (
    AccountKind,
    AccountState,
    AppRole,
    LoginMethod,
    NotificationState,
    OnboardingStatus,
    UserSource,
    UserStatus,
)
from tests.checks.conftest import World

ACCESS_SUBJECT = "[Bastion] You have access to Northwind Meta"
ESTHER = "esther.perez@northwindoutfitters.com"  # one person account, matched by e-mail
OLGA = "olga.ivanova@northwindoutfitters.com"  # her account uses a private e-mail: unmatched
OLGA_ACCOUNT = "olgaivanova73@outlook.com"
PASSWORD = "a long enough test password"

PENDING = OnboardingStatus.PENDING_ONBOARDING
INVITE_SENT = OnboardingStatus.INVITE_SENT
INVITE_FAILED = OnboardingStatus.INVITE_FAILED


# --- reading the world ---------------------------------------------------------------------------


@dataclass(frozen=True)
class Change:
    """One ``member.onboarding_changed`` event, as (actor, before, after, reason)."""

    actor: str
    before: str
    after: str
    reason: str


def person(world: World, email: str) -> User:
    with world.runtime.sessions() as session:
        return session.scalars(select(User).where(User.email_key == email.lower())).one()


def member_of(world: World, user_id: int) -> AppMember:
    with world.runtime.sessions() as session:
        return session.scalars(
            select(AppMember).where(AppMember.app_id == world.app_id, AppMember.user_id == user_id)
        ).one()


def account_with_email(world: World, email: str) -> Account:
    with world.runtime.sessions() as session:
        return session.scalars(
            select(Account).where(
                Account.app_id == world.app_id,
                Account.email_key == email.lower(),
                Account.present.is_(True),
            )
        ).one()


def present_accounts_of(world: World, user_id: int) -> list[Account]:
    with world.runtime.sessions() as session:
        return list(
            session.scalars(
                select(Account).where(
                    Account.app_id == world.app_id,
                    Account.matched_user_id == user_id,
                    Account.present.is_(True),
                )
            )
        )


def changes_of(world: World, user_id: int) -> list[Change]:
    with world.runtime.sessions() as session:
        events = session.scalars(
            select(AuditEvent)
            .where(AuditEvent.action == "member.onboarding_changed")
            .order_by(AuditEvent.seq)
        ).all()
    return [
        Change(e.actor, e.details["before"], e.details["after"], e.details["reason"])
        for e in events
        if e.details["user_id"] == user_id and e.details["app_id"] == world.app_id
    ]


def all_changes(world: World) -> int:
    with world.runtime.sessions() as session:
        return len(
            session.scalars(
                select(AuditEvent.id).where(AuditEvent.action == "member.onboarding_changed")
            ).all()
        )


def mail_of(world: World, member_id: int) -> list[Notification]:
    """The e-mails linked to a membership: its invitation."""
    with world.runtime.sessions() as session:
        return list(
            session.scalars(
                select(Notification)
                .where(Notification.app_member_id == member_id)
                .order_by(Notification.id)
            )
        )


def notifications(world: World) -> list[Notification]:
    with world.runtime.sessions() as session:
        return list(session.scalars(select(Notification).order_by(Notification.id)))


def text_of(message: Message) -> str:
    plain = message.get_payload()[0]
    return str(plain.get_payload(decode=True).decode())


def html_of(message: Message) -> str:
    html = message.get_payload()[1]
    return str(html.get_payload(decode=True).decode())


# --- acting on it --------------------------------------------------------------------------------


def settings_with(world: World, smtp_url: str | None) -> Settings:
    env = {"BASTION_DATA_DIR": str(world.runtime.settings.data_dir)}
    if smtp_url is not None:
        env["BASTION_SMTP_URL"] = smtp_url
    return load_settings(env)


def send(world: World, settings: Settings | None = None) -> int:
    return send_due_notifications(world.runtime.sessions, settings or world.runtime.settings)


def make_due_now(world: World) -> None:
    with world.runtime.sessions.begin() as session:
        session.execute(
            update(Notification)
            .where(Notification.state == NotificationState.PENDING)
            .values(next_attempt_at=utcnow() - timedelta(seconds=1))
        )


def use_login_method(world: World, method: LoginMethod) -> None:
    with world.runtime.sessions.begin() as session:
        session.get_one(App, world.app_id).login_method = method


def admin(world: World) -> Actor:
    return Actor.user(world.admin_id)


def sign_in_as(world: World, email: str) -> None:
    with world.runtime.sessions.begin() as session:
        user = session.scalars(select(User).where(User.email_key == email.lower())).one()
        user.password_hash = hash_password(PASSWORD)
    with world.runtime.sessions.begin() as session:
        sign_in(
            session,
            SignInLimiter.default(),
            email=email,
            password=PASSWORD,
            ip="127.0.0.1",
            user_agent="pytest",
        )


def new_person_without_email(world: World, user_name: str) -> User:
    with world.runtime.sessions.begin() as session:
        user = create_person(
            session,
            workspace_id=world.workspace_id,
            person=PersonRecord(user_name=user_name, display_name="Kim Lee"),
            source=UserSource.LOCAL,
            actor=Actor.system("tests"),
            check_delay=timedelta(minutes=5),
        )
        assert user.email is None
        return user


# --- an SMTP server that refuses some recipients for good ---------------------------------------


@dataclass
class RefusingServer:
    """Answers ``550`` to the recipients it is told to refuse and takes everything else."""

    refused: set[str] = field(default_factory=set)
    accepted: list[Message] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    async def handle_RCPT(  # noqa: N802 - aiosmtpd's hook name
        self, _server: Any, _session: Any, envelope: Any, address: str, _options: Any
    ) -> str:
        if address.lower() in self.refused:
            return "550 5.1.1 no such user"
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(  # noqa: N802 - aiosmtpd's hook name
        self, _server: Any, _session: Any, envelope: Any
    ) -> str:
        with self.lock:
            self.accepted.append(message_from_bytes(envelope.content))
        return "250 OK"


@pytest.fixture
def refusing_smtp() -> Iterator[tuple[RefusingServer, str]]:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = int(sock.getsockname()[1])
    server = RefusingServer()
    controller = Controller(server, hostname="127.0.0.1", port=port)
    controller.start()
    yield server, f"smtp://127.0.0.1:{port}"
    controller.stop()


# --- 1. a check matches people -------------------------------------------------------------------


def test_a_check_makes_each_seated_person_a_pending_member_told_once(world: World) -> None:
    world.check()
    with world.runtime.sessions() as session:
        seated = {
            user.id: user
            for account, user in session.execute(
                select(Account, User)
                .join(User, User.id == Account.matched_user_id)
                .where(
                    Account.app_id == world.app_id,
                    Account.present.is_(True),
                    Account.kind == AccountKind.PERSON,
                )
            )
        }
    active = {uid: u for uid, u in seated.items() if u.status == UserStatus.ACTIVE}
    assert len(active) >= 20 and len(active) < len(seated)  # the scenario has seated leavers

    invitations: dict[int, list[Notification]] = {}
    for notification in notifications(world):
        if notification.app_member_id is not None:
            invitations.setdefault(notification.app_member_id, []).append(notification)
    for user_id, user in active.items():
        member = member_of(world, user_id)
        assert member.onboarding_status == PENDING
        assert (member.invited_at, member.invite_error, member.connected_at) == (None, None, None)
        assert user.signed_in_at is None
        [mail] = invitations.pop(member.id)
        assert mail.subject == ACCESS_SUBJECT
        assert mail.recipients == [user.email]
        assert mail.state == NotificationState.PENDING
        # Created pending, still pending: nothing changed, nothing to audit.
        assert changes_of(world, user_id) == []
    assert invitations == {}, "only seated, active people are invited"

    # A leaver holding a seat is a member, and told nothing.
    leaver = person(world, "daniela.dubois@northwindoutfitters.com")
    assert leaver.status == UserStatus.DEPROVISIONED
    assert member_of(world, leaver.id).onboarding_status == PENDING
    assert mail_of(world, member_of(world, leaver.id).id) == []
    assert not any(leaver.email in n.recipients for n in notifications(world))

    # The next check finds the same people: no second invitation, no change.
    before, changes = len(notifications(world)), all_changes(world)
    world.check()
    assert len(notifications(world)) == before
    assert all_changes(world) == changes


def test_a_person_only_invited_to_the_app_is_told_once_they_accept(world: World) -> None:
    """An invitation (pending or expired) is no access yet: "You have access" waits for it to be
    accepted and seen by a check."""
    world.check()
    invitee = person(world, "yasmin.wilson@northwindoutfitters.com")
    [invitation] = present_accounts_of(world, invitee.id)
    assert invitation.kind == AccountKind.INVITATION
    member = member_of(world, invitee.id)
    assert member.onboarding_status == PENDING
    assert mail_of(world, member.id) == []
    assert not any(invitee.email in n.recipients for n in notifications(world))

    world.sim.accept_invitation(invitation.external_id)
    world.check()
    [mail] = mail_of(world, member.id)
    assert (mail.subject, mail.recipients) == (ACCESS_SUBJECT, [invitee.email])
    assert member_of(world, invitee.id).onboarding_status == PENDING
    assert changes_of(world, invitee.id) == []


# --- 2. the invitation goes out ------------------------------------------------------------------


def test_the_invitation_goes_out_and_the_member_is_invite_sent(world: World) -> None:
    world.check()
    esther = person(world, ESTHER)
    member = member_of(world, esther.id)
    [queued] = mail_of(world, member.id)

    sent = send(world)
    assert sent == len(world.mailbox.messages) >= 20
    [message] = [m for m in world.mailbox.messages if m["To"] == ESTHER]
    assert message["Subject"] == ACCESS_SUBJECT
    link = f"{world.runtime.settings.base_url}{ACCOUNTS_PATH}"
    assert link in text_of(message)
    assert f'href="{link}"' in html_of(message)
    assert f"Your account {ESTHER} in Northwind Meta" in text_of(message)

    [mail] = mail_of(world, member.id)
    assert (mail.id, mail.state, mail.attempts) == (queued.id, NotificationState.SENT, 1)
    assert mail.sent_at is not None
    member = member_of(world, esther.id)
    assert member.onboarding_status == INVITE_SENT
    assert member.invited_at is not None and member.invite_error is None
    assert changes_of(world, esther.id) == [
        Change("system:e-mail", "pending_onboarding", "invite_sent", "invitation sent")
    ]

    # Nothing more to send, and the next check neither re-invites nor moves anyone back.
    world.mailbox.messages.clear()
    world.check()
    assert send(world) == 0 and world.mailbox.messages == []
    assert member_of(world, esther.id).onboarding_status == INVITE_SENT
    assert len(changes_of(world, esther.id)) == 1


def test_an_invitation_to_someone_deprovisioned_since_it_was_queued_is_not_sent(
    world: World,
) -> None:
    from bastion.actions.directory import deprovision_user
    from bastion.email_delivery import RECIPIENT_GONE

    world.check()
    esther = person(world, ESTHER)
    member = member_of(world, esther.id)
    with world.runtime.sessions.begin() as session:
        deprovision_user(
            session,
            workspace_id=world.workspace_id,
            user_id=esther.id,
            source=UserSource.SCIM,
            actor=admin(world),
            check_delay=timedelta(0),
        )
    send(world)
    assert not [m for m in world.mailbox.messages if m["To"] == ESTHER]
    [mail] = mail_of(world, member.id)
    assert (mail.state, mail.last_error, mail.attempts) == (
        NotificationState.FAILED,
        RECIPIENT_GONE,
        0,
    )


# --- 3. the SMTP server refuses ------------------------------------------------------------------


def test_a_refusal_for_good_fails_the_invitation_at_once(
    world: World, refusing_smtp: tuple[RefusingServer, str]
) -> None:
    server, url = refusing_smtp
    server.refused.add(ESTHER)
    world.check()
    esther = person(world, ESTHER)

    sent = send(world, settings_with(world, url))
    assert sent == len(server.accepted) >= 20
    assert not any(m["To"] == ESTHER for m in server.accepted)
    [mail] = mail_of(world, member_of(world, esther.id).id)
    assert (mail.state, mail.attempts, mail.next_attempt_at) == (NotificationState.FAILED, 1, None)
    assert mail.last_error == f"recipients refused: {ESTHER}: 550 5.1.1 no such user"
    member = member_of(world, esther.id)
    assert member.onboarding_status == INVITE_FAILED
    assert member.invite_error == mail.last_error
    assert member.invited_at is None
    assert changes_of(world, esther.id) == [
        Change("system:e-mail", "pending_onboarding", "invite_failed", "invitation refused")
    ]
    # The others went out.
    other = person(world, "lucas.ito@northwindoutfitters.com")
    assert member_of(world, other.id).onboarding_status == INVITE_SENT

    # Not tried again, not queued again by the next check: it is retried from the E-mail page.
    server.accepted.clear()
    world.check()
    assert send(world, settings_with(world, url)) == 0 and server.accepted == []
    assert len(mail_of(world, member.id)) == 1
    assert member_of(world, esther.id).onboarding_status == INVITE_FAILED


def test_recipients_refused_by_smtplib_fail_the_invitation_at_once(
    world: World, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The same refusal, as smtplib raises it when every recipient gets a 5xx."""

    def refuse(_self: object, message: Any) -> None:
        raise smtplib.SMTPRecipientsRefused({message["To"]: (550, b"no such user")})

    monkeypatch.setattr("bastion.email_delivery.SmtpConfig.send", refuse)
    world.check()
    esther = person(world, ESTHER)
    assert send(world) == 0
    [mail] = mail_of(world, member_of(world, esther.id).id)
    assert (mail.state, mail.attempts) == (NotificationState.FAILED, 1)
    assert mail.last_error == f"recipients refused: {ESTHER}: 550 no such user"
    member = member_of(world, esther.id)
    assert (member.onboarding_status, member.invite_error) == (INVITE_FAILED, mail.last_error)
    assert changes_of(world, esther.id) == [
        Change("system:e-mail", "pending_onboarding", "invite_failed", "invitation refused")
    ]


def test_a_transient_failure_keeps_the_invitation_pending_until_the_last_attempt(
    world: World,
) -> None:
    world.check()
    esther = person(world, ESTHER)
    member_id = member_of(world, esther.id).id
    down = settings_with(world, "smtp://127.0.0.1:1")  # nothing listens there

    assert send(world, down) == 0
    [mail] = mail_of(world, member_id)
    assert (mail.state, mail.attempts) == (NotificationState.PENDING, 1)
    assert mail.last_error and "Connection" in mail.last_error
    assert mail.next_attempt_at is not None and mail.next_attempt_at > utcnow()
    member = member_of(world, esther.id)
    assert (member.onboarding_status, member.invited_at, member.invite_error) == (
        PENDING,
        None,
        None,
    )
    assert changes_of(world, esther.id) == []

    # Every earlier attempt failed the same way; the last one gives up.
    with world.runtime.sessions.begin() as session:
        session.get_one(Notification, mail.id).attempts = MAX_ATTEMPTS - 1
    make_due_now(world)
    assert send(world, down) == 0
    [mail] = mail_of(world, member_id)
    assert (mail.state, mail.attempts) == (NotificationState.FAILED, MAX_ATTEMPTS)
    assert mail.next_attempt_at is None
    member = member_of(world, esther.id)
    assert member.onboarding_status == INVITE_FAILED
    assert member.invite_error == mail.last_error[:300]
    assert "Connection" in member.invite_error
    assert changes_of(world, esther.id) == [
        Change("system:e-mail", "pending_onboarding", "invite_failed", "invitation refused")
    ]


# --- 4. no SMTP server ---------------------------------------------------------------------------


def test_without_an_smtp_server_invitations_are_kept_unsent(world: World) -> None:
    world.check()
    esther = person(world, ESTHER)
    member_id = member_of(world, esther.id).id
    changes = all_changes(world)

    assert send(world, settings_with(world, None)) == 0
    assert {n.state for n in notifications(world)} == {NotificationState.NOT_SENT}
    assert {n.last_error for n in notifications(world)} == {NO_SMTP_SERVER}
    member = member_of(world, esther.id)
    assert (member.onboarding_status, member.invited_at, member.invite_error) == (
        PENDING,
        None,
        None,
    )
    assert all_changes(world) == changes

    # Not on the next run either, nor once a server is there: only a retry sends them.
    assert send(world, settings_with(world, None)) == 0
    assert send(world) == 0
    assert world.mailbox.messages == []
    [mail] = mail_of(world, member_id)
    assert (mail.state, mail.attempts) == (NotificationState.NOT_SENT, 0)
    assert member_of(world, esther.id).onboarding_status == PENDING
    # Nor does a check queue another one.
    world.check()
    assert len(mail_of(world, member_id)) == 1


# --- 5. an admin matches by hand -----------------------------------------------------------------


def test_an_admin_match_makes_a_pending_member_told_once(world: World) -> None:
    world.check()
    olga = person(world, OLGA)
    account = account_with_email(world, OLGA_ACCOUNT)
    assert account.state == AccountState.UNMATCHED
    assert present_accounts_of(world, olga.id) == []

    with world.runtime.sessions.begin() as session:
        members.match_account(
            session,
            workspace_id=world.workspace_id,
            account_id=account.id,
            user_id=olga.id,
            role=AppRole.COLLABORATOR,
            actor=admin(world),
            base_url="https://bastion.example",
        )
    member = member_of(world, olga.id)
    assert (member.onboarding_status, member.role) == (PENDING, AppRole.COLLABORATOR)
    [mail] = mail_of(world, member.id)
    assert (mail.subject, mail.recipients) == (ACCESS_SUBJECT, [OLGA])
    assert f"Your account {OLGA_ACCOUNT} in Northwind Meta" in mail.body_text
    assert f"https://bastion.example{ACCOUNTS_PATH}" in mail.body_text
    assert changes_of(world, olga.id) == []

    # Matching again (now as owner) updates the member; the invitation is not queued twice.
    with world.runtime.sessions.begin() as session:
        members.match_account(
            session,
            workspace_id=world.workspace_id,
            account_id=account.id,
            user_id=olga.id,
            role=AppRole.OWNER,
            actor=admin(world),
        )
    member = member_of(world, olga.id)
    assert (member.onboarding_status, member.role) == (PENDING, AppRole.OWNER)
    assert [m.id for m in mail_of(world, member.id)] == [mail.id]
    # Nor by the next check.
    world.check()
    assert [m.id for m in mail_of(world, member.id)] == [mail.id]
    assert changes_of(world, olga.id) == []


def test_an_admin_match_moves_a_bastion_only_member_to_pending(world: World) -> None:
    world.check()
    # The admin owns the app in Bastion without a seat in it.
    owner = member_of(world, world.admin_id)
    assert owner.onboarding_status == OnboardingStatus.BASTION_ONLY
    assert changes_of(world, world.admin_id) == [
        Change("system:check", "pending_onboarding", "bastion_only", "check")
    ]
    account = account_with_email(world, "sakura.dvorak@northwindoutfitters.com")
    with world.runtime.sessions.begin() as session:
        members.claim_owner(
            session, workspace_id=world.workspace_id, account_id=account.id, actor=admin(world)
        )
    owner = member_of(world, world.admin_id)
    assert (owner.onboarding_status, owner.role) == (PENDING, AppRole.OWNER)
    [mail] = mail_of(world, owner.id)
    assert mail.recipients == ["owner@northwind.test"]
    assert changes_of(world, world.admin_id)[1:] == [
        Change(f"user:{world.admin_id}", "bastion_only", "pending_onboarding", "matched")
    ]


def test_a_person_without_an_email_is_matched_and_told_nothing(world: World) -> None:
    world.check()
    kim = new_person_without_email(world, "kim.lee")
    account = account_with_email(world, "jonas.ortiz@northwindoutfitters.com")
    before = len(notifications(world))
    with world.runtime.sessions.begin() as session:
        members.match_account(
            session,
            workspace_id=world.workspace_id,
            account_id=account.id,
            user_id=kim.id,
            role=AppRole.COLLABORATOR,
            actor=admin(world),
        )
    member = member_of(world, kim.id)
    assert member.onboarding_status == PENDING
    assert mail_of(world, member.id) == []
    # The next check finds their seat and still has nobody to write to.
    world.check()
    assert member_of(world, kim.id).onboarding_status == PENDING
    assert mail_of(world, member.id) == []
    assert len(notifications(world)) == before
    assert changes_of(world, kim.id) == []


# --- 6. signing in -------------------------------------------------------------------------------


def test_signing_in_counts_the_member_onboarded_in_an_sso_app(world: World) -> None:
    assert world.app().login_method == LoginMethod.SSO
    world.check()
    send(world)
    esther = person(world, ESTHER)
    assert esther.signed_in_at is None
    assert member_of(world, esther.id).onboarding_status == INVITE_SENT

    sign_in_as(world, ESTHER)
    esther = person(world, ESTHER)
    assert esther.signed_in_at is not None
    member = member_of(world, esther.id)
    assert member.onboarding_status == OnboardingStatus.SSO
    assert member.invited_at is not None and member.connected_at is None
    assert changes_of(world, esther.id) == [
        Change("system:e-mail", "pending_onboarding", "invite_sent", "invitation sent"),
        Change(f"user:{esther.id}", "invite_sent", "sso", "signed in"),
    ]
    # Someone else is untouched; the next check keeps her status.
    lucas = person(world, "lucas.ito@northwindoutfitters.com")
    assert member_of(world, lucas.id).onboarding_status == INVITE_SENT
    world.check()
    assert member_of(world, esther.id).onboarding_status == OnboardingStatus.SSO
    assert len(changes_of(world, esther.id)) == 2


def test_signing_in_changes_nothing_in_a_password_app(world: World) -> None:
    use_login_method(world, LoginMethod.PASSWORD)
    world.check()
    esther = person(world, ESTHER)
    sign_in_as(world, ESTHER)
    assert person(world, ESTHER).signed_in_at is not None
    member = member_of(world, esther.id)
    assert member.onboarding_status == PENDING
    assert changes_of(world, esther.id) == []


# --- 7. connecting the account -------------------------------------------------------------------


def test_connecting_the_account_onboards_the_member_of_a_password_app(world: World) -> None:
    use_login_method(world, LoginMethod.PASSWORD)
    world.check()
    send(world)
    esther = person(world, ESTHER)
    with world.runtime.sessions.begin() as session:
        member = session.get_one(AppMember, member_of(world, esther.id).id)
        assert account_connected(session, member, actor=f"user:{esther.id}") is True
    member = member_of(world, esther.id)
    assert member.onboarding_status == OnboardingStatus.ONBOARDED
    assert member.connected_at is not None and member.invited_at is not None
    assert changes_of(world, esther.id) == [
        Change("system:e-mail", "pending_onboarding", "invite_sent", "invitation sent"),
        Change(f"user:{esther.id}", "invite_sent", "onboarded", "account connected"),
    ]
    world.check()
    assert member_of(world, esther.id).onboarding_status == OnboardingStatus.ONBOARDED


# --- 8. exemptions -------------------------------------------------------------------------------


def test_exempting_the_only_account_leaves_the_member_managed_outside(world: World) -> None:
    world.check()
    send(world)
    esther = person(world, ESTHER)
    [account] = present_accounts_of(world, esther.id)
    with world.runtime.sessions.begin() as session:
        members.exempt_account(
            session,
            workspace_id=world.workspace_id,
            account_id=account.id,
            reason="agency contract",
            expires_at=datetime(2100, 1, 1, tzinfo=UTC),
            actor=admin(world),
        )
    member = member_of(world, esther.id)
    assert member.onboarding_status == OnboardingStatus.MANAGED_OUTSIDE
    assert member.invited_at is not None  # the fact stays
    actor = f"user:{world.admin_id}"
    assert changes_of(world, esther.id)[1:] == [
        Change(actor, "invite_sent", "managed_outside", "exempted")
    ]
    # A check keeps it so.
    world.check()
    assert member_of(world, esther.id).onboarding_status == OnboardingStatus.MANAGED_OUTSIDE

    with world.runtime.sessions.begin() as session:
        members.unexempt_account(
            session, workspace_id=world.workspace_id, account_id=account.id, actor=admin(world)
        )
    assert member_of(world, esther.id).onboarding_status == INVITE_SENT
    assert changes_of(world, esther.id)[1:] == [
        Change(actor, "invite_sent", "managed_outside", "exempted"),
        Change(actor, "managed_outside", "invite_sent", "exemption ended"),
    ]
    assert len(mail_of(world, member.id)) == 1


# --- 9. unmatching, and the seat coming back -----------------------------------------------------


def test_unmatching_the_only_account_leaves_the_member_bastion_only_until_a_check(
    world: World,
) -> None:
    world.check()
    send(world)
    esther = person(world, ESTHER)
    [account] = present_accounts_of(world, esther.id)
    with world.runtime.sessions.begin() as session:
        members.unmatch_account(
            session, workspace_id=world.workspace_id, account_id=account.id, actor=admin(world)
        )
    member = member_of(world, esther.id)
    assert member.onboarding_status == OnboardingStatus.BASTION_ONLY
    assert changes_of(world, esther.id)[1:] == [
        Change(f"user:{world.admin_id}", "invite_sent", "bastion_only", "unmatched")
    ]

    # The next check matches the account by its e-mail again: the seat is back.
    world.check()
    assert [a.id for a in present_accounts_of(world, esther.id)] == [account.id]
    assert member_of(world, esther.id).onboarding_status == INVITE_SENT
    assert changes_of(world, esther.id)[1:] == [
        Change(f"user:{world.admin_id}", "invite_sent", "bastion_only", "unmatched"),
        Change("system:check", "bastion_only", "invite_sent", "check"),
    ]
    assert len(mail_of(world, member.id)) == 1


# --- 10. a guest vouching for an account ---------------------------------------------------------


def test_a_guest_invited_for_an_account_is_invite_sent_once_the_link_goes_out(
    world: World,
) -> None:
    world.check()
    account = account_with_email(world, "jonas.ortiz@northwindoutfitters.com")
    with world.runtime.sessions.begin() as session:
        invite = members.invite_guest(
            session,
            workspace_id=world.workspace_id,
            email="jonas@agency.test",
            name="Jonas Ortiz",
            actor=admin(world),
            account_id=account.id,
            base_url="https://bastion.example",
        )
        guest_id = invite.user.id
        link = invite.link
    member = member_of(world, guest_id)
    assert (member.onboarding_status, member.role) == (PENDING, AppRole.COLLABORATOR)
    [mail] = mail_of(world, member.id)
    assert mail.subject == "[Bastion] You are invited as a guest"
    assert mail.recipients == ["jonas@agency.test"]
    assert mail.kind.startswith("guest-invite:")

    # A check sees the guest's seat; their set-password e-mail stands for the invitation.
    world.check()
    assert account_with_email(world, account.email or "").state == AccountState.GUEST
    assert [m.id for m in mail_of(world, member.id)] == [mail.id]
    assert member_of(world, guest_id).onboarding_status == PENDING

    assert send(world) >= 1
    [message] = [m for m in world.mailbox.messages if m["To"] == "jonas@agency.test"]
    assert message["Subject"] == "[Bastion] You are invited as a guest"
    assert link in text_of(message)
    member = member_of(world, guest_id)
    assert member.onboarding_status == INVITE_SENT
    assert member.invited_at is not None and member.invite_error is None
    assert changes_of(world, guest_id) == [
        Change("system:e-mail", "pending_onboarding", "invite_sent", "invitation sent")
    ]


# --- 11. the rule ---------------------------------------------------------------------------------

NOW = datetime(2030, 1, 1, tzinfo=UTC)
SSO, PASSWORD_APP = LoginMethod.SSO, LoginMethod.PASSWORD
ONE = Seats(managed=1)


@pytest.mark.parametrize(
    ("login", "seats", "invited", "error", "connected", "signed_in", "expected"),
    [
        # No seat: whatever else is true.
        (SSO, Seats(), True, None, True, True, OnboardingStatus.BASTION_ONLY),
        (PASSWORD_APP, Seats(), False, "550", True, True, OnboardingStatus.BASTION_ONLY),
        # Only exempted seats: managed outside Bastion, even connected or signed in.
        (SSO, Seats(exempted=1), True, None, True, True, OnboardingStatus.MANAGED_OUTSIDE),
        (PASSWORD_APP, Seats(exempted=2), False, None, True, False, "managed_outside"),
        # One managed seat next to an exempted one: the facts decide.
        (SSO, Seats(managed=1, exempted=1), True, None, False, False, "invite_sent"),
        # Connected in a password app: onboarded, above a refused invitation.
        (PASSWORD_APP, ONE, False, "550 refused", True, True, OnboardingStatus.ONBOARDED),
        # Connected (their own profile linked) onboards in an SSO app too, above signing in.
        (SSO, ONE, False, None, True, True, OnboardingStatus.ONBOARDED),
        # Signed in to an SSO app: sso, above a refused invitation.
        (SSO, ONE, True, "550 refused", False, True, OnboardingStatus.SSO),
        # Signed in counts for nothing in a password app.
        (PASSWORD_APP, ONE, True, None, False, True, OnboardingStatus.INVITE_SENT),
        # A refusal wins over an earlier send.
        (SSO, ONE, True, "550 refused", False, False, OnboardingStatus.INVITE_FAILED),
        (PASSWORD_APP, ONE, False, "timed out", False, False, OnboardingStatus.INVITE_FAILED),
        (SSO, ONE, True, None, False, False, OnboardingStatus.INVITE_SENT),
        (PASSWORD_APP, ONE, False, None, False, False, OnboardingStatus.PENDING_ONBOARDING),
        (SSO, Seats(managed=3), False, None, False, False, OnboardingStatus.PENDING_ONBOARDING),
    ],
)
def test_the_status_follows_the_rules_in_order(
    login: LoginMethod,
    seats: Seats,
    invited: bool,
    error: str | None,
    connected: bool,
    signed_in: bool,
    expected: str,
) -> None:
    app = App(login_method=login)
    member = AppMember(
        invited_at=NOW if invited else None,
        invite_error=error,
        connected_at=NOW if connected else None,
    )
    user = User(signed_in_at=NOW if signed_in else None)
    assert status_for(app, member, user, seats) == OnboardingStatus(expected)
