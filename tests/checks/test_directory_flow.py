"""Directory events reach checks: a SCIM deactivation brings the app's check forward."""

from __future__ import annotations

import httpx
from sqlalchemy import select

from bastion.actions.actors import Actor
from bastion.actions.tokens import create_token
from bastion.app import create_app
from bastion.concurrency import run_sync
from bastion.storage.models import App, User
from bastion.storage.models.enums import TokenKind, UserStatus
from tests.checks.conftest import World


def deactivate_over_scim(world: World, email: str) -> None:
    """What Okta sends when a person leaves: PATCH active=false on the SCIM user."""
    with world.runtime.sessions.begin() as session:
        token = create_token(
            session,
            workspace_id=world.workspace_id,
            kind=TokenKind.SCIM,
            name="Okta",
            actor=Actor.user(world.admin_id),
        ).token
        user_id = session.scalars(select(User.id).where(User.email_key == email.lower())).one()

    async def patch() -> httpx.Response:
        transport = httpx.ASGITransport(app=create_app(world.runtime))
        async with httpx.AsyncClient(transport=transport, base_url="http://bastion.test") as c:
            return await c.patch(
                f"/scim/v2/Users/{user_id}",
                headers={"Authorization": f"Bearer {token}"},
                json={
                    "schemas": ["urn:ietf:params:scim:api:messages:2.0:PatchOp"],
                    "Operations": [{"op": "replace", "value": {"active": False}}],
                },
            )

    response = run_sync(patch())
    assert response.status_code in (200, 204), response.text


def test_a_scim_deactivation_schedules_the_check_of_apps_holding_the_persons_seat(
    world: World,
) -> None:
    world.check()
    person = next(p for p in world.sim.dump()["people"] if p["role"] == "EMPLOYEE")
    deactivate_over_scim(world, person["email"])
    with world.runtime.sessions() as session:
        user = session.scalars(select(User).where(User.email_key == person["email"].lower())).one()
        app = session.get_one(App, world.app_id)
    assert user.status == UserStatus.DEPROVISIONED
    assert app.status.value == "requires_check"
    assert app.next_check_at is not None
