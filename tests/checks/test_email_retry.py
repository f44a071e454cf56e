"""An admin reads the e-mail Bastion queued and sends again one that did not go out; an
invitation's member follows it."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta
from typing import Any

import pytest
from aiosmtpd.controller import Controller
from sqlalchemy import select

from bastion.actions.actors import Actor
from bastion.actions.directory import create_person
from bastion.actions.emails import get_email, list_emails, retry_email
from bastion.actions.users import create_admin
from bastion.audit import AuditAction
from bastion.directory_records import EmailRecord, PersonRecord
from bastion.email_delivery import NO_SMTP_SERVER, send_due_notifications
from bastion.errors import Conflict, NotFound, PermissionDenied
from bastion.notify import queue_email
from bastion.settings import Settings, load_settings
from bastion.storage.models import AppMember, AuditEvent, Notification, utcnow
from bastion.storage.models.enums import NotificationState, OnboardingStatus, UserSource
from tests.checks.conftest import World, _free_port
from tests.factories import make_workspace

ADMIN_ONLY = "needs the workspace admin role"


class _Refusing:
    async def handle_DATA(self, _server: Any, _session: Any, _envelope: Any) -> str:  # noqa: N802
        return "550 5.1.1 mailbox unavailable"


@pytest.fixture
def refusing_smtp() -> Iterator[int]:
    controller = Controller(_Refusing(), hostname="127.0.0.1", port=_free_port())
    controller.start()
    yield controller.port
    controller.stop()


def _settings(world: World, smtp_port: int | None) -> Settings:
    env = {"BASTION_DATA_DIR": str(world.runtime.settings.data_dir)}
    if smtp_port:
        env["BASTION_SMTP_URL"] = f"smtp://127.0.0.1:{smtp_port}"
    return load_settings(env)


def _send(world: World, settings: Settings | None = None) -> int:
    return send_due_notifications(world.runtime.sessions, settings or world.runtime.settings)


def _queue(world: World, subject: str = "Hello") -> int:
    with world.runtime.sessions.begin() as session:
        notification = queue_email(
            session,
            workspace_id=world.workspace_id,
            kind="test",
            recipients=["someone@northwind.test"],
            subject=subject,
            text="plain body",
            html="<p>html body</p>",
        )
        assert notification is not None
        session.flush()
        return notification.id


def _invitation(world: World) -> tuple[int, int]:
    """A check's first 'you have access' e-mail and its member."""
    world.check()
    with world.runtime.sessions() as session:
        row = session.scalars(
            select(Notification)
            .where(Notification.app_member_id.is_not(None))
            .order_by(Notification.id)
        ).first()
        assert row is not None and row.app_member_id is not None, "a check invites who it matched"
        return row.id, row.app_member_id


def _member(world: World, member_id: int) -> AppMember:
    with world.runtime.sessions() as session:
        return session.get_one(AppMember, member_id)


def _email(world: World, notification_id: int) -> Notification:
    with world.runtime.sessions() as session:
        return session.get_one(Notification, notification_id)


def _retry(world: World, notification_id: int, actor: Actor | None = None) -> Notification:
    with world.runtime.sessions.begin() as session:
        return retry_email(
            session,
            workspace_id=world.workspace_id,
            notification_id=notification_id,
            actor=actor or Actor.user(world.admin_id),
        )


def _audited(world: World, action: AuditAction) -> list[AuditEvent]:
    with world.runtime.sessions() as session:
        return list(
            session.scalars(
                select(AuditEvent).where(AuditEvent.action == action).order_by(AuditEvent.seq)
            )
        )


def test_a_refused_invitation_retried_shows_its_member_pending_then_goes_out(
    world: World, refusing_smtp: int
) -> None:
    email_id, member_id = _invitation(world)
    _send(world, _settings(world, refusing_smtp))
    refused = _email(world, email_id)
    assert refused.state == NotificationState.FAILED and refused.attempts == 1
    assert refused.last_error and "550" in refused.last_error
    assert _member(world, member_id).onboarding_status == OnboardingStatus.INVITE_FAILED

    retried = _retry(world, email_id)
    assert retried.state == NotificationState.PENDING and retried.attempts == 0
    assert retried.next_attempt_at is not None and retried.next_attempt_at <= utcnow()
    assert retried.last_error == refused.last_error, "kept until the next attempt decides"
    member = _member(world, member_id)
    assert member.onboarding_status == OnboardingStatus.PENDING_ONBOARDING
    assert member.invite_error is None
    [event] = _audited(world, AuditAction.EMAIL_RETRIED)
    assert event.details == {"notification_id": email_id, "before": "failed"}
    assert event.actor == f"user:{world.admin_id}" and event.target == f"email:{email_id}"
    moved = _audited(world, AuditAction.MEMBER_ONBOARDING_CHANGED)[-1].details
    assert (moved["before"], moved["after"], moved["reason"]) == (
        "invite_failed",
        "pending_onboarding",
        "invitation retried",
    )

    assert _send(world) >= 1
    sent = _email(world, email_id)
    assert sent.state == NotificationState.SENT and sent.attempts == 1 and sent.last_error is None
    assert _member(world, member_id).onboarding_status == OnboardingStatus.INVITE_SENT


