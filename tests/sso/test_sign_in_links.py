"""E-mailed sign-in links, through the pages a person uses: asking on the sign-in page, the
e-mail arriving at the world's SMTP server, the link's page, and its one use."""

# The fixtures imported below are the tests' parameters: not redefinitions.
# ruff: noqa: F811

from __future__ import annotations

import json
import re
from datetime import timedelta
from email.message import Message
from urllib.parse import urlsplit

import httpx
import pytest
from sqlalchemy import func, select, update

from bastion.actions.actors import Actor
from bastion.actions.directory import deprovision_user
from bastion.actions.guests import invite_guest
from bastion.actions.sso import configure_sso
from bastion.email_delivery import send_due_notifications
from bastion.security import oidc
from bastion.storage.models import AuditEvent, SignInLink, User, UserEmail, utcnow
from bastion.storage.models.enums import UserSource, UserStatus
from tests.checks.conftest import World, mailbox, world  # noqa: F401 - fixtures used here
from tests.web.conftest import client  # noqa: F401 - a fixture used here
from tests.web.web_support import post

LINK_SUBJECT = "[Bastion] Your sign-in link"
LINK_FORM = "E-mail me a link"


def active_people(world: World) -> list[User]:
    with world.runtime.sessions() as session:
        return list(
            session.scalars(
                select(User)
                .where(
                    User.source == UserSource.CSV,
                    User.status == UserStatus.ACTIVE,
                    User.email.is_not(None),
                )
                .order_by(User.id)
            )
        )


@pytest.fixture
def person(world: World) -> User:
    return active_people(world)[0]


def ask_for_link(client: httpx.Client, email: str) -> httpx.Response:
    """Ask as the form does; an accepted request is redirected (303) to the sign-in page, which
    says what happens next: that page is returned."""
    answer = post(client, "/signin/email-link", {"email": email})
    if answer.status_code >= 400:
        return answer
    assert answer.status_code == 303, answer.status_code
    assert answer.headers["location"] == "/signin"
    return client.get("/signin")


def links_mailed_to(world: World, email: str) -> list[str]:
    """Send what is due, then every sign-in link in the mailbox for ``email`` (path and query)."""
    send_due_notifications(world.runtime.sessions, world.runtime.settings)
    links = []
    with world.mailbox.lock:
        messages = list(world.mailbox.messages)
    for message in messages:
        if message["Subject"] != LINK_SUBJECT or email.lower() not in message["To"].lower():
            continue
        found = re.search(r"\S+/signin/email-link\?token=[\w-]+", plain_text(message))
        assert found, "the e-mail carries the link"
        parts = urlsplit(found.group(0))
        links.append(f"{parts.path}?{parts.query}")
    return links


def plain_text(message: Message) -> str:
    for part in message.walk():
        if part.get_content_type() == "text/plain":
            payload = part.get_payload(decode=True)
            assert isinstance(payload, bytes)
            return payload.decode()
    raise AssertionError("no text part")


def sign_in_links_sent(world: World) -> int:
    with world.mailbox.lock:
        return sum(1 for m in world.mailbox.messages if m["Subject"] == LINK_SUBJECT)


def use_link(client: httpx.Client, link: str) -> httpx.Response:
    token = link.split("token=", 1)[1]
    return post(client, "/signin/email-link/use", {"token": token})


def audit(world: World, action: str) -> list[AuditEvent]:
    with world.runtime.sessions() as session:
        return list(
            session.scalars(
                select(AuditEvent).where(AuditEvent.action == action).order_by(AuditEvent.seq)
            )
        )


def notice(page: httpx.Response) -> str:
    found = re.search(r'class="notice notice-\w+" role="\w+">([^<]*)<', page.text)
    assert found, "the page shows a notice"
    return found.group(1)


def signed_in_as(client: httpx.Client) -> httpx.Response:
    return client.get("/me/accounts")


def test_a_directory_person_signs_in_with_the_link_they_asked_for(
    client: httpx.Client,
    world: World,
    person: User,
) -> None:
    assert person.email is not None
    page = client.get("/signin")
    assert LINK_FORM in page.text

    answer = ask_for_link(client, person.email)
    assert answer.status_code == 200
    assert f"If {person.email} belongs to someone in the directory" in answer.text
    assert "It works once, for 15 minutes." in answer.text
    [link] = links_mailed_to(world, person.email)

    # A mail scanner that follows the link sees a button, and does not use the link up.
    for _ in range(2):
        shown = client.get(link)
        assert shown.status_code == 200
        assert "Sign in with your link" in shown.text
        assert 'action="/signin/email-link/use"' in shown.text

    used = use_link(client, link)
    assert used.status_code == 303, used.text
    assert used.headers["location"] == "/me/accounts"
    assert signed_in_as(client).status_code == 200

    [sent] = audit(world, "user.sign_in_link_sent")
    assert sent.target == f"user:{person.id}"
    signed_in = audit(world, "user.signed_in")[-1]
    assert signed_in.target == f"user:{person.id}"
    assert signed_in.details["method"] == "link"
    with world.runtime.sessions() as session:
        assert session.get_one(User, person.id).signed_in_at is not None


