"""Helpers for page tests: signing in like a browser does, reading the CSRF token."""

from __future__ import annotations

import re
from typing import Any

import httpx
from sqlalchemy import select

from bastion.actions.actors import Actor
from bastion.actions.users import reset_password
from bastion.storage.models import User
from tests.checks.conftest import World

NEW_PASSWORD = "correct horse battery staple"


def csrf(client: httpx.Client) -> str:
    token = client.cookies.get("bastion_csrf")
    if token is None:
        client.get("/signin")
        token = client.cookies.get("bastion_csrf")
    assert token
    return token


def hidden_token(html: str) -> str:
    found = re.search(r'name="csrftoken" value="([^"]+)"', html)
    assert found, "the page has no CSRF field"
    return found.group(1)


def one_time_password(world: World, email: str) -> str:
    with world.runtime.sessions.begin() as session:
        user_id = session.scalars(select(User.id).where(User.email_key == email.lower())).one()
        return reset_password(
            session, workspace_id=world.workspace_id, user_id=user_id, actor=Actor.system("tests")
        )


def sign_in(client: httpx.Client, world: World, email: str) -> None:
    """Sign in with a one-time password, then choose one's own, as a new person does."""
    password = one_time_password(world, email)
    token = hidden_token(client.get("/signin").text)
    answer = client.post(
        "/signin", data={"email": email, "password": password, "csrftoken": token, "next": "/apps"}
    )
    assert answer.status_code == 303, answer.text
    assert answer.headers["location"] == "/account/password"
    answer = client.post(
        "/account/password",
        data={
            "current_password": password,
            "new_password": NEW_PASSWORD,
            "confirm_password": NEW_PASSWORD,
            "csrftoken": csrf(client),
        },
    )
    assert answer.status_code == 303, answer.text


def sign_in_admin(client: httpx.Client, world: World) -> None:
    sign_in(client, world, "owner@northwind.test")


def post(client: httpx.Client, url: str, data: dict[str, Any] | None = None) -> httpx.Response:
    return client.post(url, data={**(data or {}), "csrftoken": csrf(client)})
