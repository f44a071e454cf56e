"""API and SCIM tokens: create (shown once), revoke, and resolve a presented token."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import bindparam, select, update
from sqlalchemy.orm import Session

from bastion.actions.actors import Actor
from bastion.audit import AuditAction, record
from bastion.errors import InvalidInput
from bastion.security.tokens import display_prefix, hash_token, new_token
from bastion.storage.models import ApiToken, table_of, utcnow
from bastion.storage.models.enums import TokenKind
from bastion.storage.tenancy import Tenant


@dataclass(frozen=True)
class NewToken:
    row: ApiToken
    # The only time the token exists in clear; show it once.
    token: str


def create_token(
    session: Session,
    *,
    workspace_id: int,
    kind: TokenKind,
    name: str,
    actor: Actor,
    user_id: int | None = None,
    expires_at: datetime | None = None,
) -> NewToken:
    name = name.strip()
    if not name:
        raise InvalidInput("name", "must not be empty")
    if expires_at is not None and expires_at <= utcnow():
        raise InvalidInput("expires_at", "must be in the future")
    token = new_token(kind.value)
    row = Tenant(session, workspace_id).add(
        ApiToken(
            kind=kind,
            name=name,
            token_hash=hash_token(token),
            prefix=display_prefix(token),
            user_id=user_id,
            created_by_id=actor.user_id,
            expires_at=expires_at,
        )
    )
    session.flush()
    record(
        session,
        workspace_id=workspace_id,
        actor=actor.label,
        action=AuditAction.TOKEN_CREATED,
        target=f"token:{row.id}",
        details={
            "kind": kind.value,
            "name": name,
            "prefix": row.prefix,
            "expires_at": expires_at.isoformat() if expires_at else None,
        },
        request_id=actor.request_id,
    )
    return NewToken(row, token)


def revoke_token(session: Session, *, workspace_id: int, token_id: int, actor: Actor) -> ApiToken:
    row = Tenant(session, workspace_id).get(ApiToken, token_id)
    if row.revoked_at is None:
        row.revoked_at = utcnow()
        record(
            session,
            workspace_id=workspace_id,
            actor=actor.label,
            action=AuditAction.TOKEN_REVOKED,
            target=f"token:{row.id}",
            details={"kind": row.kind.value, "name": row.name, "prefix": row.prefix},
            request_id=actor.request_id,
        )
    return row


@dataclass(frozen=True)
class PresentedToken:
    """What a request needs to know about the live token it presented."""

    id: int
    workspace_id: int
    user_id: int | None
    last_used_at: datetime | None


# Built once: every API and SCIM request runs these.
_tokens = table_of(ApiToken)
_LOOKUP = select(
    _tokens.c.id,
    _tokens.c.workspace_id,
    _tokens.c.user_id,
    _tokens.c.last_used_at,
    _tokens.c.expires_at,
    _tokens.c.revoked_at,
).where(_tokens.c.token_hash == bindparam("token_hash"), _tokens.c.kind == bindparam("kind"))
_TOUCH = (
    update(_tokens)
    .where(_tokens.c.id == bindparam("token_id"))
    .values(last_used_at=bindparam("now"))
)
# How stale ``last_used_at`` may get: a busy SCIM sync does not rewrite the row on every request.
USE_RECORDED_EVERY = timedelta(minutes=1)


def resolve_token(session: Session, token: str, kind: TokenKind) -> PresentedToken | None:
    """The live token for a presented token, or None (unknown, revoked or expired)."""
    row = (
        session.connection()
        .execute(_LOOKUP, {"token_hash": hash_token(token), "kind": kind})
        .one_or_none()
    )
    if row is None or row.revoked_at is not None:
        return None
    if row.expires_at is not None and row.expires_at <= utcnow():
        return None
    return PresentedToken(row.id, row.workspace_id, row.user_id, row.last_used_at)


def mark_token_used(session: Session, token: PresentedToken) -> None:
    """Record when the token was last used, at most once a minute."""
    now = utcnow()
    if token.last_used_at is None or now - token.last_used_at > USE_RECORDED_EVERY:
        session.connection().execute(_TOUCH, {"token_id": token.id, "now": now})
