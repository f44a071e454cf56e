from datetime import timedelta

from sqlalchemy import update
from sqlalchemy.orm import Session

from bastion.actions.actors import Actor
from bastion.actions.users import create_admin
from bastion.security.web_sessions import (
    IDLE_TIMEOUT,
    create_web_session,
    end_user_sessions,
    end_web_session,
    resolve_web_session,
)
from bastion.storage.models import User, WebSession, utcnow
from bastion.storage.models.enums import UserStatus
from tests.factories import make_workspace


def _admin(session: Session) -> User:
    workspace = make_workspace(session)
    user, _ = create_admin(
        session, workspace_id=workspace.id, email="a@acme.test", name="A", actor=Actor.cli()
    )
    return user


def test_a_session_resolves_until_signed_out(session: Session) -> None:
    user = _admin(session)
    new = create_web_session(session, user=user, ip="127.0.0.1")
    assert new.token not in new.row.token_hash
    found = resolve_web_session(session, new.token)
    assert found is not None and found[1].id == user.id
    end_web_session(session, new.token)
    assert resolve_web_session(session, new.token) is None
    assert resolve_web_session(session, "not-a-token") is None
    assert resolve_web_session(session, None) is None


def test_idle_and_absolute_timeouts_end_a_session(session: Session) -> None:
    user = _admin(session)
    idle = create_web_session(session, user=user)
    session.execute(
        update(WebSession)
        .where(WebSession.id == idle.row.id)
        .values(last_seen_at=utcnow() - IDLE_TIMEOUT - timedelta(seconds=1))
    )
    old = create_web_session(session, user=user)
    session.execute(
        update(WebSession)
        .where(WebSession.id == old.row.id)
        .values(expires_at=utcnow() - timedelta(seconds=1))
    )
    session.expire_all()
    assert resolve_web_session(session, idle.token) is None
    assert resolve_web_session(session, old.token) is None


def test_a_disabled_users_sessions_end_at_once(session: Session) -> None:
    user = _admin(session)
    first = create_web_session(session, user=user)
    second = create_web_session(session, user=user)
    user.status = UserStatus.SUSPENDED
    assert resolve_web_session(session, first.token) is None
    user.status = UserStatus.ACTIVE
    assert end_user_sessions(session, user.id) == 2
    assert resolve_web_session(session, second.token) is None