def test_a_link_works_once(
    client: httpx.Client,
    world: World,
    person: User,
) -> None:
    assert person.email is not None
    ask_for_link(client, person.email)
    [link] = links_mailed_to(world, person.email)
    assert use_link(client, link).status_code == 303

    with httpx.Client(base_url=str(client.base_url), follow_redirects=False) as other:
        assert other.get(link).status_code == 400
        again = use_link(other, link)
        assert again.status_code == 400
        assert "already used" in again.text
        assert signed_in_as(other).status_code != 200
    refused = audit(world, "user.sign_in_link_refused")[-1]
    assert refused.details["problem"] == "used"
    assert refused.target == f"user:{person.id}"


def test_an_expired_link_is_refused(
    client: httpx.Client,
    world: World,
    person: User,
) -> None:
    assert person.email is not None
    ask_for_link(client, person.email)
    [link] = links_mailed_to(world, person.email)
    with world.runtime.sessions.begin() as session:
        session.execute(
            update(SignInLink)
            .where(SignInLink.user_id == person.id)
            .values(expires_at=utcnow() - timedelta(seconds=1))
        )
    shown = client.get(link)
    assert shown.status_code == 400
    assert "This sign-in link does not work" in shown.text
    answer = use_link(client, link)
    assert answer.status_code == 400
    assert "expired" in answer.text
    assert audit(world, "user.sign_in_link_refused")[-1].details["problem"] == "expired"
    assert audit(world, "user.signed_in") == []


def test_an_unknown_link_is_refused(client: httpx.Client) -> None:
    assert client.get("/signin/email-link?token=made-up").status_code == 400
    answer = use_link(client, "/signin/email-link?token=made-up")
    assert answer.status_code == 400
    assert "unknown" in answer.text


def _every_audit_event(world: World) -> list[str]:
    with world.runtime.sessions() as session:
        return [
            f"{e.actor} {e.target} {json.dumps(e.details)}"
            for e in session.scalars(select(AuditEvent).order_by(AuditEvent.id))
        ]


def test_an_unknown_address_gets_the_same_answer_and_nothing_else(
    client: httpx.Client,
    world: World,
    person: User,
) -> None:
    assert person.email is not None
    stranger = "nobody-here@northwind.test"
    events_before = _every_audit_event(world)

    answer = ask_for_link(client, stranger)
    assert answer.status_code == 200
    known = ask_for_link(client, person.email)
    assert notice(answer) == notice(known).replace(person.email, stranger)

    assert links_mailed_to(world, stranger) == []
    new_events = _every_audit_event(world)[len(events_before) :]
    assert [e for e in new_events if stranger in e] == []
    assert [e.split()[0:2] for e in new_events] == [["anonymous", f"user:{person.id}"]]


def test_an_address_that_is_not_one_is_asked_again(client: httpx.Client) -> None:
    answer = ask_for_link(client, "not an address")
    assert answer.status_code == 400
    assert "Enter your work e-mail address." in answer.text


def test_another_address_of_the_person_sends_the_link_to_their_work_address(
    client: httpx.Client,
    world: World,
) -> None:
    with world.runtime.sessions() as session:
        row = session.execute(
            select(User, UserEmail.email)
            .join(UserEmail, UserEmail.user_id == User.id)
            .where(
                User.source == UserSource.CSV,
                User.status == UserStatus.ACTIVE,
                UserEmail.email_key != User.email_key,
            )
            .order_by(User.id)
        ).first()
    assert row is not None, "the scenario has people with a second address"
    user, other_address = row
    assert user.email is not None
    ask_for_link(client, other_address.upper())
    assert len(links_mailed_to(world, user.email)) == 1
    assert links_mailed_to(world, other_address) == []


def test_a_guest_gets_no_link(client: httpx.Client, world: World) -> None:
    with world.runtime.sessions.begin() as session:
        guest = invite_guest(
            session,
            workspace_id=world.workspace_id,
            email="gus@outside.test",
            name="Gus Guest",
            actor=Actor.user(world.admin_id),
        ).user
    answer = ask_for_link(client, "gus@outside.test")
    assert answer.status_code == 200
    assert "If gus@outside.test belongs to someone" in answer.text
    assert links_mailed_to(world, "gus@outside.test") == []
    with world.runtime.sessions() as session:
        assert (
            session.scalar(
                select(func.count()).select_from(SignInLink).where(SignInLink.user_id == guest.id)
            )
            == 0
        )


def test_someone_gone_from_the_directory_gets_no_link(
    client: httpx.Client,
    world: World,
) -> None:
    with world.runtime.sessions() as session:
        gone = session.scalars(
            select(User).where(User.status == UserStatus.DEPROVISIONED, User.email.is_not(None))
        ).first()
    assert gone is not None and gone.email is not None
    ask_for_link(client, gone.email)
    assert links_mailed_to(world, gone.email) == []


