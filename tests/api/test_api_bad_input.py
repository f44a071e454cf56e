"""Connecting or editing an app over the API with a token or App secret that is not one: 422
naming the field (before Bastion calls Meta, so never "could not reach Meta"), nothing written,
and the value never echoed.

The request schema's pattern for credentials answers first; the connect action's own check
(``clean_token``, which the CLI and the web reach) stands behind it, so either message is fine.
"""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import pytest

from bastion.actions.actors import Actor
from bastion.actions.tokens import create_token
from bastion.app import create_app
from bastion.storage.models.enums import TokenKind
from tests.checks.conftest import World
from tests.conftest import serve_on_loopback
from tests.row_counts import database_state


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


def connect_body(world: World, **fields: object) -> dict[str, object]:
    return {
        "label": "Second",
        "token": world.sim.token,
        "business_id": world.sim.business_id,
        "app_id": world.sim.app_id,
        "login_method": "sso",
        **fields,
    }


def _refused(response: httpx.Response, field: str, words: str, hidden: str) -> None:
    assert response.status_code == 422, response.text
    error = response.json()["error"]
    assert error["field"] == field
    assert words in error["message"] or "should match pattern" in error["message"]
    assert "reach Meta" not in response.text
    assert hidden not in response.text


@pytest.mark.parametrize(
    ("field", "value", "words"),
    [
        ("token", "{token}\n{token}", "holds more than one line"),
        ("token", "{token}\r\nsecond line", "holds more than one line"),
        ("token", "EAAB token with spaces", "without spaces"),
        ("token", "EAAB\ttab", "without spaces"),
        ("app_secret", "abc123\ndef456", "holds more than one line"),
        ("app_secret", "abc\u0085def", "without spaces"),
    ],
)
def test_a_token_or_app_secret_that_is_not_one_line_is_refused_before_meta_is_called(
    api: httpx.Client, world: World, field: str, value: str, words: str
) -> None:
    before = database_state(world.runtime.engine)
    bad = value.format(token=world.sim.token)
    response = api.post("/api/v1/apps", json=connect_body(world, **{field: bad}))
    _refused(response, field, words, world.sim.token)
    assert database_state(world.runtime.engine) == before


def test_replacing_the_token_or_app_secret_with_several_lines_changes_nothing(
    api: httpx.Client, world: World
) -> None:
    before = database_state(world.runtime.engine)
    token = world.sim.token
    for field, value in (("token", f"{token}\n{token}"), ("app_secret", "abc\ndef")):
        response = api.patch(f"/api/v1/apps/{world.app_id}", json={field: value, "label": "New"})
        _refused(response, field, "holds more than one line", token)
    assert database_state(world.runtime.engine) == before
    assert api.get(f"/api/v1/apps/{world.app_id}").json()["label"] == "Northwind Meta"
