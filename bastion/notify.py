"""E-mail: queued as Notification rows inside the caller's transaction, sent after the commit.

``queue_email`` only writes a row, so an e-mail exists exactly when the change that caused it was
committed. ``bastion.email_delivery`` sends what is due.
"""

from __future__ import annotations

from sqlalchemy.orm import Session

from bastion.logs import get_logger
from bastion.storage.models import Notification, utcnow

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
