"""Connecting an app over the API: the App secret goes in, never comes out; what the
connection check found is part of the app's representation.

The App-secret paths depend on the simulator accepting ``{app_id}|{app_secret}`` as the caller
of ``debug_token`` (as Meta does).
"""

from __future__ import annotations

import time
from collections.abc import Iterator

import httpx
import pytest

from bastion.actions.actors import Actor
from bastion.actions.tokens import create_token
from bastion.app import create_app
from bastion.storage.models.enums import TokenKind
from tests.checks.conftest import World
from tests.conftest import serve_on_loopback
from tests.one_business import free_the_business


@pytest.fixture
def api(world: World) -> Iterator[httpx.Client]:
    with world.runtime.sessions.begin() as session:
        token = create_token(
            session,
            workspace_id=world.workspace_id,
            kind=TokenKind.API,
            name="admin script",
            actor=Actor.system("tests"),
            user_id=world.admin_id,
        ).token
    with (
        serve_on_loopback(create_app(world.runtime)) as url,
        httpx.Client(
            base_url=url, timeout=60, headers={"Authorization": f"Bearer {token}"}
        ) as client,
    ):
        yield client


def body(world: World, **fields: object) -> dict[str, object]:
    """A connection of the world's business, whose app steps aside (one app per business)."""
    free_the_business(world)
    return {
        "label": "Second",
        "token": world.sim.token,
        "business_id": world.sim.business_id,
        "app_id": world.sim.app_id,
        "login_method": "sso",
        **fields,
    }


def test_connecting_with_the_app_secret_returns_the_expiry_but_never_the_secret(
    api: httpx.Client, world: World
) -> None:
    token = world.sim.make_token(expires_at=int(time.time()) + 20 * 86_400)
    secret = world.sim.app_secret or ""
    response = api.post("/api/v1/apps", json=body(world, token=token, app_secret=secret))
    assert response.status_code == 201, response.text
    app = response.json()
    assert app["app_secret_set"] is True and app["token_expiry_known"] is True
    assert app["token_expires_at"] is not None
    assert app["business_verification_status"] == "verified"
    assert any("expires" in w for w in app["connection_warnings"])
    shown = api.get(f"/api/v1/apps/{app['id']}")
    listed = api.get("/api/v1/apps")
    for text in (response.text, shown.text, listed.text):
        for hidden in (secret, token, f"{world.sim.app_id}|{secret}"):
            assert hidden not in text


def test_without_the_app_secret_the_expiry_is_not_known(api: httpx.Client, world: World) -> None:
    app = api.get(f"/api/v1/apps/{world.app_id}").json()
    assert app["app_secret_set"] is False and app["token_expiry_known"] is False
    assert app["token_expires_at"] is None
    assert app["business_verification_status"] == "verified"


def test_a_bad_token_is_refused_with_one_check_and_one_sentence(
    api: httpx.Client, world: World
) -> None:
    response = api.post("/api/v1/apps", json=body(world, token="EAAnot-a-real-token"))
    assert response.status_code == 422
    error = response.json()["error"]
    assert [c["name"] for c in error["checks"]] == ["token"]
    assert "GET" not in error["message"] and "lacks" not in error["message"]
    assert "EAAnot-a-real-token" not in response.text


def test_a_wrong_app_secret_is_refused_without_repeating_it(
    api: httpx.Client, world: World
) -> None:
    wrong = "f" * 32
    response = api.post("/api/v1/apps", json=body(world, app_secret=wrong))
    assert response.status_code == 422
    assert "App secret" in response.json()["error"]["message"]
    assert wrong not in response.text


def test_an_app_secret_is_added_with_patch_and_validated_first(
    api: httpx.Client, world: World
) -> None:
    url = f"/api/v1/apps/{world.app_id}"
    refused = api.patch(url, json={"app_secret": "f" * 32})
    assert refused.status_code == 422
    assert api.get(url).json()["app_secret_set"] is False
    added = api.patch(url, json={"app_secret": world.sim.app_secret})
    assert added.status_code == 200, added.text
    assert added.json()["app_secret_set"] is True
    assert added.json()["token_expiry_known"] is True
    assert (world.sim.app_secret or "") not in added.text
