"""The API's side of the admin actions: ``confirm_unvouched`` for full control, the app's
``auto_cancel_invitations_days``, and one app per business."""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import pytest
from sqlalchemy import func, select

from bastion.app import create_app
from bastion.storage.models import App, Asset, Operation
from bastion.storage.models.enums import AccountKind, AccountState, AssetType
from tests.api.api_harness import Api, role_tokens
from tests.checks.conftest import World
from tests.conftest import serve_on_loopback
from tests.members.member_world import accounts, cast_roles


@pytest.fixture
def api(world: World) -> Iterator[Api]:
    tokens = role_tokens(world, cast_roles(world))
    with (
        serve_on_loopback(create_app(world.runtime)) as url,
        httpx.Client(base_url=url, timeout=60) as client,
    ):
        yield Api(client, tokens)


def count(world: World, model: type) -> int:
    with world.runtime.sessions() as session:
        return int(session.scalar(select(func.count()).select_from(model)) or 0)


def test_full_control_for_an_unmatched_account_needs_confirm_unvouched(
    api: Api, world: World
) -> None:
    stranger = next(
        a
        for a in accounts(world, state=AccountState.UNMATCHED, kind=AccountKind.PERSON)
        if a.app_role == "EMPLOYEE"
    )
    role_url = f"/api/v1/accounts/{stranger.id}/role"
    refused = api.client.post(role_url, json={"role": "ADMIN"}, headers=api.as_("owner"))
    assert refused.status_code == 409
    error = refused.json()["error"]
    assert error["code"] == "confirmation_required"
    assert "confirm_unvouched" in error["message"] and "unmatched" in error["message"]

    with world.runtime.sessions() as session:
        page = session.scalars(
            select(Asset).where(Asset.app_id == world.app_id, Asset.type == AssetType.PAGE)
        ).first()
    assert page is not None
    tasks_url = f"/api/v1/accounts/{stranger.id}/asset-tasks"
    body = {"asset_tasks": {str(page.id): ["MANAGE"]}}
    refused = api.client.put(tasks_url, json=body, headers=api.as_("owner"))
    assert refused.status_code == 409
    assert refused.json()["error"]["code"] == "confirmation_required"
    assert count(world, Operation) == 0

    ok = api.client.post(
        role_url, json={"role": "ADMIN", "confirm_unvouched": True}, headers=api.as_("owner")
    )
    assert ok.status_code == 202
    ok = api.client.put(
        tasks_url, json={**body, "confirm_unvouched": True}, headers=api.as_("owner")
    )
    assert ok.status_code == 202
    assert count(world, Operation) == 2
    loose = api.client.post(
        role_url, json={"role": "ADMIN", "confirm_unvouched": "yes"}, headers=api.as_("owner")
    )
    assert loose.status_code == 422 and loose.json()["error"]["field"] == "confirm_unvouched"


def test_patch_sets_and_clears_the_auto_cancel_of_stale_invitations(api: Api, world: World) -> None:
    url = f"/api/v1/apps/{world.app_id}"
    assert (
        api.client.get(url, headers=api.as_("owner")).json()["auto_cancel_invitations_days"] is None
    )
    set_ = api.client.patch(
        url, json={"auto_cancel_invitations_days": 30}, headers=api.as_("owner")
    )
    assert set_.status_code == 200 and set_.json()["auto_cancel_invitations_days"] == 30
    kept = api.client.patch(url, json={"label": "Northwind"}, headers=api.as_("owner"))
    assert kept.json()["auto_cancel_invitations_days"] == 30
    cleared = api.client.patch(
        url, json={"auto_cancel_invitations_days": None}, headers=api.as_("owner")
    )
    assert cleared.json()["auto_cancel_invitations_days"] is None
    bad = api.client.patch(url, json={"auto_cancel_invitations_days": 0}, headers=api.as_("owner"))
    assert bad.status_code == 422
    assert bad.json()["error"]["field"] == "auto_cancel_invitations_days"


def test_connecting_a_business_twice_is_a_409_naming_the_app(api: Api, world: World) -> None:
    body = {
        "label": "Second",
        "token": world.sim.token,
        "business_id": world.sim.business_id,
        "app_id": world.sim.app_id,
        "login_method": "sso",
    }
    refused = api.client.post("/api/v1/apps", json=body, headers=api.as_("admin"))
    assert refused.status_code == 409
    assert "'Northwind Meta'" in refused.json()["error"]["message"]
    assert count(world, App) == 1
    gone = api.client.delete(f"/api/v1/apps/{world.app_id}", headers=api.as_("admin"))
    assert gone.status_code == 200
    again = api.client.post("/api/v1/apps", json=body, headers=api.as_("admin"))
    assert again.status_code == 201 and again.json()["label"] == "Second"
