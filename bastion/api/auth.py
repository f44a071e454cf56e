"""Who is calling the API: a personal API token (``Authorization: Bearer bst_api_…``) or the
web pages' session cookie. FastAPI dependencies give each request one database session and
its ``Principal``; every action then checks the principal's role itself.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Annotated, Literal

import structlog
from fastapi import Depends, Request
from sqlalchemy.orm import Session

from bastion.actions.actors import Actor
from bastion.actions.tokens import mark_token_used, resolve_token
from bastion.errors import BastionError
from bastion.runtime import Runtime
from bastion.security.web_sessions import cookie_name, resolve_web_session
from bastion.storage.models import User
from bastion.storage.models.enums import TokenKind, UserStatus

COOKIE_NAMES = (cookie_name(True), cookie_name(False))


class NotAuthenticated(BastionError):
    code = "unauthenticated"


@dataclass(frozen=True)
class Principal:
    user: User
    workspace_id: int
    via: Literal["token", "session"]
    request_id: str | None = None

    @property
    def actor(self) -> Actor:
        return Actor.user(self.user.id, self.request_id)


def runtime_of(request: Request) -> Runtime:
    runtime: Runtime = request.app.state.runtime
    return runtime


def database(request: Request) -> Iterator[Session]:
    """One session per request; a handler that writes commits it, anything else rolls back."""
    with runtime_of(request).sessions() as session:
        yield session


DB = Annotated[Session, Depends(database)]


def _bearer(request: Request) -> str | None:
    header = request.headers.get("authorization", "")
    scheme, _, value = header.partition(" ")
    if scheme.lower() != "bearer" or not value.strip():
        return None
    return value.strip()


def _active(user: User | None) -> bool:
    return user is not None and user.status == UserStatus.ACTIVE and user.removed_at is None


def authenticate(request: Request, session: Session) -> Principal:
    request_id = structlog.contextvars.get_contextvars().get("request_id")
    token = _bearer(request)
    if token is not None:
        row = resolve_token(session, token, TokenKind.API)
        user = session.get(User, row.user_id) if row and row.user_id else None
        if row is None or user is None or not _active(user):
            raise NotAuthenticated("the API token is unknown, expired or revoked")
        mark_token_used(session, row)
        session.commit()
        return Principal(user, user.workspace_id, "token", request_id)
    for name in COOKIE_NAMES:
        found = resolve_web_session(session, request.cookies.get(name))
        if found is not None:
            session.commit()  # the session's last_seen_at
            _web_session, user = found
            return Principal(user, user.workspace_id, "session", request_id)
    raise NotAuthenticated("sign in, or send an API token as 'Authorization: Bearer …'")


def current_principal(request: Request, session: DB) -> Principal:
    return authenticate(request, session)


CurrentPrincipal = Annotated[Principal, Depends(current_principal)]
