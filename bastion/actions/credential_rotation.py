"""Rotating a saved password when the app's policy says it is due, and telling people when it is
overdue (states in ``bastion/credential_status.py``).

Bastion does not drive Meta's web pages, so it cannot change a Facebook password itself: a
rotation is Bastion generating a strong password (``start_rotation``, kept in the vault as the
pending one), the person setting it on Facebook by the steps the page shows, and confirming
(``confirm_rotation``), which makes it the saved password. Until then the old one stays saved.

``remind_overdue_rotations`` runs in the minute tick beside the token reminders: an overdue
rotation e-mails the person once, then, ``OWNERS_AFTER`` later, the app's owners once; the
stamps on the row go in the same transaction as the e-mail, and a confirmed rotation clears them.
"""

from __future__ import annotations

import secrets
import string
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from bastion.actions.account_steps import audit_event
from bastion.actions.actors import Actor
from bastion.actions.credentials import PENDING_PASSWORD_PURPOSE, credential_of, own_account
from bastion.actions.secrets import store_secret
from bastion.audit import AuditAction
from bastion.checks.reports import owner_emails
from bastion.credential_status import (
    OVERDUE_AFTER,
    OWNERS_AFTER,
    RotationState,
    due_date,
    rotation_state,
)
from bastion.email_templates import EmailBody, render_email
from bastion.errors import Conflict, NotFound
from bastion.notify import queue_email
from bastion.security.vault import KeyRing
from bastion.storage.models import Account, App, Credential, Secret, User, utcnow
from bastion.storage.models.enums import LoginMethod, UserStatus

GENERATED_LENGTH = 24
# No quotes, backslashes or spaces: the password is pasted into web forms.
_SYMBOLS = "!#$%&()*+,-./:;<=>?@[]^_{|}~"
_ALPHABET = string.ascii_letters + string.digits + _SYMBOLS
FACEBOOK_STEPS = (
    "On Facebook, open Settings & privacy → Password and security → Change password.",
    "Type your current password, then paste the new one Bastion made, twice.",
    "Save the change on Facebook, then come back and confirm it here.",
)


def generate_password(length: int = GENERATED_LENGTH) -> str:
    """A random password with a lower-case and an upper-case letter, a digit and a symbol."""
    while True:
        value = "".join(secrets.choice(_ALPHABET) for _ in range(length))
        if (
            any(c.islower() for c in value)
            and any(c.isupper() for c in value)
            and any(c.isdigit() for c in value)
            and any(c in _SYMBOLS for c in value)
        ):
            return value


def _credential(session: Session, actor: Actor, account_id: int) -> tuple[Credential, App]:
    account, app, user = own_account(session, actor, account_id, "Rotating a password")
    credential = credential_of(session, account.id)
    if credential is None or credential.user_id != user.id:
        raise NotFound("You have not saved a login for this account")
    return credential, app


def start_rotation(session: Session, ring: KeyRing, *, account_id: int, actor: Actor) -> Credential:
    """Generate the new password for a due rotation (a second start makes another one)."""
    credential, app = _credential(session, actor, account_id)
    if rotation_state(credential) in (RotationState.NOT_SCHEDULED, RotationState.SCHEDULED):
        raise Conflict("No rotation is due for this password")
    earlier = credential.pending_password_secret_id
    credential.pending_password_secret_id = store_secret(
        session,
        ring,
        workspace_id=credential.workspace_id,
        purpose=PENDING_PASSWORD_PURPOSE,
        value=generate_password(),
    ).id
    session.flush()
    if earlier is not None:
        session.delete(session.get_one(Secret, earlier))
    audit_event(
        session,
        app,
        actor,
        AuditAction.CREDENTIAL_ROTATION_STARTED,
        f"account:{account_id}",
        {"account": account_id, "again": earlier is not None},
    )
    return credential


def confirm_rotation(session: Session, *, account_id: int, actor: Actor) -> Credential:
    """The person set the new password on Facebook: it becomes the saved one."""
    credential, app = _credential(session, actor, account_id)
    pending = credential.pending_password_secret_id
    if pending is None:
        raise Conflict("No rotation is under way: start one first")
    old = credential.password_secret_id
    credential.password_secret_id = pending
    credential.pending_password_secret_id = None
    credential.password_set_at = utcnow()
    credential.rotation_due_at = due_date(credential, app)
    credential.overdue_notified_at = credential.owners_notified_at = None
    session.flush()
    session.delete(session.get_one(Secret, old))
    audit_event(
        session,
        app,
        actor,
        AuditAction.CREDENTIAL_ROTATED,
        f"account:{account_id}",
        {"account": account_id},
    )
    return credential


# --- overdue reminders ------------------------------------------------------------------------


def remind_overdue_rotations(session: Session, *, now: datetime, base_url: str) -> int:
    """Queue the e-mails overdue rotations are due for; return how many."""
    rows = session.execute(
        select(Credential, Account, App, User)
        .join(Account, Account.id == Credential.account_id)
        .join(App, App.id == Account.app_id)
        .join(User, User.id == Credential.user_id)
        .where(
            Credential.rotation_due_at.is_not(None),
            Credential.rotation_due_at <= now - OVERDUE_AFTER,
            Credential.owners_notified_at.is_(None),
            App.disconnected_at.is_(None),
            App.login_method == LoginMethod.PASSWORD,
        )
        .order_by(Credential.id)
        .with_for_update(of=Credential)
    ).all()
    queued = 0
    for credential, account, app, user in rows:
        link = f"{base_url.rstrip('/')}/me/accounts/{account.id}/credentials"
        if credential.overdue_notified_at is None:
            # Stamped even without an e-mail address, so the owners still hear of it.
            if user.status == UserStatus.ACTIVE and user.email:
                queued += _tell_person(session, app, account, user, link)
            credential.overdue_notified_at = now
        elif credential.overdue_notified_at <= now - OWNERS_AFTER:
            members = f"{base_url.rstrip('/')}/apps/{app.id}/members"
            queued += _tell_owners(session, app, account, user, credential, members)
            credential.owners_notified_at = now
    session.flush()
    return queued


def _send(
    session: Session, app: App, kind: str, to: list[str], subject: str, body: EmailBody
) -> int:
    notification = queue_email(
        session,
        workspace_id=app.workspace_id,
        kind=kind,
        recipients=to,
        subject=subject,
        text=body.text,
        html=body.html,
    )
    return 1 if notification is not None else 0


def _tell_person(session: Session, app: App, account: Account, user: User, link: str) -> int:
    seat = account.email or account.name
    return _send(
        session,
        app,
        f"credential-rotation:{account.id}",
        [user.email or ""],
        f"[Bastion] {app.label}: change your saved Facebook password",
        render_email("rotation_overdue", app=app.label, seat=seat, link=link),
    )


def _tell_owners(
    session: Session,
    app: App,
    account: Account,
    user: User,
    credential: Credential,
    link: str,
) -> int:
    who = user.display_name or user.email or f"person {user.id}"
    since = f"{credential.rotation_due_at:%Y-%m-%d}" if credential.rotation_due_at else "a while"
    return _send(
        session,
        app,
        f"credential-rotation-owners:{account.id}",
        owner_emails(session, app),
        f"[Bastion] {app.label}: a saved password is overdue for rotation",
        render_email(
            "rotation_overdue_owners",
            app=app.label,
            who=who,
            seat=account.email or account.name,
            since=since,
            link=link,
        ),
    )
