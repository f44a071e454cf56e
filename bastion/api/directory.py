"""The corporate directory, read-only (for the match dialog and scripts).

    GET /api/v1/me                            the caller
    GET /api/v1/directory/users               people (search, cursor)
    GET /api/v1/directory/users/{user_id}     one person
    GET /api/v1/directory/teams               teams with their member ids

Workspace admins and app owners may read the directory; others see only themselves (``/me``).
"""

from __future__ import annotations

from fastapi import APIRouter, Query
from pydantic import BaseModel
from sqlalchemy import func, or_
from sqlalchemy.orm import Session

from bastion.actions.permissions import READ_DIRECTORY, require
from bastion.api.auth import DB, CurrentPrincipal, Principal
from bastion.api.common import Cursor, PathId, decode_cursor, encode_cursor, like_pattern
from bastion.api.errors import READ_ERRORS
from bastion.storage.models import Team, TeamMember, User
from bastion.storage.models.enums import UserStatus
from bastion.storage.tenancy import Tenant

router = APIRouter(tags=["directory"])


class UserOut(BaseModel):
    id: int
    user_name: str
    email: str | None
    emails: list[str]
    display_name: str
    source: str
    status: str
    role: str


class UserPage(BaseModel):
    items: list[UserOut]
    next_cursor: str | None


class TeamOut(BaseModel):
    id: int
    display_name: str
    member_ids: list[int]


def _user_out(u: User) -> UserOut:
    return UserOut(
        id=u.id,
        user_name=u.user_name,
        email=u.email,
        emails=[e.email for e in u.emails],
        display_name=u.display_name,
        source=u.source.value,
        status=u.status.value,
        role=u.role.value,
    )


def _may_read_directory(session: Session, principal: Principal) -> None:
    require(session, actor=principal.actor, app=None, action=READ_DIRECTORY)


@router.get("/me", responses=READ_ERRORS)
def me(principal: CurrentPrincipal) -> UserOut:
    return _user_out(principal.user)


@router.get("/directory/users", responses=READ_ERRORS)
def users(
    session: DB,
    principal: CurrentPrincipal,
    q: str | None = Query(None, max_length=200, description="Text in the name or e-mail"),
    status: UserStatus | None = None,
    cursor: Cursor = None,
    limit: int = Query(50, ge=1, le=500),
) -> UserPage:
    _may_read_directory(session, principal)
    query = Tenant(session, principal.workspace_id).select(User, User.removed_at.is_(None))
    if status is not None:
        query = query.where(User.status == status)
    if q and q.strip():
        pattern = like_pattern(q)
        query = query.where(
            or_(
                func.lower(User.display_name).like(pattern, escape="\\"),
                User.email_key.like(pattern, escape="\\"),
            )
        )
    if cursor:
        (after,) = decode_cursor(cursor, 1)
        query = query.where(User.id > (after if isinstance(after, int) else 0))
    rows = list(session.scalars(query.order_by(User.id).limit(limit + 1)))
    more = len(rows) > limit
    rows = rows[:limit]
    return UserPage(
        items=[_user_out(u) for u in rows],
        next_cursor=encode_cursor([rows[-1].id]) if more and rows else None,
    )


@router.get("/directory/users/{user_id}", responses=READ_ERRORS)
def get_user(user_id: PathId, session: DB, principal: CurrentPrincipal) -> UserOut:
    if user_id != principal.user.id:
        _may_read_directory(session, principal)
    return _user_out(Tenant(session, principal.workspace_id).get(User, user_id))


@router.get("/directory/teams", responses=READ_ERRORS)
def teams(session: DB, principal: CurrentPrincipal) -> list[TeamOut]:
    _may_read_directory(session, principal)
    tenant = Tenant(session, principal.workspace_id)
    members: dict[int, list[int]] = {}
    for row in tenant.all(TeamMember):
        members.setdefault(row.team_id, []).append(row.user_id)
    return [
        TeamOut(id=t.id, display_name=t.display_name, member_ids=sorted(members.get(t.id, [])))
        for t in sorted(tenant.all(Team), key=lambda t: (t.display_name_key, t.id))
    ]