def test_the_link_of_someone_deprovisioned_since_is_refused(
    client: httpx.Client,
    world: World,
    person: User,
) -> None:
    assert person.email is not None
    ask_for_link(client, person.email)
    [link] = links_mailed_to(world, person.email)
    with world.runtime.sessions.begin() as session:
        deprovision_user(
            session,
            workspace_id=world.workspace_id,
            user_id=person.id,
            source=UserSource.CSV,
            actor=Actor.system("tests"),
            check_delay=timedelta(minutes=5),
        )
    answer = use_link(client, link)
    assert answer.status_code == 400
    assert "no longer active" in answer.text
    assert audit(world, "user.sign_in_link_refused")[-1].details["problem"] == "inactive_person"
    assert audit(world, "user.signed_in") == []


def test_asking_again_keeps_the_first_link_and_signing_in_retires_the_others(
    client: httpx.Client,
    world: World,
    person: User,
) -> None:
    assert person.email is not None
    ask_for_link(client, person.email)
    ask_for_link(client, person.email)
    first, second = links_mailed_to(world, person.email)
    # Someone else asking for more links cannot stop the person's from working.
    assert client.get(first).status_code == 200
    assert use_link(client, second).status_code == 303
    assert use_link(client, first).status_code == 400
    assert audit(world, "user.sign_in_link_refused")[-1].details["problem"] == "used"


def test_too_many_requests_for_one_address_are_refused_without_saying_whose_it_is(
    client: httpx.Client,
    world: World,
    person: User,
) -> None:
    assert person.email is not None
    stranger = "nobody-here@northwind.test"
    refusals = {}
    for email in (person.email, stranger):
        for _ in range(3):
            assert ask_for_link(client, email).status_code == 200
        refused = ask_for_link(client, email)
        assert refused.status_code == 429
        refusals[email] = notice(refused)
    assert refusals[person.email] == refusals[stranger]
    assert "Too many sign-in links" in refusals[stranger]
    assert len(links_mailed_to(world, person.email)) == 3


def _configure_sso(world: World, monkeypatch: pytest.MonkeyPatch, *, enabled: bool) -> None:
    issuer = "https://northwind.okta.example"
    metadata = oidc.ProviderMetadata(
        issuer=issuer,
        authorization_endpoint=f"{issuer}/authorize",
        token_endpoint=f"{issuer}/token",
        jwks_uri=f"{issuer}/keys",
        auth_methods=("client_secret_basic",),
        algorithms=("RS256",),
    )
    monkeypatch.setattr(oidc, "discover", lambda issuer, cached=True: metadata)
    with world.runtime.sessions.begin() as session:
        configure_sso(
            session,
            world.runtime.require_key_ring(),
            workspace_id=world.workspace_id,
            actor=Actor.user(world.admin_id),
            display_name="Okta",
            issuer=issuer,
            client_id="bastion",
            client_secret="a-client-secret",
            allowed_domains=[],
            enabled=enabled,
        )


def test_with_single_sign_on_nobody_gets_a_link_and_old_ones_stop_working(
    client: httpx.Client,
    world: World,
    person: User,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    assert person.email is not None
    ask_for_link(client, person.email)
    [old_link] = links_mailed_to(world, person.email)
    _configure_sso(world, monkeypatch, enabled=True)

    page = client.get("/signin")
    assert "Sign in with Okta" in page.text
    assert LINK_FORM not in page.text
    answer = ask_for_link(client, person.email)
    assert answer.status_code == 200
    assert links_mailed_to(world, person.email) == [old_link]

    refused = use_link(client, old_link)
    assert refused.status_code == 400
    assert "identity provider" in refused.text
    assert audit(world, "user.sign_in_link_refused")[-1].details["problem"] == "sso_required"


def test_single_sign_on_kept_off_the_sign_in_page_leaves_links_working(
    client: httpx.Client,
    world: World,
    person: User,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    assert person.email is not None
    _configure_sso(world, monkeypatch, enabled=False)
    page = client.get("/signin")
    assert "Sign in with Okta" not in page.text
    assert LINK_FORM in page.text
    ask_for_link(client, person.email)
    [link] = links_mailed_to(world, person.email)
    assert use_link(client, link).status_code == 303


def test_another_sites_form_cannot_sign_a_browser_in_with_its_own_link(
    client: httpx.Client, world: World, person: User
) -> None:
    # Someone asks for their own link and has a victim's browser post it from another site:
    # the victim would then work in Bastion as them.
    assert person.email is not None
    ask_for_link(client, person.email)
    [link] = links_mailed_to(world, person.email)
    with httpx.Client(base_url=str(client.base_url), follow_redirects=False) as victim:
        answer = victim.post("/signin/email-link/use", data={"token": link.split("token=", 1)[1]})
        assert answer.status_code == 403
    assert audit(world, "user.signed_in") == []


def test_a_local_admin_gets_no_link(client: httpx.Client, world: World) -> None:
    # Local admins sign in with their password: a link would make their mailbox enough.
    ask_for_link(client, "owner@northwind.test")
    assert links_mailed_to(world, "owner@northwind.test") == []
