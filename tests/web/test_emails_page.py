"""The E-mail page: an admin reads what Bastion queued, follows its links, and retries one that
did not go out; what a message holds never runs in the page."""

from __future__ import annotations

import re
from datetime import timedelta
from urllib.parse import urlsplit

import httpx
from sqlalchemy import select, update

from bastion.actions.actors import Actor
from bastion.actions.directory import create_person
from bastion.actions.guests import invite_guest
from bastion.directory_records import EmailRecord, PersonRecord
from bastion.email_delivery import NO_SMTP_SERVER
from bastion.notify import queue_email
from bastion.storage.models import Notification
from bastion.storage.models.enums import NotificationState, UserSource
from tests.checks.conftest import World
from tests.web.web_support import csrf, sign_in

HOSTILE_TEXT = (
    "Hello <script>alert('text')</script> there.\n"
    "Not a link: javascript:alert(1)\n"
    "A link: https://example.test/path?a=1&b=2.\n"
    'Sneaky: https://example.test/x"onmouseover="alert(3)\n'
)
HOSTILE_HTML = '<script>alert("html")</script><img src=x onerror="alert(4)">'


def _queue(world: World, subject: str, text: str = "plain", html: str = "<p>plain</p>") -> int:
    with world.runtime.sessions.begin() as session:
        notification = queue_email(
            session,
            workspace_id=world.workspace_id,
            kind="report:7",
            recipients=["ops@northwind.test"],
            subject=subject,
            text=text,
            html=html,
        )
        assert notification is not None
        session.flush()
        return notification.id


def _set_state(world: World, notification_id: int, state: NotificationState, error: str) -> None:
    with world.runtime.sessions.begin() as session:
        session.execute(
            update(Notification)
            .where(Notification.id == notification_id)
            .values(state=state, last_error=error, attempts=3, next_attempt_at=None)
        )


def _links(page: str) -> list[str]:
    return re.findall(r'<a href="([^"]*)" target="_blank"', page)


def test_the_page_lists_email_newest_first_and_filters_by_state(
    admin: httpx.Client, world: World
) -> None:
    kept = _queue(world, "Kept for later")
    failed = _queue(world, "Refused by the server")
    _set_state(world, kept, NotificationState.NOT_SENT, NO_SMTP_SERVER)
    _set_state(world, failed, NotificationState.FAILED, "SMTPDataError: 550 mailbox unavailable")

    page = admin.get("/emails")
    assert page.status_code == 200
    assert page.text.index("Refused by the server") < page.text.index("Kept for later")
    assert "550 mailbox unavailable; retried 2 times" in page.text
    assert "no SMTP server" in page.text
    assert "Deprovisioning report" in page.text and "ops@northwind.test" in page.text
    assert 'href="/emails" aria-current="page"' in page.text, "the top navigation shows it"

    only_failed = admin.get("/emails?state=failed")
    assert "Refused by the server" in only_failed.text
    assert "Kept for later" not in only_failed.text
    assert "Kept for later" not in admin.get("/emails?state=sent").text
    bogus = admin.get("/emails?state=bogus", headers={"Accept": "text/html"})
    assert bogus.status_code == 404, "an unknown tab is not every e-mail"
    assert "no tab &#39;bogus&#39;" in bogus.text


def test_a_message_shows_its_text_escaped_with_only_its_web_addresses_as_links(
    admin: httpx.Client, world: World
) -> None:
    email_id = _queue(world, "A <b>bold</b> subject", HOSTILE_TEXT, HOSTILE_HTML)
    page = admin.get(f"/emails/{email_id}")
    assert page.status_code == 200
    text = page.text
    assert "<script>alert" not in text and "onerror" not in text and "<b>bold</b>" not in text
    assert "&lt;script&gt;alert(&#39;text&#39;)&lt;/script&gt;" in text
    assert "Not a link: javascript:alert(1)" in text
    assert 'href="javascript:' not in text
    assert _links(text) == ["https://example.test/path?a=1&amp;b=2", "https://example.test/x"]
    assert "&#34;onmouseover=&#34;alert(3)" in text, "the quote ends the address; the rest is text"
    assert "ops@northwind.test" in text and "Deprovisioning report" in text


