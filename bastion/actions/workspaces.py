"""Creating workspaces and the first admin of a fresh installation."""

from __future__ import annotations

import re
from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.orm import Session

from bastion.actions.actors import Actor
from bastion.actions.users import create_admin
from bastion.audit import AuditAction, record
from bastion.errors import Conflict, InvalidInput
from bastion.storage.models import User, Workspace

_SLUG = re.compile(r"^[a-z0-9][a-z0-9-]{0,62}$")


def create_workspace(session: Session, *, name: str, slug: str, actor: Actor) -> Workspace:
    name = name.strip()
    if not name:
        raise InvalidInput("name", "must not be empty")
    if not _SLUG.match(slug):
        raise InvalidInput("slug", "use lower-case letters, digits and dashes (at most 63)")
    if session.scalar(select(Workspace.id).where(Workspace.slug == slug)) is not None:
        raise Conflict(f"a workspace with slug {slug!r} exists already")
    workspace = Workspace(name=name, slug=slug)
    session.add(workspace)
    session.flush()
    record(
        session,
        workspace_id=workspace.id,
        actor=actor.label,
        action=AuditAction.WORKSPACE_CREATED,
        target=f"workspace:{workspace.id}",
        details={"name": name, "slug": slug},
        request_id=actor.request_id,
    )
    return workspace


@dataclass(frozen=True)
class Bootstrap:
    workspace: Workspace
    admin: User
    # Set only when the admin was created now: shown once, never stored in clear.
    one_time_password: str | None


def bootstrap_installation(
    session: Session, *, admin_email: str, workspace_name: str = "My company"
) -> Bootstrap:
    """Make sure a workspace and an admin exist; create them on the first start."""
    actor = Actor.system("bootstrap")
    workspace = session.scalars(select(Workspace).order_by(Workspace.id).limit(1)).first()
    if workspace is None:
        workspace = create_workspace(session, name=workspace_name, slug="default", actor=actor)
    admin = session.scalars(
        select(User)
        .where(User.workspace_id == workspace.id, User.role == "admin")
        .order_by(User.id)
        .limit(1)
    ).first()
    if admin is not None:
        return Bootstrap(workspace, admin, None)
    admin, password = create_admin(
        session, workspace_id=workspace.id, email=admin_email, name="Administrator", actor=actor
    )
    return Bootstrap(workspace, admin, password)
