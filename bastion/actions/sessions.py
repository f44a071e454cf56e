"""Signing in and out of the web pages: password check, rate limits, audit, session rotation.

Every attempt is audited (``user.signed_in`` / ``user.sign_in_failed``) and counted: attempts per
client address and failures per e-mail are limited, so guessing a password is slow whoever the
attacker targets. A refused attempt says the same thing whether the e-mail exists or not.
Passwords are checked even for unknown e-mails (against a dummy hash), so the answer takes as long
either way and does not reveal who has an account.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from limits import RateLimitItem, parse
from sqlalchemy import select
from sqlalchemy.orm import Session

from bastion.actions.actors import Actor
from bastion.actions.users import email_key
from bastion.audit import AuditAction, record
from bastion.errors import BastionError, InvalidInput
from bastion.onboarding import signed_in
from bastion.rate_limits import RateCounter
from bastion.security.passwords import (
    MIN_PASSWORD_LENGTH,
    hash_password,
    needs_rehash,
    verify_password,
)
from bastion.security.web_sessions import (
    NewWebSession,
    create_web_session,
    end_user_sessions,
    end_web_session,
    resolve_web_session,
)
from bastion.storage.models import User, WebSession
from bastion.storage.models.enums import UserStatus

# A hash of a random password: unknown e-mails are verified against it so they cost the same time.
_DUMMY_HASH = hash_password("not-a-real-password-but-it-takes-as-long")


class SignInRefused(BastionError):
    """Wrong e-mail or password (deliberately not saying which)."""

    code = "sign_in_refused"


class TooManyAttempts(BastionError):
    code = "rate_limited"


@dataclass
class SignInLimiter:
    """Attempts per client address and failures per e-mail.

    The counts are shared by every process when the job queue is Redis, otherwise kept in each
    process's memory (see ``bastion.rate_limits``).
    """

    per_address: RateLimitItem
    per_email: RateLimitItem
    counter: RateCounter = field(default_factory=RateCounter)

    @classmethod
    def default(cls, counter: RateCounter | None = None) -> SignInLimiter:
        return cls(parse("20/minute"), parse("5/15 minutes"), counter or RateCounter())

    def allow_attempt(self, address: str, email: str) -> bool:
        if not self.counter.test(self.per_email, "sign-in-email", email):
            return False
        return self.counter.hit(self.per_address, "sign-in-address", address)

    def count_failure(self, email: str) -> None:
        self.counter.hit(self.per_email, "sign-in-email", email)


def _find_user(session: Session, email: str) -> User | None:
    """A sign-in name is unique per workspace; the first active match across workspaces wins."""
    return session.scalars(
        select(User)
        .where(
            User.user_name_key == email_key(email),
            User.password_hash.is_not(None),
            User.removed_at.is_(None),
        )
        .order_by(User.id)
        .limit(1)
    ).first()


def sign_in(
    session: Session,
    limiter: SignInLimiter,
    *,
    email: str,
    password: str,
    ip: str | None,
    user_agent: str | None,
    previous_token: str | None = None,
    request_id: str | None = None,
) -> tuple[User, NewWebSession]:
    """Check the password and open a fresh session (ending the one the browser came with)."""
    email = email.strip()
    if not email or not password:
        raise InvalidInput("email" if not email else "password", "is required")
    key = email_key(email)
    if not limiter.allow_attempt(ip or "unknown", key):
        raise TooManyAttempts("Too many sign-in attempts. Wait a few minutes and try again.")
    user = _find_user(session, email)
    valid = verify_password(
        user.password_hash if user and user.password_hash else _DUMMY_HASH, password
    )
    if user is None or not valid or user.status != UserStatus.ACTIVE:
        limiter.count_failure(key)
        if user is not None:
            record(
                session,
                workspace_id=user.workspace_id,
                actor=f"user:{user.id}",
                action=AuditAction.USER_SIGN_IN_FAILED,
                target=f"user:{user.id}",
                details={"ip": ip, "email": user.email},
                request_id=request_id,
            )
        raise SignInRefused("That e-mail and password do not match an active account.")
    assert user.password_hash is not None
    if needs_rehash(user.password_hash):
        user.password_hash = hash_password(password)
    new = open_session(
        session,
        user,
        method="password",
        ip=ip,
        user_agent=user_agent,
        previous_token=previous_token,
        request_id=request_id,
    )
    return user, new


def open_session(
    session: Session,
    user: User,
    *,
    method: str,
    ip: str | None,
    user_agent: str | None,
    previous_token: str | None,
    request_id: str | None,
) -> NewWebSession:
    """A person proved who they are (``method``): end the browser's old session, open a new one,
    audit it, and let their onboarding know (bastion/onboarding.py)."""
    # Rotation: whatever session the browser held ends; the new one gets a new token.
    end_web_session(session, previous_token)
    new = create_web_session(session, user=user, ip=ip, user_agent=user_agent)
    signed_in(session, user, request_id=request_id)
    record(
        session,
        workspace_id=user.workspace_id,
        actor=f"user:{user.id}",
        action=AuditAction.USER_SIGNED_IN,
        target=f"user:{user.id}",
        details={"ip": ip, "method": method},
        request_id=request_id,
    )
    return new


def sign_out(session: Session, *, token: str | None, request_id: str | None = None) -> None:
    """End the session on the server: the cookie is worthless even if it was copied."""
    found = resolve_web_session(session, token)
    end_web_session(session, token)
    if found is not None:
        _row, user = found
        record(
            session,
            workspace_id=user.workspace_id,
            actor=f"user:{user.id}",
            action=AuditAction.USER_SIGNED_OUT,
            target=f"user:{user.id}",
            request_id=request_id,
        )


def change_password(
    session: Session,
    *,
    user: User,
    current: str,
    new: str,
    keep: WebSession,
    actor: Actor,
) -> None:
    """Set a new password; every other session of the person ends."""
    if not user.password_hash or not verify_password(user.password_hash, current):
        raise InvalidInput("current_password", "is not your current password")
    if len(new) < MIN_PASSWORD_LENGTH:
        raise InvalidInput("new_password", f"must be at least {MIN_PASSWORD_LENGTH} characters")
    if new == current:
        raise InvalidInput("new_password", "must differ from the current one")
    user.password_hash = hash_password(new)
    user.must_change_password = False
    end_user_sessions(session, user.id)
    keep.ended_at = None
    record(
        session,
        workspace_id=user.workspace_id,
        actor=actor.label,
        action=AuditAction.USER_PASSWORD_CHANGED,
        target=f"user:{user.id}",
        request_id=actor.request_id,
    )
