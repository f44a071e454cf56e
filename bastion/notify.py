"""E-mail: queued as Notification rows inside the caller's transaction, sent after the commit.

``queue_email`` only writes a row, so an e-mail exists exactly when the change that caused it was
committed. ``send_due_notifications`` (a job) sends what is due over SMTP and retries failures
with a growing delay; a message is never dropped, only marked failed after many attempts.

``BASTION_SMTP_URL``: ``smtp://user:password@host:25`` (plain), ``smtp+starttls://…:587``
(STARTTLS), ``smtps://…:465`` (TLS from the start).
"""

from __future__ import annotations

import smtplib
import ssl
from datetime import timedelta
from email.message import EmailMessage
from urllib.parse import unquote, urlsplit

from sqlalchemy import or_, select
from sqlalchemy.orm import Session, sessionmaker

from bastion.errors import ConfigurationError
from bastion.logs import get_logger, register_secret
from bastion.settings import Settings
from bastion.storage.models import Notification, utcnow
from bastion.storage.models.enums import NotificationState

log = get_logger(__name__)
MAX_ATTEMPTS = 12
SMTP_TIMEOUT_SECONDS = 20


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


class SmtpConfig:
    def __init__(self, url: str) -> None:
        parts = urlsplit(url)
        if parts.scheme not in ("smtp", "smtp+starttls", "smtps") or not parts.hostname:
            raise ConfigurationError(
                "BASTION_SMTP_URL: use smtp://, smtp+starttls:// or smtps://host[:port]"
            )
        self.scheme = parts.scheme
        self.host = parts.hostname
        self.port = parts.port or {"smtp": 25, "smtp+starttls": 587, "smtps": 465}[parts.scheme]
        self.username = unquote(parts.username) if parts.username else None
        self.password = unquote(parts.password) if parts.password else None
        register_secret(self.password)

    def __repr__(self) -> str:
        return f"SmtpConfig({self.scheme}://{self.host}:{self.port})"

    def send(self, message: EmailMessage) -> None:
        context = ssl.create_default_context()
        client: smtplib.SMTP
        if self.scheme == "smtps":
            client = smtplib.SMTP_SSL(
                self.host, self.port, timeout=SMTP_TIMEOUT_SECONDS, context=context
            )
        else:
            client = smtplib.SMTP(self.host, self.port, timeout=SMTP_TIMEOUT_SECONDS)
        with client:
            if self.scheme == "smtp+starttls":
                client.starttls(context=context)
            if self.username:
                client.login(self.username, self.password or "")
            client.send_message(message)


def build_message(notification: Notification, sender: str) -> EmailMessage:
    message = EmailMessage()
    message["From"] = sender
    message["To"] = ", ".join(notification.recipients)
    message["Subject"] = notification.subject
    message["Message-ID"] = f"<bastion-notification-{notification.id}@{sender.split('@')[-1]}>"
    message.set_content(notification.body_text)
    message.add_alternative(notification.body_html, subtype="html")
    return message


def send_due_notifications(sessions: sessionmaker[Session], settings: Settings) -> int:
    """Send every due e-mail; return how many went out."""
    if settings.smtp_url is None:
        return 0
    smtp = SmtpConfig(settings.smtp_url.get_secret_value())
    now = utcnow()
    with sessions() as session:
        due_ids = list(
            session.scalars(
                select(Notification.id)
                .where(
                    Notification.state == NotificationState.PENDING,
                    or_(
                        Notification.next_attempt_at.is_(None), Notification.next_attempt_at <= now
                    ),
                )
                .order_by(Notification.id)
                .limit(200)
            )
        )
    sent = 0
    for notification_id in due_ids:
        with sessions.begin() as session:
            notification = session.get_one(Notification, notification_id, with_for_update=True)
            if notification.state != NotificationState.PENDING:
                continue
            notification.attempts += 1
            try:
                smtp.send(build_message(notification, settings.smtp_from))
            except (OSError, smtplib.SMTPException) as exc:
                notification.last_error = f"{type(exc).__name__}: {exc}"[:1000]
                if notification.attempts >= MAX_ATTEMPTS:
                    notification.state = NotificationState.FAILED
                delay = min(60 * 2 ** (notification.attempts - 1), 3600)
                notification.next_attempt_at = utcnow() + timedelta(seconds=delay)
                log.warning(
                    "e-mail not sent; will retry",
                    notification_id=notification.id,
                    attempts=notification.attempts,
                    error=type(exc).__name__,
                )
                continue
            notification.state = NotificationState.SENT
            notification.sent_at = utcnow()
            notification.last_error = None
            sent += 1
    return sent