def test_an_email_kept_unsent_without_a_server_is_retried_and_kept_again(world: World) -> None:
    email_id = _queue(world)
    _send(world, _settings(world, None))
    assert _email(world, email_id).state == NotificationState.NOT_SENT
    assert _email(world, email_id).last_error == NO_SMTP_SERVER
    assert _retry(world, email_id).state == NotificationState.PENDING
    _send(world, _settings(world, None))
    assert _email(world, email_id).state == NotificationState.NOT_SENT
    [event] = _audited(world, AuditAction.EMAIL_RETRIED)
    assert event.details["before"] == "not_sent"


def test_a_pending_or_sent_email_is_not_retried(world: World) -> None:
    email_id = _queue(world)
    with pytest.raises(Conflict, match=f"e-mail {email_id} is pending; only a failed or not sent"):
        _retry(world, email_id)
    _send(world)
    with pytest.raises(Conflict, match=f"e-mail {email_id} is sent"):
        _retry(world, email_id)
    assert _audited(world, AuditAction.EMAIL_RETRIED) == []


def test_only_workspace_admins_read_or_retry_email(world: World) -> None:
    email_id = _queue(world)
    _send(world, _settings(world, None))
    with world.runtime.sessions.begin() as session:
        person = create_person(
            session,
            workspace_id=world.workspace_id,
            person=PersonRecord(
                user_name="cora@northwind.test",
                display_name="Cora Colleague",
                emails=(EmailRecord("cora@northwind.test", "work", True),),
            ),
            source=UserSource.LOCAL,
            actor=Actor.system("tests"),
            check_delay=timedelta(minutes=5),
        )
    someone = Actor.user(person.id)
    with world.runtime.sessions() as session:
        with pytest.raises(PermissionDenied, match=ADMIN_ONLY):
            list_emails(session, workspace_id=world.workspace_id, actor=someone)
        with pytest.raises(PermissionDenied, match=ADMIN_ONLY):
            get_email(
                session, workspace_id=world.workspace_id, notification_id=email_id, actor=someone
            )
    with pytest.raises(PermissionDenied, match="Retrying e-mail needs the workspace admin role"):
        _retry(world, email_id, someone)
    assert _email(world, email_id).state == NotificationState.NOT_SENT
    assert _audited(world, AuditAction.EMAIL_RETRIED) == []


def test_another_workspaces_email_is_not_found(world: World) -> None:
    email_id = _queue(world)
    with world.runtime.sessions.begin() as session:
        other = make_workspace(session, "globex")
        stranger, _ = create_admin(
            session,
            workspace_id=other.id,
            email="admin@globex.test",
            name="Gloria",
            actor=Actor.system("tests"),
        )
    with world.runtime.sessions() as session:
        for notification_id in (email_id, 0, 2**40):
            with pytest.raises(NotFound, match=f"E-mail {notification_id} not found"):
                get_email(
                    session,
                    workspace_id=other.id,
                    notification_id=notification_id,
                    actor=Actor.user(stranger.id),
                )
        assert (
            list_emails(session, workspace_id=other.id, actor=Actor.user(stranger.id)).items == []
        )


def test_email_is_listed_newest_first_by_state_a_page_at_a_time(world: World) -> None:
    first, second, third = (_queue(world, f"Message {n}") for n in range(3))
    _send(world)  # all three go out
    fourth = _queue(world, "Message 3")
    admin = Actor.user(world.admin_id)
    with world.runtime.sessions() as session:
        page = list_emails(session, workspace_id=world.workspace_id, actor=admin, limit=2)
        assert [e.id for e in page.items] == [fourth, third] and page.more
        rest = list_emails(
            session, workspace_id=world.workspace_id, actor=admin, limit=2, before_id=third
        )
        assert [e.id for e in rest.items] == [second, first] and not rest.more
        sent = list_emails(
            session, workspace_id=world.workspace_id, actor=admin, state=NotificationState.SENT
        )
        assert [e.id for e in sent.items] == [third, second, first]
        far = list_emails(session, workspace_id=world.workspace_id, actor=admin, before_id=2**40)
        assert [e.id for e in far.items][:1] == [fourth]
