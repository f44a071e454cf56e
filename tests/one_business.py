"""The simulator serves one business, which the checks' world connects as its app. Bastion
connects a business once, so a test connecting it again disconnects the world's app first."""

from __future__ import annotations

from bastion.actions.actors import Actor
from bastion.actions.apps import disconnect_app
from bastion.storage.models import App
from tests.checks.conftest import World


def free_the_business(world: World) -> None:
    with world.runtime.sessions.begin() as session:
        if session.get_one(App, world.app_id).disconnected_at is None:
            disconnect_app(
                session,
                workspace_id=world.workspace_id,
                app_id=world.app_id,
                actor=Actor.system("tests"),
            )
