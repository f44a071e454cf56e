"""An invited guest follows the e-mailed link, sets a password once, and signs in."""

from __future__ import annotations

from urllib.parse import parse_qs, urlsplit

import httpx

from bastion.actions.actors import Actor
from bastion.actions.guests import invite_guest
from tests.checks.conftest import World
from tests.web.web_support import hidden_token

PASSWORD = "a-long-guest-password"


def test_a_guest_sets_a_password_from_the_link_once_and_signs_in(
    client: httpx.Client, world: World
) -> None:
    with world.runtime.sessions.begin() as session:
        invite = invite_guest(
            session,
            workspace_id=world.workspace_id,
            email="freelancer@studio.test",
            name="Fran Lancer",
            actor=Actor.user(world.admin_id),
        )
    token = parse_qs(urlsplit(invite.link).query)["token"][0]

    form = client.get(f"/guest/set-password?token={token}")
    assert form.status_code == 200
    short = client.post(
        "/guest/set-password",
        data={
            "token": token,
            "new_password": "short",
            "confirm_password": "short",
            "csrftoken": hidden_token(form.text),
        },
    )
    assert short.status_code == 400 and "at least 12 characters" in short.text
    done = client.post(
        "/guest/set-password",
        data={
            "token": token,
            "new_password": PASSWORD,
            "confirm_password": PASSWORD,
            "csrftoken": hidden_token(form.text),
        },
    )
    assert done.status_code == 303, done.text
    again = client.post(
        "/guest/set-password",
        data={
            "token": token,
            "new_password": PASSWORD,
            "confirm_password": PASSWORD,
            "csrftoken": hidden_token(form.text),
        },
    )
    assert again.status_code == 400 and "unknown, used or expired" in again.text

    signin = client.get("/signin")
    answer = client.post(
        "/signin",
        data={
            "email": "freelancer@studio.test",
            "password": PASSWORD,
            "csrftoken": hidden_token(signin.text),
            "next": "/me/accounts",
        },
    )
    assert answer.status_code == 303, answer.text
    assert answer.headers["location"] == "/me/accounts"