def test_a_guests_set_password_link_is_followed_from_the_page(
    admin: httpx.Client, client: httpx.Client, world: World
) -> None:
    with world.runtime.sessions.begin() as session:
        invite_guest(
            session,
            workspace_id=world.workspace_id,
            email="freelancer@studio.test",
            name="Fran Lancer",
            actor=Actor.user(world.admin_id),
            base_url="http://bastion.test",
        )
    with world.runtime.sessions() as session:
        email_id = session.scalars(
            select(Notification.id).where(Notification.kind.startswith("guest-invite:"))
        ).one()
    listed = admin.get("/emails")
    assert f'href="/emails/{email_id}"' in listed.text and "Guest invitation" in listed.text
    # With an SMTP server the link is on its way to the guest: an admin reading it could set
    # the guest's password, so the page, the API and the CLI hide it.
    shown = admin.get(f"/emails/{email_id}").text
    assert _links(shown) == [] and "set-password?token=" not in shown
    api = admin.get(f"/api/v1/emails/{email_id}").json()
    assert "token=" not in api["body_text"] and "token=" not in api["body_html"]
    # Without one (the demo) nothing else could deliver it: it is shown, and it works.
    world.runtime.settings = world.runtime.settings.model_copy(update={"smtp_url": None})
    [link] = _links(admin.get(f"/emails/{email_id}").text)
    assert link.startswith("http://bastion.test/guest/set-password?token=")
    parts = urlsplit(link.replace("&amp;", "&"))
    with httpx.Client(base_url=str(client.base_url), timeout=60) as newcomer:
        form = newcomer.get(f"{parts.path}?{parts.query}")
    assert form.status_code == 200 and "new_password" in form.text


def test_a_failed_message_is_retried_from_its_page(admin: httpx.Client, world: World) -> None:
    email_id = _queue(world, "Refused")
    _set_state(world, email_id, NotificationState.FAILED, "SMTPDataError: 550 no")
    page = admin.get(f"/emails/{email_id}")
    assert f'action="/emails/{email_id}/retry"' in page.text and "550 no" in page.text

    refused = admin.post(f"/emails/{email_id}/retry")
    assert refused.status_code == 403, "no CSRF token, no retry"
    answer = admin.post(f"/emails/{email_id}/retry", data={"csrftoken": csrf(admin)})
    assert answer.status_code == 303 and answer.headers["location"] == f"/emails/{email_id}"
    shown = admin.get(answer.headers["location"])
    assert f"E-mail {email_id} queued again" in shown.text
    assert f'action="/emails/{email_id}/retry"' not in shown.text, "a pending one has no Retry"
    with world.runtime.sessions() as session:
        row = session.get_one(Notification, email_id)
        assert row.state == NotificationState.PENDING and row.attempts == 0

    again = admin.post(f"/emails/{email_id}/retry", data={"csrftoken": csrf(admin)})
    assert again.status_code == 409 and "is pending" in again.text


def test_someone_who_is_not_an_admin_has_no_email_page(client: httpx.Client, world: World) -> None:
    email_id = _queue(world, "Private")
    with world.runtime.sessions.begin() as session:
        create_person(
            session,
            workspace_id=world.workspace_id,
            person=PersonRecord(
                user_name="cora@northwind.test",
                display_name="Cora Colleague",
                emails=(EmailRecord("cora@northwind.test", "work", True),),
            ),
            source=UserSource.LOCAL,
            actor=Actor.system("tests"),
            check_delay=timedelta(minutes=5),
        )
    sign_in(client, world, "cora@northwind.test")
    assert 'href="/emails"' not in client.get("/me/accounts").text
    for url in ("/emails", f"/emails/{email_id}"):
        refused = client.get(url)
        assert refused.status_code == 403 and "needs the workspace admin role" in refused.text
        assert "Private" not in refused.text
    post = client.post(f"/emails/{email_id}/retry", data={"csrftoken": csrf(client)})
    assert post.status_code == 403
