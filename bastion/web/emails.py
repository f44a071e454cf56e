"""E-mail: every message Bastion queued, what became of it, and its text, for workspace admins.

Routes:
    GET  /emails                        messages newest first; filter by state; older pages
    GET  /emails/{email_id}             one message: headers, state, last error, the text body
    POST /emails/{email_id}/retry       send a failed or not sent message again

Without an SMTP server (the demo) nothing goes out, so this is where an invitation or a guest's
set-password link is read and followed. The plain-text body is shown escaped, with only its
http(s) addresses made into links; the HTML part is never put into the page.
"""

from __future__ import annotations

import re

from fastapi import APIRouter, Request
from fastapi.responses import Response
from markupsafe import Markup, escape

from bastion.actions.emails import (
    RETRIABLE,
    count_emails,
    get_email,
    list_emails,
    readable_bodies,
    retry_email,
)
from bastion.email_delivery import NO_SMTP_SERVER
from bastion.errors import NotFound
from bastion.storage.models import Notification
from bastion.storage.models.enums import NotificationState
from bastion.web.context import DB, Me, PageRoute, redirect, render, runtime_of

router = APIRouter(route_class=PageRoute)
PER_PAGE = 50
STATES = (
    ("pending", "Pending"),
    ("sent", "Sent"),
    ("failed", "Failed"),
    ("not_sent", "Not sent"),
)
# The kind's first part (``member-access:3:12``) → what the message is, in words.
KINDS = {
    "member-access": "Invitation",
    "sign-in-link": "Sign-in link",
    "guest-invite": "Guest invitation",
    "report": "Deprovisioning report",
    "safeguard": "Check stopped by the safeguard",
    "exemptions-expired": "Exemptions expired",
    "token-expiry": "Token expiry reminder",
}
# An address ends before a blank, a quote or an angle bracket; punctuation closing a sentence
# after it is not part of it.
_ADDRESS = re.compile(r"""https?://[^\s<>"'`]+""", re.IGNORECASE)
_TRAILING = ".,;:!?)]}"


def kind_words(kind: str) -> str:
    prefix = kind.split(":", 1)[0]
    return KINDS.get(prefix, prefix.replace("-", " ").replace("_", " ").capitalize())


def linked_text(text: str) -> Markup:
    """The text escaped, with each http(s) address a link; nothing else becomes markup."""
    parts: list[Markup] = []
    last = 0
    for found in _ADDRESS.finditer(text):
        address = found.group(0).rstrip(_TRAILING)
        parts.append(escape(text[last : found.start()]))
        parts.append(
            Markup('<a href="{0}" target="_blank" rel="noopener noreferrer">{0}</a>').format(
                address
            )
        )
        last = found.start() + len(address)
    parts.append(escape(text[last:]))
    return Markup("").join(parts)


def state_note(email: Notification) -> str:
    """What the badge leaves out: the server's answer, how often it was tried."""
    error = "no SMTP server" if email.last_error == NO_SMTP_SERVER else email.last_error or ""
    if email.state == NotificationState.NOT_SENT:
        return error
    tries = ""
    if email.attempts == 1:
        tries = "tried once"
    elif email.attempts > 1:
        tries = "retried once" if email.attempts == 2 else f"retried {email.attempts - 1} times"
    if email.state == NotificationState.FAILED:
        return "; ".join(t for t in (error, tries) if t)
    if email.state == NotificationState.PENDING and error:
        return f"{tries}; last answer: {error}" if tries else f"queued again; last time: {error}"
    return tries


@router.get("/emails")
def emails(
    request: Request, db: DB, me: Me, state: str = "", before: int | None = None
) -> Response:
    if state and state not in {s for s, _l in STATES}:
        # A mistyped filter is not quietly every e-mail.
        names = ", ".join(s for s, _l in STATES)
        raise NotFound(f"The E-mail page has no tab {state[:40]!r}; its tabs are {names}.")
    chosen = NotificationState(state) if state else None
    page = list_emails(
        db,
        workspace_id=me.workspace_id,
        actor=me.actor,
        state=chosen,
        before_id=before,
        limit=PER_PAGE,
    )
    counts = count_emails(db, workspace_id=me.workspace_id, actor=me.actor)
    return render(
        request,
        "emails/list.html",
        {
            "section": "emails",
            "emails": page.items,
            "more": page.more,
            "state": chosen.value if chosen else "",
            "before": before,
            "states": STATES,
            "counts": counts,
            "total": sum(counts.values()),
            "smtp_configured": runtime_of(request).settings.smtp_url is not None,
            "kind_words": kind_words,
            "state_note": state_note,
        },
        me=me,
    )


@router.get("/emails/{email_id}")
def email(request: Request, db: DB, me: Me, email_id: int) -> Response:
    message = get_email(db, workspace_id=me.workspace_id, notification_id=email_id, actor=me.actor)
    smtp_configured = runtime_of(request).settings.smtp_url is not None
    text, _html = readable_bodies(message, smtp_configured=smtp_configured)
    return render(
        request,
        "emails/show.html",
        {
            "section": "emails",
            "email": message,
            "body": linked_text(text),
            "kind": kind_words(message.kind),
            "note": state_note(message),
            "retriable": message.state in RETRIABLE,
            "smtp_configured": smtp_configured,
        },
        me=me,
    )


@router.post("/emails/{email_id}/retry")
def email_retry(request: Request, db: DB, me: Me, email_id: int) -> Response:
    retry_email(db, workspace_id=me.workspace_id, notification_id=email_id, actor=me.actor)
    db.commit()
    if runtime_of(request).settings.smtp_url is None:
        message = (
            f"E-mail {email_id} queued again, but no SMTP server is configured "
            "(BASTION_SMTP_URL): it will be kept as not sent."
        )
        return redirect(request, f"/emails/{email_id}", message, "info")
    return redirect(
        request,
        f"/emails/{email_id}",
        f"E-mail {email_id} queued again; it goes out within a minute.",
    )
