"""The e-mail Bastion queued, for workspace admins (the bodies hold sign-in links).

GET  /api/v1/emails                       newest first, optionally by state; cursor
GET  /api/v1/emails/{email_id}            one message with its text and HTML bodies
POST /api/v1/emails/{email_id}/retry      send a failed or not sent message again
"""

from __future__ import annotations

from datetime import datetime

from fastapi import APIRouter, Query, Request
from pydantic import BaseModel

from bastion.actions.emails import get_email, list_emails, readable_bodies, retry_email
from bastion.api.auth import DB, CurrentPrincipal, runtime_of
from bastion.api.common import Cursor, PathId, decode_cursor, encode_cursor
from bastion.api.errors import READ_ERRORS, WRITE_ERRORS
from bastion.storage.models import Notification
from bastion.storage.models.enums import NotificationState

router = APIRouter(tags=["emails"])


class EmailOut(BaseModel):
    id: int
    kind: str
    recipients: list[str]
    subject: str
    state: str
    attempts: int
    next_attempt_at: datetime | None
    last_error: str | None
    created_at: datetime
    sent_at: datetime | None
    app_member_id: int | None

    @classmethod
    def of(cls, n: Notification) -> EmailOut:
        return cls(
            id=n.id,
            kind=n.kind,
            recipients=list(n.recipients),
            subject=n.subject,
            state=n.state.value,
            attempts=n.attempts,
            next_attempt_at=n.next_attempt_at,
            last_error=n.last_error,
            created_at=n.created_at,
            sent_at=n.sent_at,
            app_member_id=n.app_member_id,
        )


class EmailWithBodies(EmailOut):
    body_text: str
    body_html: str

    @classmethod
    def with_bodies(cls, n: Notification, *, smtp_configured: bool) -> EmailWithBodies:
        text, html = readable_bodies(n, smtp_configured=smtp_configured)
        return cls(**EmailOut.of(n).model_dump(), body_text=text, body_html=html)


class EmailPage(BaseModel):
    items: list[EmailOut]
    next_cursor: str | None


@router.get("/emails", responses=READ_ERRORS)
def emails(
    session: DB,
    principal: CurrentPrincipal,
    state: NotificationState | None = None,
    cursor: Cursor = None,
    limit: int = Query(50, ge=1, le=500),
) -> EmailPage:
    """Newest first, without their bodies (``GET /emails/{id}`` has them)."""
    before = decode_cursor(cursor, 1)[0] if cursor else None
    page = list_emails(
        session,
        workspace_id=principal.workspace_id,
        actor=principal.actor,
        state=state,
        before_id=before,
        limit=limit,
    )
    return EmailPage(
        items=[EmailOut.of(n) for n in page.items],
        next_cursor=encode_cursor([page.items[-1].id]) if page.more and page.items else None,
    )


@router.get("/emails/{email_id}", responses=READ_ERRORS)
def email(
    request: Request, email_id: PathId, session: DB, principal: CurrentPrincipal
) -> EmailWithBodies:
    notification = get_email(
        session,
        workspace_id=principal.workspace_id,
        notification_id=email_id,
        actor=principal.actor,
    )
    smtp_configured = runtime_of(request).settings.smtp_url is not None
    return EmailWithBodies.with_bodies(notification, smtp_configured=smtp_configured)


@router.post("/emails/{email_id}/retry", status_code=202, responses=WRITE_ERRORS)
def retry(email_id: PathId, session: DB, principal: CurrentPrincipal) -> EmailOut:
    """Due at once; the next minute's tick sends it (409 if it is pending or sent)."""
    notification = retry_email(
        session,
        workspace_id=principal.workspace_id,
        notification_id=email_id,
        actor=principal.actor,
    )
    session.commit()
    return EmailOut.of(notification)
