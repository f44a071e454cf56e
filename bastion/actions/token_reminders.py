"""E-mail an app's owners before its token lapses: 14 days before, then 3 days before, each once.

An expiry is known only for apps connected with their App secret (Meta tells a token's expiry
only to the app itself). ``App.token_expiry_reminded_days`` holds the last reminder queued for
the current expiry, in the same transaction as the e-mail, so however often the minute tick
runs no reminder goes twice; a new token (a new expiry) starts afresh.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy import select
from sqlalchemy.orm import Session

from bastion.checks.reports import owner_emails
from bastion.email_templates import render_email
from bastion.notify import queue_email
from bastion.storage.models import App
from bastion.webhook_events import emit_token_expiring

REMINDER_DAYS = (14, 3)


def due_reminder(left: timedelta) -> int | None:
    """The reminder a token with ``left`` to live is due for: the nearest threshold passed."""
    passed = [days for days in REMINDER_DAYS if left <= timedelta(days=days)]
    return min(passed) if passed else None


def remind_expiring_tokens(session: Session, *, now: datetime, base_url: str) -> int:
    """Queue the reminders that are due; return how many."""
    horizon = now + timedelta(days=max(REMINDER_DAYS))
    apps = session.scalars(
        select(App)
        .where(
            App.disconnected_at.is_(None),
            App.token_expires_at.is_not(None),
            App.token_expires_at > now,
            App.token_expires_at <= horizon,
        )
        .order_by(App.id)
        .with_for_update()
    ).all()
    queued = 0
    for app in apps:
        expires_at = app.token_expires_at
        due = due_reminder(expires_at - now) if expires_at else None
        reminded = app.token_expiry_reminded_days
        if expires_at is None or due is None or (reminded is not None and reminded <= due):
            continue
        # Recorded only once an e-mail is queued: an app with no owner yet is reminded as soon
        # as it has one.
        if _queue_reminder(session, app, expires_at, expires_at - now, base_url):
            app.token_expiry_reminded_days = due
            emit_token_expiring(session, app, expires_at=expires_at, days=due)
            queued += 1
    session.flush()
    return queued


def _queue_reminder(
    session: Session, app: App, expires_at: datetime, left: timedelta, base_url: str
) -> bool:
    """Queue the reminder to the app's owners; False when it has none to send to."""
    when = f"{expires_at:%Y-%m-%d %H:%M} UTC"
    within = f"in {left.days} days" if left.days >= 1 else "in less than a day"
    link = f"{base_url}/apps/{app.id}/settings"
    body = render_email("token_expiry", app=app.label, when=when, within=within, link=link)
    queued = queue_email(
        session,
        workspace_id=app.workspace_id,
        kind=f"token-expiry:{app.id}",
        recipients=owner_emails(session, app),
        subject=f"[Bastion] {app.label}: the access token expires {within}",
        text=body.text,
        html=body.html,
    )
    return queued is not None
