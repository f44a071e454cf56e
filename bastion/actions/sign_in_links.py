"""E-mailed sign-in links, for directory people of a workspace without an identity provider.

Anyone may ask for a link for an address; the answer is the same whether or not the address
belongs to someone, so the form tells nobody who is in the directory. A link is sent only to an
active directory person (not a guest: guests have passwords) of a workspace that has no single
sign-on, works once, for ``LINK_VALID_FOR``; only its hash is kept. Using one retires the
person's other links; asking for another does not, so nobody can keep someone's links from
working by asking for more. Requests are limited per
client address and per e-mail, and every link sent, used or refused is audited.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass, field
from datetime import timedelta

from limits import RateLimitItem, parse
from sqlalchemy import select, update
from sqlalchemy.orm import Session

from bastion.actions.sessions import TooManyAttempts, open_session
from bastion.actions.sso import DIRECTORY_SOURCES, sso_config
from bastion.actions.users import email_key, validate_email
from bastion.audit import AuditAction, record
from bastion.email_templates import render_email
from bastion.errors import BastionError
from bastion.notify import queue_email
from bastion.rate_limits import RateCounter
from bastion.security.tokens import hash_token
from bastion.security.web_sessions import NewWebSession
from bastion.storage.models import SignInLink, User, UserEmail, utcnow
from bastion.storage.models.enums import UserStatus

LINK_PATH = "/signin/email-link"
LINK_VALID_FOR = timedelta(minutes=15)


class LinkRefused(BastionError):
    """The link is unknown, used, expired, or its person may no longer sign in."""

    code = "sign_in_link_refused"


@dataclass
class LinkLimiter:
    """Link requests per client address and per e-mail (shared like the sign-in limits)."""

    per_address: RateLimitItem
    per_email: RateLimitItem
    counter: RateCounter = field(default_factory=RateCounter)

    @classmethod
    def default(cls, counter: RateCounter | None = None) -> LinkLimiter:
        return cls(parse("10/15 minutes"), parse("3/15 minutes"), counter or RateCounter())

    def allow(self, address: str, email: str) -> bool:
        if not self.counter.hit(self.per_address, "sign-in-link-address", address):
            return False
        return self.counter.hit(self.per_email, "sign-in-link-email", email)


def _person(session: Session, email: str) -> User | None:
    """The active directory person known by this address, in a workspace without SSO."""
    key = email_key(email)
    candidates = session.scalars(
        select(User)
        .where(
            User.id.in_(select(UserEmail.user_id).where(UserEmail.email_key == key))
            | (User.email_key == key),
            User.status == UserStatus.ACTIVE,
            User.removed_at.is_(None),
            User.source.in_(DIRECTORY_SOURCES),
        )
        .order_by(User.id)
    )
    for user in candidates:
        config = sso_config(session, user.workspace_id)
        if config is None or not config.enabled:
            return user
    return None


def request_sign_in_link(
    session: Session,
    limiter: LinkLimiter,
    *,
    email: str,
    ip: str | None,
    base_url: str,
    request_id: str | None = None,
) -> None:
    """E-mail a link if the address belongs to someone who may use one; say nothing either way.

    Raises ``InvalidInput`` for something that is not an e-mail address and ``TooManyAttempts``
    past the limits (both say nothing about the address's owner).
    """
    email = validate_email(email)
    if not limiter.allow(ip or "unknown", email_key(email)):
        raise TooManyAttempts("Too many sign-in links were asked for. Wait a few minutes.")
    user = _person(session, email)
    if user is None:
        return
    token = secrets.token_urlsafe(32)
    now = utcnow()
    link_row = SignInLink(
        workspace_id=user.workspace_id,
        user_id=user.id,
        token_hash=hash_token(token),
        created_at=now,
        expires_at=now + LINK_VALID_FOR,
    )
    session.add(link_row)
    session.flush()
    link = f"{base_url.rstrip('/')}{LINK_PATH}?token={token}"
    minutes = int(LINK_VALID_FOR.total_seconds() // 60)
    body = render_email("sign_in_link", link=link, minutes=minutes)
    queue_email(
        session,
        workspace_id=user.workspace_id,
        kind=f"sign-in-link:{link_row.id}",
        recipients=[user.email or email],
        subject="[Bastion] Your sign-in link",
        text=body.text,
        html=body.html,
    )
    record(
        session,
        workspace_id=user.workspace_id,
        actor="anonymous",
        action=AuditAction.SIGN_IN_LINK_SENT,
        target=f"user:{user.id}",
        details={"link_id": link_row.id, "ip": ip},
        request_id=request_id,
    )


def find_link(session: Session, token: str) -> SignInLink | None:
    """The link a token stands for, if it can still be used (the confirmation page)."""
    row = session.scalar(select(SignInLink).where(SignInLink.token_hash == hash_token(token)))
    if row is None or row.used_at is not None or row.expires_at <= utcnow():
        return None
    return row


def use_sign_in_link(
    session: Session,
    *,
    token: str,
    ip: str | None,
    user_agent: str | None,
    previous_token: str | None,
    request_id: str | None = None,
) -> tuple[User, NewWebSession]:
    """Open the person's session with their link, once. The caller commits either way."""
    row = (
        session.scalar(
            select(SignInLink).where(SignInLink.token_hash == hash_token(token)).with_for_update()
        )
        if token
        else None
    )
    if row is None:
        raise LinkRefused("This sign-in link is unknown. Ask for a new one on the sign-in page.")
    problem = None
    if row.used_at is not None:
        problem = "used", "This sign-in link was already used. Ask for a new one."
    elif row.expires_at <= utcnow():
        problem = "expired", "This sign-in link has expired. Ask for a new one."
    user = session.get_one(User, row.user_id)
    if problem is None and (user.status != UserStatus.ACTIVE or user.removed_at is not None):
        problem = "inactive_person", "This person is no longer active in the directory."
    if problem is None:
        config = sso_config(session, row.workspace_id)
        if config is not None and config.enabled:
            problem = "sso_required", "This workspace signs in with its identity provider now."
    if problem is not None:
        row.used_at = row.used_at or utcnow()
        record(
            session,
            workspace_id=row.workspace_id,
            actor="anonymous",
            action=AuditAction.SIGN_IN_LINK_REFUSED,
            target=f"user:{row.user_id}",
            details={"problem": problem[0], "ip": ip},
            request_id=request_id,
        )
        raise LinkRefused(problem[1])
    # Used once, even by two requests at the same moment (SQLite has no row locks).
    now = utcnow()
    claimed = session.execute(
        update(SignInLink)
        .where(SignInLink.id == row.id, SignInLink.used_at.is_(None))
        .values(used_at=now)
    )
    if getattr(claimed, "rowcount", 0) != 1:
        raise LinkRefused("This sign-in link was already used. Ask for a new one.")
    # Signing in retires the person's other links (asking for one never does, so nobody can
    # keep someone's links from working by asking for more).
    session.execute(
        update(SignInLink)
        .where(SignInLink.user_id == row.user_id, SignInLink.used_at.is_(None))
        .values(used_at=now)
    )
    new = open_session(
        session,
        user,
        method="link",
        ip=ip,
        user_agent=user_agent,
        previous_token=previous_token,
        request_id=request_id,
    )
    return user, new
