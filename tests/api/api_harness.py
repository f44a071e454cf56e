"""The whole app served on a loopback port, with an API token per role."""

from __future__ import annotations

from dataclasses import dataclass

import httpx

from bastion.actions.actors import Actor
from bastion.actions.tokens import create_token
from bastion.storage.models.enums import TokenKind
from tests.checks.conftest import World
from tests.members.member_world import Cast


@dataclass
class Api:
    client: httpx.Client
    tokens: dict[str, str]

    def as_(self, role: str) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.tokens[role]}"}


def role_tokens(world: World, cast: Cast) -> dict[str, str]:
    tokens = {}
    with world.runtime.sessions.begin() as session:
        for role in ("admin", "owner", "collaborator", "member", "guest"):
            tokens[role] = create_token(
                session,
                workspace_id=world.workspace_id,
                kind=TokenKind.API,
                name=f"{role} script",
                actor=Actor.system("tests"),
                user_id=getattr(cast, role),
            ).token
    return tokens
