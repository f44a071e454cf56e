"""The e-mail outbox as admins see it: every message Bastion queued, and a retry of one that did
not go out.

Only workspace admins read it (``read_email``), since the bodies hold sign-in and set-password
links, and only they retry (``manage_email``). A retried message is due at once; the minute tick
sends it (``bastion.email_delivery``), as it sends every queued e-mail, so there is no job to
hand it to.
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from bastion.actions.actors import Actor
from bastion.actions.permissions import MANAGE_EMAIL, READ_EMAIL, require
from bastion.audit import AuditAction, record
from bastion.errors import Conflict, NotFound
from bastion.onboarding import settle_one
from bastion.storage.models import AppMember, Notification, utcnow
from bastion.storage.models.enums import NotificationState, OnboardingStatus
from bastion.storage.tenancy import Tenant

RETRIABLE = frozenset({NotificationState.FAILED, NotificationState.NOT_SENT})
# The database's ids are 32-bit integers; PostgreSQL refuses a larger one in a comparison.
_LARGEST_ID = 2_147_483_647


@dataclass(frozen=True)
class EmailPage:
    """One page of messages, newest first; ``more`` when older ones follow the last."""

    items: list[Notification]
    more: bool


def list_emails(
    session: Session,
    *,
    workspace_id: int,
    actor: Actor,
    state: NotificationState | None = None,
    before_id: int | None = None,
    limit: int = 50,
) -> EmailPage:
    """Messages newest first, optionally in one state, starting after ``before_id``."""
    require(session, actor=actor, app=None, action=READ_EMAIL)
    query = Tenant(session, workspace_id).select(Notification)
    if state is not None:
        query = query.where(Notification.state == state)
    if before_id is not None:
        # Bounded so the value fits PostgreSQL's integer (ids never exceed it).
        query = query.where(Notification.id <= min(before_id - 1, _LARGEST_ID))
    rows = list(session.scalars(query.order_by(Notification.id.desc()).limit(limit + 1)))
    return EmailPage(rows[:limit], len(rows) > limit)


def count_emails(session: Session, *, workspace_id: int, actor: Actor) -> dict[str, int]:
    """How many messages are in each state."""
    require(session, actor=actor, app=None, action=READ_EMAIL)
    rows = session.execute(
        select(Notification.state, func.count(Notification.id))
        .where(Notification.workspace_id == workspace_id)
        .group_by(Notification.state)
    ).all()
    return {state.value: int(count) for state, count in rows}


def get_email(
    session: Session, *, workspace_id: int, notification_id: int, actor: Actor
) -> Notification:
    require(session, actor=actor, app=None, action=READ_EMAIL)
    return _find(session, workspace_id, notification_id)


def retry_email(
    session: Session, *, workspace_id: int, notification_id: int, actor: Actor
) -> Notification:
    """Send a failed or not sent message again, from its first attempt.

    ``last_error`` stays until the next attempt decides. An invitation whose refusal marked its
    member ``invite_failed`` shows the member as pending again until it goes out.
    """
    require(session, actor=actor, app=None, action=MANAGE_EMAIL)
    notification = _find(session, workspace_id, notification_id, lock=True)
    if notification.state not in RETRIABLE:
        raise Conflict(
            f"e-mail {notification_id} is {notification.state.value.replace('_', ' ')}; only a "
            "failed or not sent e-mail can be retried"
        )
    before = notification.state
    notification.state = NotificationState.PENDING
    notification.next_attempt_at = utcnow()
    notification.attempts = 0
    member = _member(session, notification)
    if member is not None and member.onboarding_status == OnboardingStatus.INVITE_FAILED:
        member.invite_error = None
        settle_one(
            session,
            member,
            actor=actor.label,
            reason="invitation retried",
            request_id=actor.request_id,
        )
    record(
        session,
        workspace_id=workspace_id,
        actor=actor.label,
        action=AuditAction.EMAIL_RETRIED,
        target=f"email:{notification.id}",
        details={"notification_id": notification.id, "before": before.value},
        request_id=actor.request_id,
    )
    return notification


def _find(
    session: Session, workspace_id: int, notification_id: int, *, lock: bool = False
) -> Notification:
    if not 0 < notification_id <= _LARGEST_ID:
        raise NotFound(f"E-mail {notification_id} not found")
    query = Tenant(session, workspace_id).select(Notification, Notification.id == notification_id)
    if lock:
        # Two admins retrying at once: the second sees the message pending and is refused.
        query = query.with_for_update()
    notification = session.scalars(query).first()
    if notification is None:
        raise NotFound(f"E-mail {notification_id} not found")
    return notification


def _member(session: Session, notification: Notification) -> AppMember | None:
    if notification.app_member_id is None:
        return None
    member = session.get(AppMember, notification.app_member_id)
    return (
        member if member is not None and member.workspace_id == notification.workspace_id else None
    )


# Messages whose link signs its recipient in (or sets their password): with an SMTP server they
# are on their way to that person, and an admin reading one could become them.
SIGNS_IN_KINDS = ("sign-in-link:", "guest-invite:")
HIDDEN_BODY = (
    "[This message holds a link that signs its recipient in, so it is not shown here: it went "
    "to them by e-mail. Without an SMTP server (the demo) it would be shown, since nothing "
    "else could deliver it.]"
)


def readable_bodies(notification: Notification, *, smtp_configured: bool) -> tuple[str, str]:
    """The text and HTML an admin may read: all of it, except a sign-in or set-password link
    when an SMTP server delivers it."""
    if smtp_configured and notification.kind.startswith(SIGNS_IN_KINDS):
        return HIDDEN_BODY, f"<p>{HIDDEN_BODY}</p>"
    return notification.body_text, notification.body_html
