"""Sending the e-mail outbox (``bastion.notify``) over SMTP.

``send_due_notifications`` (a job) sends what is due and retries a failure with a growing delay.
A message the server refuses for good (a 5xx answer) fails at once; one that cannot be sent for
another reason is retried up to ``MAX_ATTEMPTS`` times, then fails. A failed message stays, with
the server's answer, and can be retried from the E-mail page. Without an SMTP server (the demo),
what is due is marked ``not_sent``: it stays readable on the E-mail page, and goes out only if
someone retries it once a server is configured.

An invitation's fate moves its member's onboarding (``bastion.onboarding``) in the same
transaction as the message's new state.

``BASTION_SMTP_URL``: ``smtp://user:password@host:25`` (plain), ``smtp+starttls://…:587``
(STARTTLS), ``smtps://…:465`` (TLS from the start).
"""

from __future__ import annotations

import smtplib
import ssl
from datetime import timedelta
from email.message import EmailMessage
from urllib.parse import unquote, urlsplit

from sqlalchemy import or_, select, update
from sqlalchemy.orm import Session, sessionmaker

from bastion.errors import ConfigurationError
from bastion.logs import get_logger, register_secret
from bastion.onboarding import invitation_delivered, invitation_refused
from bastion.settings import Settings
from bastion.storage.models import AppMember, Notification, User, utcnow
from bastion.storage.models.enums import NotificationState, UserStatus

log = get_logger(__name__)
MAX_ATTEMPTS = 12
SMTP_TIMEOUT_SECONDS = 20
NO_SMTP_SERVER = "not sent: no SMTP server is configured (BASTION_SMTP_URL)"
RECIPIENT_GONE = "not sent: the recipient is no longer active in the directory"


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


def refused_for_good(exc: Exception) -> bool:
    """A 5xx answer: the server will not take this message however often it is tried."""
    if isinstance(exc, smtplib.SMTPRecipientsRefused):
        return bool(exc.recipients) and all(code >= 500 for code, _text in exc.recipients.values())
    return isinstance(exc, smtplib.SMTPResponseException) and exc.smtp_code >= 500


def describe(exc: Exception) -> str:
    """The server's answer, without the message's content."""
    if isinstance(exc, smtplib.SMTPRecipientsRefused):
        answers = "; ".join(
            f"{recipient}: {code} {text.decode(errors='replace')}"
            for recipient, (code, text) in sorted(exc.recipients.items())
        )
        return f"recipients refused: {answers}"[:1000]
    if isinstance(exc, smtplib.SMTPResponseException):
        text = exc.smtp_error.decode(errors="replace") if isinstance(exc.smtp_error, bytes) else ""
        return f"{type(exc).__name__}: {exc.smtp_code} {text}"[:1000]
    return f"{type(exc).__name__}: {exc}"[:1000]


def _due(session: Session) -> list[int]:
    now = utcnow()
    return list(
        session.scalars(
            select(Notification.id)
            .where(
                Notification.state == NotificationState.PENDING,
                or_(Notification.next_attempt_at.is_(None), Notification.next_attempt_at <= now),
            )
            .order_by(Notification.id)
            .limit(200)
        )
    )


def send_due_notifications(sessions: sessionmaker[Session], settings: Settings) -> int:
    """Send every due e-mail; return how many went out."""
    if settings.smtp_url is None:
        _keep_unsent(sessions)
        return 0
    smtp = SmtpConfig(settings.smtp_url.get_secret_value())
    with sessions() as session:
        due_ids = _due(session)
    sent = 0
    for notification_id in due_ids:
        with sessions.begin() as session:
            notification = session.get_one(Notification, notification_id, with_for_update=True)
            if notification.state != NotificationState.PENDING:
                continue
            member = _member(session, notification)
            if member is not None and not _still_active(session, member):
                # Deprovisioned since it was queued (or retried): an invitation to nobody.
                notification.state = NotificationState.FAILED
                notification.last_error = RECIPIENT_GONE
                notification.next_attempt_at = None
                continue
            notification.attempts += 1
            try:
                smtp.send(build_message(notification, settings.smtp_from))
            except (OSError, smtplib.SMTPException) as exc:
                _failed(session, notification, exc)
                continue
            notification.state = NotificationState.SENT
            notification.sent_at = utcnow()
            notification.last_error = None
            member = _member(session, notification)
            if member is not None:
                invitation_delivered(session, member)
            sent += 1
    return sent


def _failed(session: Session, notification: Notification, exc: Exception) -> None:
    notification.last_error = describe(exc)
    final = refused_for_good(exc) or notification.attempts >= MAX_ATTEMPTS
    if final:
        notification.state = NotificationState.FAILED
        notification.next_attempt_at = None
        member = _member(session, notification)
        if member is not None:
            invitation_refused(session, member, notification.last_error)
    else:
        delay = min(60 * 2 ** (notification.attempts - 1), 3600)
        notification.next_attempt_at = utcnow() + timedelta(seconds=delay)
    log.warning(
        "e-mail failed" if final else "e-mail not sent; will retry",
        notification_id=notification.id,
        attempts=notification.attempts,
        error=type(exc).__name__,
    )


def _keep_unsent(sessions: sessionmaker[Session]) -> None:
    """No SMTP server: what is due stays readable on the E-mail page, marked as not sent."""
    with sessions.begin() as session:
        due_ids = _due(session)
        if due_ids:
            session.execute(
                update(Notification)
                .where(
                    Notification.id.in_(due_ids),
                    Notification.state == NotificationState.PENDING,
                )
                .values(state=NotificationState.NOT_SENT, last_error=NO_SMTP_SERVER)
            )
            log.info("e-mail kept unsent: no SMTP server", messages=len(due_ids))


def _still_active(session: Session, member: AppMember) -> bool:
    user = session.get(User, member.user_id)
    return user is not None and user.status == UserStatus.ACTIVE and user.removed_at is None


def _member(session: Session, notification: Notification) -> AppMember | None:
    if notification.app_member_id is None:
        return None
    return session.get(AppMember, notification.app_member_id)
