"""What the single sign-on tests share: Bastion on loopback with a real OpenID Provider beside
it, its redirect URI naming the served port, and the workspace's identity provider set."""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import httpx
import pytest
from sqlalchemy import select

from bastion.actions.actors import Actor
from bastion.actions.sso import configure_sso
from bastion.app import create_app
from bastion.jobs import Jobs
from bastion.security import oidc
from bastion.storage.models import User
from bastion.storage.models.enums import UserSource, UserStatus
from tests.checks.conftest import World, mailbox, world  # noqa: F401 - fixtures used here
from tests.conftest import serve_on_loopback
from tests.support.oidc_provider import LoopbackOpenIDProvider, complete_dev_login

SECRET = "bastion-test-secret"


@dataclass
class Site:
    world: World
    base_url: str
    op: LoopbackOpenIDProvider
    people: dict[str, User]

    def browser(self) -> httpx.Client:
        return httpx.Client(base_url=self.base_url, follow_redirects=False, timeout=30)

    def configure(self, **changes: Any) -> None:
        values: dict[str, Any] = {
            "display_name": "Okta",
            "issuer": self.op.issuer,
            "client_id": self.op.client_id,
            "client_secret": SECRET,
            "allowed_domains": [],
        } | changes
        with self.world.runtime.sessions.begin() as session:
            configure_sso(
                session,
                self.world.runtime.require_key_ring(),
                workspace_id=self.world.workspace_id,
                actor=Actor.user(self.world.admin_id),
                **values,
            )

    def start(self, browser: httpx.Client, next_path: str = "") -> str:
        answer = browser.get("/signin/sso/northwind" + (f"?next={next_path}" if next_path else ""))
        assert answer.status_code == 303, answer.text
        return answer.headers["location"]

    def sign_in(self, browser: httpx.Client, login: str) -> httpx.Response:
        callback = complete_dev_login(browser, self.start(browser), login)
        return browser.get(callback)


def _directory_people(of: World) -> dict[str, User]:
    with of.runtime.sessions() as session:
        users = list(
            session.scalars(
                select(User)
                .where(User.source != UserSource.LOCAL, User.email.is_not(None))
                .order_by(User.id)
            )
        )
    active = [u for u in users if u.status == UserStatus.ACTIVE and u.external_id]
    gone = [u for u in users if u.status == UserStatus.DEPROVISIONED]
    assert len(active) >= 3 and gone, "the scenario's directory has active and departed people"
    return {"okta": active[0], "entra": active[1], "other": active[2], "gone": gone[0]}


@pytest.fixture
def site(world: World, start_openid_provider: Any) -> Iterator[Site]:  # noqa: F811 - the fixture
    people = _directory_people(world)
    jobs = Jobs(world.runtime, immediate=True)
    app = create_app(world.runtime, jobs=jobs)
    with serve_on_loopback(app) as base_url:
        # The redirect URI names this server's port, known only now.
        runtime = dataclasses.replace(
            world.runtime,
            settings=world.runtime.settings.model_copy(update={"public_url": base_url}),
        )
        app.state.runtime = runtime
        op = start_openid_provider(
            redirect_uris=[f"{base_url}/signin/sso/callback"],
            client_secret=SECRET,
            accounts={
                # Okta's shape: sub is the Okta user id, e-mail claims with scope email.
                "okta": {
                    "sub": "00u-okta-1",
                    "email": people["okta"].email,
                    "email_verified": True,
                    "name": people["okta"].display_name,
                    "preferred_username": people["okta"].email,
                },
                # Entra's shape: a pairwise sub, the object id, no e-mail claim.
                "entra": {
                    "sub": "pairwise-entra-2",
                    "oid": people["entra"].external_id,
                    "tid": "9f0c1d2e-0000-4000-8000-000000000001",
                    "name": people["entra"].display_name,
                },
                "gone": {"sub": "00u-gone", "email": people["gone"].email, "email_verified": True},
                "stranger": {
                    "sub": "00u-stranger",
                    "email": "stranger@elsewhere.test",
                    "email_verified": True,
                },
            },
        )
        site = Site(dataclasses.replace(world, runtime=runtime), base_url, op, people)
        site.configure()
        yield site
    jobs.close()
    oidc.forget_cached()
