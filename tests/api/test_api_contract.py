"""What the OpenAPI schema promises, case by case: Meta's failures are 502/503 (documented on the
routes that call Meta), and a 405 lists every method of the path."""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator

import httpx
import pytest
from sqlalchemy import func, select

from bastion.app import create_app
from bastion.storage.models import App
from tests.api.api_harness import Api, role_tokens
from tests.checks.conftest import World
from tests.conftest import serve_on_loopback
from tests.members.member_world import cast_roles


@pytest.fixture
def api(world: World) -> Iterator[Api]:
    tokens = role_tokens(world, cast_roles(world))
    with (
        serve_on_loopback(create_app(world.runtime)) as url,
        httpx.Client(base_url=url, timeout=60) as client,
    ):
        yield Api(client, tokens)


def connect_body(world: World) -> dict[str, str]:
    return {
        "label": "Second",
        "token": world.sim.token,
        "business_id": world.sim.business_id,
        "app_id": world.sim.app_id,
        "login_method": "sso",
    }


def app_count(world: World) -> int:
    with world.runtime.sessions() as session:
        return int(session.scalar(select(func.count()).select_from(App)) or 0)


def _unreachable(request: httpx.Request) -> httpx.Response:
    raise httpx.ConnectError("connection refused", request=request)


def test_connecting_while_meta_cannot_be_reached_is_a_503_that_stores_nothing(
    api: Api, world: World
) -> None:
    world.runtime.connector_options = dataclasses.replace(
        world.runtime.connector_options, transport=httpx.MockTransport(_unreachable)
    )
    before = app_count(world)
    response = api.client.post("/api/v1/apps", json=connect_body(world), headers=api.as_("admin"))
    assert response.status_code == 503
    error = response.json()["error"]
    assert error["code"] == "upstream_unavailable"
    assert "could not reach Meta" in error["message"]
    assert world.sim.token not in response.text
    assert app_count(world) == before
    replaced = api.client.patch(
        f"/api/v1/apps/{world.app_id}", json={"token": world.sim.token}, headers=api.as_("admin")
    )
    assert replaced.status_code == 503


def test_meta_rate_limiting_the_check_is_a_503_saying_when_to_retry(api: Api, world: World) -> None:
    world.sim.inject_fault("rate_limit", count=50, path="me")
    response = api.client.post("/api/v1/apps", json=connect_body(world), headers=api.as_("admin"))
    assert response.status_code == 503
    assert response.json()["error"]["code"] == "upstream_unavailable"
    assert int(response.headers["retry-after"]) >= 1


def test_a_token_meta_refuses_is_still_a_refused_connection(api: Api, world: World) -> None:
    response = api.client.post(
        "/api/v1/apps",
        json={**connect_body(world), "token": "EAAnotatoken"},
        headers=api.as_("admin"),
    )
    assert response.status_code == 422
    assert response.json()["error"]["code"] == "connection_refused"


def test_the_routes_that_call_meta_document_502_and_503(api: Api) -> None:
    paths = api.client.get("/openapi.json").json()["paths"]
    for path, method in (("/api/v1/apps", "post"), ("/api/v1/apps/{app_id}", "patch")):
        assert {"502", "503"} <= set(paths[path][method]["responses"]), (method, path)
    assert "503" not in paths["/api/v1/apps"]["get"]["responses"]


@pytest.mark.parametrize(
    ("path", "allowed"),
    [
        ("/api/v1/apps", "GET, HEAD, POST"),
        ("/api/v1/apps/1", "GET, HEAD, PATCH, DELETE"),
        ("/api/v1/accounts/1/exemption", "POST, DELETE"),
        ("/api/v1/local-partners", "GET, HEAD, POST"),
    ],
)
def test_a_method_the_path_lacks_is_a_405_listing_every_method_it_has(
    api: Api, path: str, allowed: str
) -> None:
    response = api.client.request("OPTIONS", path, headers=api.as_("admin"))
    assert response.status_code == 405
    assert response.headers["allow"] == allowed
    assert response.json()["error"]["code"] == "method_not_allowed"
