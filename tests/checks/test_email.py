"""E-mail goes out after the commit, and a failed send is retried, never lost."""

from __future__ import annotations

import dataclasses
from datetime import timedelta

from sqlalchemy import select, update

from bastion.email_delivery import send_due_notifications
from bastion.notify import queue_email
from bastion.settings import load_settings
from bastion.storage.models import Notification, utcnow
from bastion.storage.models.enums import NotificationState
from tests.checks.conftest import World


def _queue(world: World) -> int:
    with world.runtime.sessions.begin() as session:
        notification = queue_email(
            session,
            workspace_id=world.workspace_id,
            kind="test",
            recipients=["owner@northwind.test", " "],
            subject="Hello",
            text="plain body",
            html="<p>html body</p>",
        )
        assert notification is not None
        session.flush()
        return notification.id


def test_a_queued_email_is_sent_with_text_and_html_parts(world: World) -> None:
    _queue(world)
    assert send_due_notifications(world.runtime.sessions, world.runtime.settings) == 1
    [message] = world.mailbox.messages
    assert message["To"] == "owner@northwind.test"
    assert message["From"] == "bastion@acme.test"
    kinds = [part.get_content_type() for part in message.get_payload()]
    assert kinds == ["text/plain", "text/html"]
    assert send_due_notifications(world.runtime.sessions, world.runtime.settings) == 0


def test_an_email_rolled_back_with_its_change_is_never_sent(world: World) -> None:
    try:
        with world.runtime.sessions.begin() as session:
            queue_email(
                session,
                workspace_id=world.workspace_id,
                kind="test",
                recipients=["owner@northwind.test"],
                subject="Never",
                text="x",
                html="x",
            )
            raise RuntimeError("the change failed")
    except RuntimeError:
        pass
    assert send_due_notifications(world.runtime.sessions, world.runtime.settings) == 0
    assert world.mailbox.messages == []


def test_a_failed_send_is_kept_and_retried_later(world: World) -> None:
    notification_id = _queue(world)
    down = dataclasses.replace(
        world.runtime,
        settings=load_settings(
            {
                "BASTION_DATA_DIR": str(world.runtime.settings.data_dir),
                "BASTION_SMTP_URL": "smtp://127.0.0.1:1",  # nothing listens there
            }
        ),
    )
    assert send_due_notifications(down.sessions, down.settings) == 0
    with world.runtime.sessions() as session:
        row = session.get_one(Notification, notification_id)
        assert row.state == NotificationState.PENDING
        assert row.attempts == 1
        assert row.last_error and "Connection" in row.last_error
        assert row.next_attempt_at is not None and row.next_attempt_at > utcnow()
    # Not due yet: the working server is not tried before the retry time.
    assert send_due_notifications(world.runtime.sessions, world.runtime.settings) == 0
    with world.runtime.sessions.begin() as session:
        session.execute(
            update(Notification)
            .where(Notification.id == notification_id)
            .values(next_attempt_at=utcnow() - timedelta(seconds=1))
        )
    assert send_due_notifications(world.runtime.sessions, world.runtime.settings) == 1
    with world.runtime.sessions() as session:
        sent = session.scalars(select(Notification)).one()
        assert sent.state == NotificationState.SENT and sent.attempts == 2
