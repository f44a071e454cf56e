"""What the OpenAPI schema promises, case by case: Meta's failures are 502/503 (documented on the
routes that call Meta), a 405 lists every method of the path, any cursor of the declared shape
is a place to start, and JSON and times are taken as the schema types them, not coerced."""

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
from tests.members.member_world import accounts, cast_roles
from tests.one_business import free_the_business


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
    # Another business: the world's app holds this one, and stays to have its token replaced.
    other = {**connect_body(world), "business_id": "1"}
    response = api.client.post("/api/v1/apps", json=other, headers=api.as_("admin"))
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
    free_the_business(world)
    response = api.client.post("/api/v1/apps", json=connect_body(world), headers=api.as_("admin"))
    assert response.status_code == 503
    assert response.json()["error"]["code"] == "upstream_unavailable"
    assert int(response.headers["retry-after"]) >= 1


def test_a_token_meta_refuses_is_still_a_refused_connection(api: Api, world: World) -> None:
    free_the_business(world)
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


@pytest.mark.parametrize("sort", ["name", "-email", "id"])
def test_every_cursor_of_the_declared_shape_is_a_place_to_start(
    api: Api, world: World, sort: str
) -> None:
    url = f"/api/v1/apps/{world.app_id}/accounts"
    seen: list[int] = []
    cursor = None
    while True:
        params: dict[str, str | int] = {"limit": 9, "sort": sort}
        if cursor:
            params["cursor"] = cursor
        page = api.client.get(url, params=params, headers=api.as_("admin")).json()
        seen += [item["id"] for item in page["items"]]
        cursor = page["next_cursor"]
        if cursor is None:
            break
    assert sorted(seen) == [a.id for a in accounts(world)]
    # Never returned by the API, yet of the declared shape: a position all the same.
    for made_up in ("0", "9999999999", "12.ff00fe", "3." + "7a" * 50):
        response = api.client.get(
            url, params={"sort": sort, "cursor": made_up}, headers=api.as_("admin")
        )
        assert response.status_code == 200, (made_up, response.text)
    refused = api.client.get(url, params={"cursor": "eyJpZCI6IDF9"}, headers=api.as_("admin"))
    assert refused.status_code == 422
    assert refused.json()["error"]["field"] == "cursor"


@pytest.mark.parametrize("path", ["/api/v1/directory/users", "/api/v1/audit-events"])
def test_the_other_lists_take_any_cursor_of_the_declared_shape(api: Api, path: str) -> None:
    for made_up in ("0", "1", "9999999999", "5.00"):
        response = api.client.get(path, params={"cursor": made_up}, headers=api.as_("admin"))
        assert response.status_code == 200, (path, made_up, response.text)


@pytest.mark.parametrize(
    "until", ["0.5", "1700000000", "2030-01-01", "2030-01-01T00:00:00", "2030-01-01T00:00Z"]
)
def test_a_time_is_a_date_and_time_with_its_offset(api: Api, until: str) -> None:
    for path in ("/api/v1/audit-events", "/api/v1/audit-events/export"):
        response = api.client.get(path, params={"until": until}, headers=api.as_("admin"))
        assert response.status_code == 422, (path, until)
        assert response.json()["error"]["field"] == "until"
    taken = api.client.get(
        "/api/v1/audit-events", params={"until": "2030-01-01T00:00:00Z"}, headers=api.as_("admin")
    )
    assert taken.status_code == 200


def test_a_guest_with_the_longest_e_mail_and_no_name_is_invited(api: Api) -> None:
    email = "g" * 60 + "@" + "d" * 250 + ".test"
    response = api.client.post("/api/v1/guests", json={"email": email}, headers=api.as_("admin"))
    assert response.status_code == 201, response.text
    assert response.json()["email"] == email


@pytest.mark.parametrize(
    ("path", "body", "field"),
    [
        (
            "/api/v1/apps/{app_id}/invitations/cancel-stale",
            {"older_than_days": False},
            "older_than_days",
        ),
        (
            "/api/v1/apps/{app_id}/invitations/cancel-stale",
            {"older_than_days": "30"},
            "older_than_days",
        ),
        (
            "/api/v1/apps/{app_id}/accounts/bulk",
            {"action": "exempt", "account_ids": [1], "reason": "x", "force": 0},
            "force",
        ),
        (
            "/api/v1/apps/{app_id}/accounts/bulk",
            {"action": "exempt", "account_ids": [True], "reason": "x"},
            "account_ids.0",
        ),
        (
            "/api/v1/apps/{app_id}/accounts/bulk",
            {"action": "exempt", "account_ids": [1], "reason": "x", "expires_at": 1900000000},
            "expires_at",
        ),
    ],
)
def test_json_is_taken_as_the_schema_types_it(
    api: Api, world: World, path: str, body: dict[str, object], field: str
) -> None:
    response = api.client.post(
        path.format(app_id=world.app_id), json=body, headers=api.as_("admin")
    )
    assert response.status_code == 422, response.text
    assert response.json()["error"]["field"] == field
