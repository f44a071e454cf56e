"""Small builders for rows the tests need, each going through the real actions."""

from __future__ import annotations

from sqlalchemy.orm import Session

from bastion.actions.actors import Actor
from bastion.actions.workspaces import create_workspace
from bastion.storage.models import Workspace


def make_workspace(session: Session, slug: str = "acme", name: str | None = None) -> Workspace:
    return create_workspace(
        session, name=name or slug.title(), slug=slug, actor=Actor.system("tests")
    )
