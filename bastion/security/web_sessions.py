"""Browser sessions: a random token in a cookie, its hash in ``web_sessions``.

A session ends on sign-out (server side), after ``IDLE_TIMEOUT`` without a request, after
``ABSOLUTE_TIMEOUT`` whatever the activity, and at once when its user is no longer active (a
disabled or deprovisioned person's sessions stop working on their next request, and
``end_user_sessions`` ends them all explicitly).

Over TLS the cookie is ``__Host-bastion_session`` (Secure, Path=/, no Domain); on plain HTTP,
where browsers refuse ``__Host-`` cookies, it is ``bastion_session``. Both are HttpOnly and
SameSite=Lax.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from datetime import timedelta

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from bastion.security.tokens import hash_token
from bastion.storage.models import User, WebSession, utcnow
from bastion.storage.models.enums import UserStatus

IDLE_TIMEOUT = timedelta(minutes=30)
ABSOLUTE_TIMEOUT = timedelta(hours=12)
# Refreshing last_seen_at on every request would write on every page view; once a minute is
# precise enough for a 30-minute idle timeout.
TOUCH_EVERY = timedelta(minutes=1)


def cookie_name(secure: bool) -> str:
    return "__Host-bastion_session" if secure else "bastion_session"


@dataclass(frozen=True)
class NewWebSession:
    row: WebSession
    # Goes into the cookie once; never stored.
    token: str


def create_web_session(
    session: Session, *, user: User, ip: str | None = None, user_agent: str | None = None
) -> NewWebSession:
    """A fresh session (a new token at every sign-in, so a planted cookie is useless)."""
    token = secrets.token_urlsafe(32)
    now = utcnow()
    row = WebSession(
        workspace_id=user.workspace_id,
        user_id=user.id,
        token_hash=hash_token(token),
        created_at=now,
        last_seen_at=now,
        authenticated_at=now,
        expires_at=now + ABSOLUTE_TIMEOUT,
        ip=(ip or "")[:64] or None,
        user_agent=(user_agent or "")[:300] or None,
    )
    session.add(row)
    session.flush()
    return NewWebSession(row, token)


def resolve_web_session(session: Session, token: str | None) -> tuple[WebSession, User] | None:
    """The live session and its active user for a cookie value, or None."""
    if not token:
        return None
    row = session.scalars(
        select(WebSession).where(WebSession.token_hash == hash_token(token))
    ).first()
    now = utcnow()
    if row is None or row.ended_at is not None or row.expires_at <= now:
        return None
    if row.last_seen_at + IDLE_TIMEOUT <= now:
        return None
    user = session.get(User, row.user_id)
    if user is None or user.status != UserStatus.ACTIVE or user.removed_at is not None:
        return None
    if now - row.last_seen_at >= TOUCH_EVERY:
        row.last_seen_at = now
    return row, user


def end_web_session(session: Session, token: str | None) -> None:
    if token:
        session.execute(
            update(WebSession)
            .where(WebSession.token_hash == hash_token(token), WebSession.ended_at.is_(None))
            .values(ended_at=utcnow())
        )


def end_user_sessions(session: Session, user_id: int) -> int:
    """End every session of a user (disabled, deprovisioned, password changed)."""
    result = session.execute(
        update(WebSession)
        .where(WebSession.user_id == user_id, WebSession.ended_at.is_(None))
        .values(ended_at=utcnow())
    )
    return int(result.rowcount)  # type: ignore[attr-defined]
