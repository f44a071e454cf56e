"""API and SCIM tokens: create (shown once), revoke, and resolve a presented token."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from bastion.actions.actors import Actor
from bastion.audit import AuditAction, record
from bastion.errors import InvalidInput
from bastion.security.tokens import display_prefix, hash_token, new_token
from bastion.storage.models import ApiToken, utcnow
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


def resolve_token(session: Session, token: str, kind: TokenKind) -> ApiToken | None:
    """The live token row for a presented token, or None (unknown, revoked or expired)."""
    row = session.scalars(
        select(ApiToken).where(ApiToken.token_hash == hash_token(token), ApiToken.kind == kind)
    ).first()
    now = utcnow()
    if row is None or row.revoked_at is not None:
        return None
    if row.expires_at is not None and row.expires_at <= now:
        return None
    return row
