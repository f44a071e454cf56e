"""Sessions, CSRF, rate limits and permissions, seen from a browser's side of the wire."""

from __future__ import annotations

import httpx
from sqlalchemy import select

from bastion.actions.actors import Actor
from bastion.actions.members import match_account
from bastion.storage.models import Account, User, Workspace
from bastion.storage.models.enums import AccountKind, AccountState, AppRole
from tests.checks.conftest import World
from tests.web.web_support import csrf, hidden_token, post, sign_in


def test_a_form_post_without_the_csrf_token_is_refused(admin: httpx.Client, world: World) -> None:
    world.check()
    refused = admin.post(f"/apps/{world.app_id}/check", data={})
    assert refused.status_code == 403
    assert "did not come from Bastion" in refused.text
    accepted = post(admin, f"/apps/{world.app_id}/check")
    assert accepted.status_code == 303  # a plain form lands on Settings, with the progress box


def test_pages_need_a_session_and_sign_out_ends_it_on_the_server(
    admin: httpx.Client, world: World
) -> None:
    cookie = admin.cookies.get("bastion_session")
    assert admin.get("/apps").status_code == 200
    assert post(admin, "/signout").status_code == 303
    replay = httpx.Client(base_url=str(admin.base_url), cookies={"bastion_session": cookie or ""})
    with replay:
        answer = replay.get("/apps")
    assert answer.status_code == 303
    assert answer.headers["location"].startswith("/signin")


def test_sign_in_attempts_are_rate_limited(client: httpx.Client, world: World) -> None:
    token = hidden_token(client.get("/signin").text)
    codes = [
        client.post(
            "/signin",
            data={"email": "owner@northwind.test", "password": "wrong", "csrftoken": token},
        ).status_code
        for _ in range(6)
    ]
    assert codes == [400] * 5 + [429]


def test_a_collaborator_sees_no_action_buttons_and_the_server_refuses_anyway(
    client: httpx.Client, world: World
) -> None:
    world.check()
    with world.runtime.sessions.begin() as session:
        account = session.scalars(
            select(Account).where(
                Account.state == AccountState.ONBOARDED, Account.kind == AccountKind.PERSON
            )
        ).first()
        assert account is not None and account.matched_user_id is not None
        person = session.get_one(User, account.matched_user_id)
        match_account(
            session,
            workspace_id=world.workspace_id,
            account_id=account.id,
            user_id=person.id,
            role=AppRole.COLLABORATOR,
            actor=Actor.user(world.admin_id),
        )
        email, account_id = person.email or "", account.id
        other = session.scalars(
            select(Account.id).where(Account.state == AccountState.UNMATCHED)
        ).first()
    sign_in(client, world, email)
    page = client.get(f"/apps/{world.app_id}/members")
    assert page.status_code == 200
    assert f'id="account-{account_id}"' in page.text
    assert "Remove selected" not in page.text and ">Exempt<" not in page.text
    refused = client.post(
        f"/apps/{world.app_id}/members/{other}/exempt",
        data={"reason": "trying", "csrftoken": csrf(client)},
    )
    assert refused.status_code == 403
    with world.runtime.sessions() as session:
        assert session.get_one(Account, other).state == AccountState.UNMATCHED


def test_single_sign_on_starts_are_rate_limited_per_address(
    client: httpx.Client, world: World
) -> None:
    with world.runtime.sessions() as session:
        slug = session.get_one(Workspace, world.workspace_id).slug
    answers = [client.get(f"/signin/sso/{slug}") for _ in range(21)]
    # Not set up in this workspace: each start is refused, and counted.
    assert [a.status_code for a in answers[:20]] == [400] * 20
    assert "not set up" in answers[0].text
    assert answers[20].status_code == 429
    assert "Too many single sign-on attempts" in answers[20].text
