"""Local people: admins created from the command line, password resets."""

from __future__ import annotations

import re

from sqlalchemy.orm import Session

from bastion.actions.actors import Actor
from bastion.audit import AuditAction, record
from bastion.errors import Conflict, InvalidInput
from bastion.security.passwords import generate_password, hash_password
from bastion.storage.models import User, UserEmail, utcnow
from bastion.storage.models.enums import UserSource, UserStatus, WorkspaceRole
from bastion.storage.tenancy import Tenant

# Deliberately loose: the directory is the authority on addresses; this only catches typos.
_EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")


def email_key(email: str) -> str:
    """The form e-mails are compared in: trimmed and lower-cased."""
    return email.strip().lower()


def validate_email(email: str, field: str = "email") -> str:
    email = email.strip()
    if not _EMAIL.match(email):
        raise InvalidInput(field, "is not an e-mail address")
    return email


def create_admin(
    session: Session, *, workspace_id: int, email: str, name: str, actor: Actor
) -> tuple[User, str]:
    """Create a local workspace admin with a one-time password they must change."""
    email = validate_email(email)
    tenant = Tenant(session, workspace_id)
    if tenant.find(User, User.user_name_key == email_key(email)) is not None:
        raise Conflict(f"a user with e-mail {email} exists already")
    password = generate_password()
    user = tenant.add(
        User(
            user_name=email,
            user_name_key=email_key(email),
            email=email,
            email_key=email_key(email),
            display_name=name.strip() or email,
            source=UserSource.LOCAL,
            status=UserStatus.ACTIVE,
            status_changed_at=utcnow(),
            role=WorkspaceRole.ADMIN,
            password_hash=hash_password(password),
            must_change_password=True,
        )
    )
    user.emails.append(
        UserEmail(
            workspace_id=workspace_id,
            email=email,
            email_key=email_key(email),
            type="work",
            primary=True,
        )
    )
    session.flush()
    record(
        session,
        workspace_id=workspace_id,
        actor=actor.label,
        action=AuditAction.USER_CREATED,
        target=f"user:{user.id}",
        details={"email": email, "role": WorkspaceRole.ADMIN.value, "source": "local"},
        request_id=actor.request_id,
    )
    return user, password


def reset_password(session: Session, *, workspace_id: int, user_id: int, actor: Actor) -> str:
    """Give a local user a new one-time password (returned once, stored hashed)."""
    user = Tenant(session, workspace_id).get(User, user_id)
    password = generate_password()
    user.password_hash = hash_password(password)
    user.must_change_password = True
    record(
        session,
        workspace_id=workspace_id,
        actor=actor.label,
        action=AuditAction.USER_PASSWORD_RESET,
        target=f"user:{user.id}",
        request_id=actor.request_id,
    )
    return password
