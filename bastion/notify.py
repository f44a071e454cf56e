"""E-mail: queued as Notification rows inside the caller's transaction, sent after the commit.

``queue_email`` only writes a row, so an e-mail exists exactly when the change that caused it was
committed. ``bastion.email_delivery`` sends what is due.
"""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy.orm import Session

from bastion.logs import get_logger
from bastion.storage.bulk import insert_rows
from bastion.storage.models import Notification, table_of, utcnow

log = get_logger(__name__)


def queue_email(
    session: Session,
    *,
    workspace_id: int,
    kind: str,
    recipients: list[str],
    subject: str,
    text: str,
    html: str,
) -> Notification | None:
    """Add an e-mail to the outbox; nothing is queued when there is nobody to send it to."""
    recipients = sorted({r.strip() for r in recipients if r and r.strip()})
    if not recipients:
        log.info("e-mail not queued: no recipients", kind=kind)
        return None
    notification = Notification(
        workspace_id=workspace_id,
        kind=kind,
        recipients=recipients,
        subject=subject[:300],
        body_text=text,
        body_html=html,
        next_attempt_at=utcnow(),
    )
    session.add(notification)
    return notification


# kind, recipients, subject, text, html, the membership it is an invitation of (or None)
QueuedEmail = tuple[str, list[str], str, str, str, int | None]


def queue_emails(session: Session, *, workspace_id: int, emails: Sequence[QueuedEmail]) -> int:
    """``queue_email`` for many messages in one statement (a check's invitations); returns how
    many were queued (a message with nobody to send it to is not)."""
    rows = []
    for kind, recipients, subject, text, html, member_id in emails:
        to = sorted({r.strip() for r in recipients if r and r.strip()})
        if not to:
            log.info("e-mail not queued: no recipients", kind=kind)
            continue
        rows.append((kind, to, subject[:300], text, html, member_id))
    now = utcnow()
    insert_rows(
        session.connection(),
        table_of(Notification),
        ("kind", "recipients", "subject", "body_text", "body_html", "app_member_id"),
        rows,
        {"workspace_id": workspace_id, "next_attempt_at": now, "created_at": now},
    )
    return len(rows)
