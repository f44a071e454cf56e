"""The e-mail endpoints as an admin's script uses them: list, page, read, retry."""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import pytest

from bastion.app import create_app
from bastion.email_delivery import send_due_notifications
from bastion.notify import queue_email
from bastion.settings import load_settings
from bastion.storage.models import Notification
from bastion.storage.models.enums import NotificationState
from tests.api.api_harness import Api, role_tokens
from tests.checks.conftest import World
from tests.conftest import serve_on_loopback
from tests.members.member_world import cast_roles

URL = "/api/v1/emails"


@pytest.fixture
def api(world: World) -> Iterator[Api]:
    tokens = role_tokens(world, cast_roles(world))
    with (
        serve_on_loopback(create_app(world.runtime)) as url,
        httpx.Client(base_url=url, timeout=60) as client,
    ):
        yield Api(client, tokens)


def _queue(world: World, subject: str) -> int:
    with world.runtime.sessions.begin() as session:
        notification = queue_email(
            session,
            workspace_id=world.workspace_id,
            kind="test",
            recipients=["ops@northwind.test"],
            subject=subject,
            text="Open https://bastion.test/me/accounts",
            html='<p><a href="https://bastion.test/me/accounts">Open</a></p>',
        )
        assert notification is not None
        session.flush()
        return notification.id


def _keep_unsent(world: World) -> None:
    """What the tick does without an SMTP server."""
    settings = load_settings({"BASTION_DATA_DIR": str(world.runtime.settings.data_dir)})
    send_due_notifications(world.runtime.sessions, settings)


def test_an_admin_pages_through_email_newest_first_and_filters_by_state(
    api: Api, world: World
) -> None:
    _keep_unsent(world)  # the invitations the cast's check queued
    ids = [_queue(world, f"Message {n}") for n in range(3)]
    seen: list[int] = []
    cursor = None
    while True:
        params: dict[str, str | int] = {"limit": 2, **({"cursor": cursor} if cursor else {})}
        page = api.client.get(URL, params=params, headers=api.as_("admin"))
        assert page.status_code == 200, page.text
        seen += [item["id"] for item in page.json()["items"]]
        cursor = page.json()["next_cursor"]
        if cursor is None:
            break
    assert seen == sorted(seen, reverse=True) and seen[:3] == ids[::-1]
    assert len(seen) == len(set(seen))
    assert "body_text" not in page.json()["items"][-1], "bodies only on the message itself"

    pending = api.client.get(URL, params={"state": "pending"}, headers=api.as_("admin")).json()
    assert [item["id"] for item in pending["items"]] == ids[::-1]
    bad = api.client.get(URL, params={"state": "lost"}, headers=api.as_("admin"))
    assert bad.status_code == 422 and bad.json()["error"]["field"] == "state"


def test_one_message_has_its_bodies_and_a_not_sent_one_is_retried(api: Api, world: World) -> None:
    email_id = _queue(world, "Hello")
    one = api.client.get(f"{URL}/{email_id}", headers=api.as_("admin"))
    assert one.status_code == 200
    body = one.json()
    assert body["subject"] == "Hello" and body["recipients"] == ["ops@northwind.test"]
    assert body["body_text"] == "Open https://bastion.test/me/accounts"
    assert body["body_html"].startswith("<p><a href=")

    pending = api.client.post(f"{URL}/{email_id}/retry", headers=api.as_("admin"))
    assert pending.status_code == 409
    assert pending.json()["error"] == {
        "code": "conflict",
        "message": f"e-mail {email_id} is pending; only a failed or not sent e-mail can be retried",
        "field": None,
    }
    _keep_unsent(world)
    retried = api.client.post(f"{URL}/{email_id}/retry", headers=api.as_("admin"))
    assert retried.status_code == 202, retried.text
    assert retried.json()["state"] == "pending" and retried.json()["attempts"] == 0
    with world.runtime.sessions() as session:
        assert session.get_one(Notification, email_id).state == NotificationState.PENDING


def test_email_is_for_admins_only_and_unknown_ids_are_not_found(api: Api, world: World) -> None:
    email_id = _queue(world, "Private")
    for role in ("owner", "collaborator", "member", "guest"):
        for response in (
            api.client.get(URL, headers=api.as_(role)),
            api.client.get(f"{URL}/{email_id}", headers=api.as_(role)),
            api.client.post(f"{URL}/{email_id}/retry", headers=api.as_(role)),
        ):
            assert response.status_code == 403, (role, response.text)
            assert response.json()["error"]["code"] == "permission_denied"
            assert "Private" not in response.text
    missing = api.client.get(f"{URL}/{email_id + 1000}", headers=api.as_("admin"))
    assert missing.status_code == 404
    assert missing.json()["error"]["message"] == f"E-mail {email_id + 1000} not found"
    assert api.client.get(f"{URL}/0", headers=api.as_("admin")).status_code == 422
