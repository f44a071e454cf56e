"""An expiring token: its expiry is kept on the app, and the owners are e-mailed 14 and 3 days
before it lapses, each reminder once however often the minute tick runs.

The expiry comes from Meta's ``debug_token``, which Bastion asks as the app itself: these tests
give the App secret (the simulator accepts ``{app_id}|{app_secret}`` as a caller).
"""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta

from bastion.actions.actors import Actor
from bastion.actions.apps import AppChanges, update_app
from bastion.actions.token_reminders import remind_expiring_tokens
from bastion.email_delivery import send_due_notifications
from bastion.jobs import Jobs
from bastion.storage.models import App, AuditEvent, utcnow
from tests.checks.conftest import World


def replace_token(world: World, *, expires_in: timedelta | None) -> datetime | None:
    """Give the app a token lapsing ``expires_in`` from now (None: never), with the App secret."""
    expiry = int(time.time() + expires_in.total_seconds()) if expires_in else 0
    with world.runtime.sessions.begin() as session:
        update_app(
            session,
            world.runtime.require_key_ring(),
            world.runtime.connector_options,
            workspace_id=world.workspace_id,
            app_id=world.app_id,
            changes=AppChanges(
                token=world.sim.make_token(expires_at=expiry), app_secret=world.sim.app_secret
            ),
            actor=Actor.user(world.admin_id),
        )
    return datetime.fromtimestamp(expiry, tz=UTC) if expiry else None


def remind(world: World, now: datetime) -> int:
    with world.runtime.sessions.begin() as session:
        return remind_expiring_tokens(session, now=now, base_url=world.runtime.settings.base_url)


def sent_subjects(world: World) -> list[str]:
    send_due_notifications(world.runtime.sessions, world.runtime.settings)
    return [str(m["Subject"]) for m in world.mailbox.messages]


def test_an_expiring_token_is_kept_with_its_expiry_and_a_warning(world: World) -> None:
    expiry = replace_token(world, expires_in=timedelta(days=40))
    app = world.app()
    assert app.token_expires_at == expiry
    assert app.app_secret_id is not None
    assert any("expires" in w for w in app.connection_warnings)


def test_owners_are_e_mailed_14_then_3_days_before_each_once(world: World) -> None:
    expiry = replace_token(world, expires_in=timedelta(days=40))
    assert expiry is not None
    assert remind(world, utcnow()) == 0  # 40 days left: nothing yet
    assert remind(world, expiry - timedelta(days=13, hours=23)) == 1
    assert remind(world, expiry - timedelta(days=13)) == 0  # the 14-day one went already
    assert remind(world, expiry - timedelta(days=2, hours=23)) == 1
    assert remind(world, expiry - timedelta(days=1)) == 0
    assert remind(world, expiry + timedelta(minutes=1)) == 0  # lapsed: the check will say so
    subjects = sent_subjects(world)
    assert subjects == [
        "[Bastion] Northwind Meta: the access token expires in 13 days",
        "[Bastion] Northwind Meta: the access token expires in 2 days",
    ]
    [first, _second] = world.mailbox.messages
    assert first["To"] == "owner@northwind.test"
    body = first.get_payload()[0].get_payload(decode=True).decode()
    assert f"/apps/{world.app_id}/settings" in body
    assert "System users" in body
    for secret in (world.sim.token, world.sim.app_secret or ""):
        assert secret and secret not in body


def test_a_token_that_lapses_within_3_days_gets_only_the_last_reminder(world: World) -> None:
    replace_token(world, expires_in=timedelta(days=2))
    assert remind(world, utcnow()) == 1
    assert remind(world, utcnow()) == 0
    assert len(sent_subjects(world)) == 1


def test_a_new_token_starts_the_reminders_afresh(world: World) -> None:
    first = replace_token(world, expires_in=timedelta(days=10))
    assert first is not None and remind(world, utcnow()) == 1
    second = replace_token(world, expires_in=timedelta(days=12))
    assert second is not None and world.app().token_expiry_reminded_days is None
    assert remind(world, utcnow()) == 1
    replace_token(world, expires_in=None)  # a never-expiring token: nothing more to remind
    assert world.app().token_expires_at is None
    assert remind(world, second - timedelta(days=1)) == 0


def test_the_minute_tick_queues_and_sends_the_reminder_once(world: World) -> None:
    replace_token(world, expires_in=timedelta(days=5))
    with Jobs(world.runtime, immediate=True) as jobs:
        first = jobs.tick()
        assert first["token_reminders"] == 1
        assert jobs.tick()["token_reminders"] == 0
    assert sum("access token expires" in s for s in sent_subjects(world)) == 1


def test_without_the_app_secret_the_expiry_is_unknown_and_nothing_is_sent(world: World) -> None:
    app = world.app()
    assert app.app_secret_id is None and app.token_expires_at is None
    assert remind(world, utcnow() + timedelta(days=365)) == 0


def test_replacing_the_app_secret_is_audited_without_the_secret(world: World) -> None:
    replace_token(world, expires_in=None)
    with world.runtime.sessions() as session:
        events = session.query(AuditEvent).filter(AuditEvent.action == "app.updated").all()
        app = session.get_one(App, world.app_id)
    [event] = events
    assert event.details["app_secret_replaced"] is True
    assert world.sim.app_secret not in str(event.details)
    assert app.token_expires_at is None and app.app_secret_id is not None


def test_an_app_nobody_can_be_told_about_is_reminded_once_someone_can(world: World) -> None:
    from sqlalchemy import select, update

    from bastion.storage.models import User
    from bastion.storage.models.enums import UserStatus

    replace_token(world, expires_in=timedelta(days=10))
    with world.runtime.sessions.begin() as session:
        active = session.scalars(select(User.id).where(User.status == UserStatus.ACTIVE)).all()
        session.execute(update(User).values(status=UserStatus.SUSPENDED))
    assert remind(world, utcnow()) == 0  # no owner and no admin to tell: not marked as sent
    assert world.app().token_expiry_reminded_days is None
    with world.runtime.sessions.begin() as session:
        session.execute(update(User).where(User.id.in_(active)).values(status=UserStatus.ACTIVE))
    assert remind(world, utcnow()) == 1
    assert len(sent_subjects(world)) == 1
