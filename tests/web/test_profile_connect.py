"""Connecting one's Facebook profile, through the pages and the simulator's login dialog, posted
like a browser would: the profile that holds the account is linked and the person onboarded;
a cancel, a replayed or late answer, another browser, a code used twice, a wrong App secret,
someone else's profile or one without a seat connect nothing, and say why."""

from __future__ import annotations

import dataclasses
import html
import re
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import timedelta
from typing import Any
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest
from sqlalchemy import select, text, update

from bastion.actions.apps import APP_SECRET_PURPOSE
from bastion.actions.profiles import CALLBACK_PATH
from bastion.actions.secrets import store_secret
from bastion.app import create_app
from bastion.connectors.meta.simulator import create_simulator_app
from bastion.jobs import Jobs
from bastion.storage.models import (
    Account,
    App,
    AppMember,
    AuditEvent,
    ProfileLinkAttempt,
    User,
    utcnow,
)
from bastion.storage.models.base import Base
from bastion.storage.models.enums import AccountKind, AccountState, OnboardingStatus
from tests.checks.conftest import World
from tests.conftest import serve_on_loopback
from tests.web.web_support import sign_in


@dataclass(frozen=True)
class Holder:
    """A directory person, the account of theirs in the app, and their Facebook account."""

    email: str
    user_id: int
    account_id: int
    profile_id: str  # app-scoped: what the login dialog's "Continue as" sends
    name: str


@dataclass
class Site:
    world: World
    base_url: str
    facebook: httpx.Client
    holders: list[Holder]
    opened: list[httpx.Client]

    def browser(self, holder: Holder | None = None) -> httpx.Client:
        """A new browser, signed in as ``holder`` when given."""
        client = httpx.Client(base_url=self.base_url, follow_redirects=False, timeout=60)
        self.opened.append(client)
        if holder is not None:
            sign_in(client, self.world, holder.email)
        return client

    def account(self, holder: Holder) -> Account:
        with self.world.runtime.sessions() as session:
            return session.get_one(Account, holder.account_id)


def _holders(world: World) -> list[Holder]:
    with world.runtime.sessions() as session:
        rows = session.execute(
            select(Account, User)
            .join(User, User.id == Account.matched_user_id)
            .where(
                Account.app_id == world.app_id,
                Account.kind == AccountKind.PERSON,
                Account.state == AccountState.ONBOARDED,
                Account.present.is_(True),
            )
            .order_by(Account.id)
        ).all()
        found = []
        for account, user in rows:
            person = world.sim.state.people[account.external_id]
            found.append(
                Holder(user.email or "", user.id, account.id, person.global_id, person.name)
            )
    assert len(found) >= 2, "the scenario matches at least two people to accounts"
    return found


def give_app_secret(world: World, value: str) -> None:
    with world.runtime.sessions.begin() as session:
        secret = store_secret(
            session,
            world.runtime.require_key_ring(),
            workspace_id=world.workspace_id,
            purpose=APP_SECRET_PURPOSE,
            value=value,
        )
        session.get_one(App, world.app_id).app_secret_id = secret.id


@pytest.fixture
def site(world: World) -> Iterator[Site]:
    world.check()
    holders = _holders(world)
    jobs = Jobs(world.runtime, immediate=True)
    app = create_app(world.runtime, jobs=jobs)
    with (
        serve_on_loopback(create_simulator_app(world.sim)) as facebook_url,
        serve_on_loopback(app) as base_url,
        httpx.Client(base_url=facebook_url, follow_redirects=False, timeout=60) as facebook,
    ):
        # The dialog is the simulator's, on its own port; the callback names Bastion's port.
        runtime = dataclasses.replace(
            world.runtime,
            settings=world.runtime.settings.model_copy(
                update={"public_url": base_url, "facebook_url": facebook_url}
            ),
            connector_options=dataclasses.replace(
                world.runtime.connector_options, login_url=facebook_url
            ),
        )
        app.state.runtime = runtime
        world.sim.set_oauth_redirect_uris([base_url + CALLBACK_PATH])
        found = Site(dataclasses.replace(world, runtime=runtime), base_url, facebook, holders, [])
        yield found
        for client in found.opened:
            client.close()
    jobs.close()


@pytest.fixture
def ready(site: Site) -> Site:
    """The site with the app's App secret stored, so profiles can be connected."""
    give_app_secret(site.world, site.world.sim.app_secret or "")
    return site


def start(browser: httpx.Client, holder: Holder) -> str:
    """Continue with Facebook: where Bastion sends the browser."""
    answer = browser.get(f"/me/accounts/{holder.account_id}/connect/start")
    assert answer.status_code == 303, answer.text
    return answer.headers["location"]


def on_the_dialog(site: Site, dialog_url: str, **choice: str) -> str:
    """Open the login dialog and submit its form with ``choice`` (``login_as``, ``action``);
    returns the address the dialog sends the browser back to."""
    page = site.facebook.get(dialog_url)
    assert page.status_code == 200, page.text
    action = re.search(r'<form method="post" action="([^"]+)"', page.text)
    assert action, page.text
    hidden = re.findall(r'<input type="hidden" name="([^"]+)" value="([^"]*)"', page.text)
    form = {name: html.unescape(value) for name, value in hidden} | choice
    answer = site.facebook.post(html.unescape(action.group(1)), data=form)
    assert answer.status_code == 302, answer.text
    back = answer.headers["location"]
    assert back.startswith(site.base_url + CALLBACK_PATH)
    return back.split("#", 1)[0]  # a browser never sends Meta's "#_=_"


def back_in_bastion(browser: httpx.Client, url: str) -> httpx.Response:
    parts = urlsplit(url)
    return browser.get(f"{parts.path}?{parts.query}")


def connect(site: Site, browser: httpx.Client, holder: Holder, **choice: str) -> httpx.Response:
    dialog = start(browser, holder)
    return back_in_bastion(browser, on_the_dialog(site, dialog, **choice))


def refusals(site: Site) -> list[dict[str, Any]]:
    with site.world.runtime.sessions() as session:
        return [
            e.details
            for e in session.scalars(
                select(AuditEvent)
                .where(AuditEvent.action == "account.profile_link_refused")
                .order_by(AuditEvent.id)
            )
        ]


def every_stored_text(site: Site) -> str:
    """Every value of every row Bastion keeps, as one string (to look for a token in)."""
    values: list[str] = []
    with site.world.runtime.engine.connect() as connection:
        for table in Base.metadata.sorted_tables:
            for row in connection.execute(text(f"SELECT * FROM {table.name}")):
                values.extend(str(value) for value in row)
    return "\n".join(values)


def test_a_person_connects_the_profile_that_holds_their_account(ready: Site) -> None:
    site, holder = ready, ready.holders[0]
    browser = site.browser(holder)
    dialog = start(browser, holder)
    query = parse_qs(urlsplit(dialog).query)
    facebook = str(site.facebook.base_url).rstrip("/")
    assert dialog.startswith(f"{facebook}/v25.0/dialog/oauth?")
    assert query["client_id"] == [site.world.sim.app_id]
    assert query["redirect_uri"] == [site.base_url + CALLBACK_PATH]
    assert query["response_type"] == ["code"] and query["scope"] == ["business_management"]
    cookie = next(c for c in browser.cookies.jar if c.name == "bastion_profile_link")
    assert cookie.path == "/me/accounts/connect"

    done = back_in_bastion(browser, on_the_dialog(site, dialog, login_as=holder.profile_id))
    assert done.status_code == 303, done.text
    assert done.headers["location"] == "/me/accounts"
    page = browser.get("/me/accounts").text
    assert f"Connected as {holder.name}." in page
    card = re.search(rf'id="account-card-{holder.account_id}".*?</article>', page, re.S)
    assert card and ">Connected</span>" in card.group(0) and "Log in</a>" not in card.group(0)

    account = site.account(holder)
    assert account.profile_name == holder.name
    assert account.profile_linked_at is not None and account.profile_linked_by_id == holder.user_id
    with site.world.runtime.sessions() as session:
        member = session.scalars(
            select(AppMember).where(
                AppMember.app_id == site.world.app_id, AppMember.user_id == holder.user_id
            )
        ).one()
        assert member.onboarding_status == OnboardingStatus.ONBOARDED
        linked = session.scalars(
            select(AuditEvent).where(AuditEvent.action == "account.profile_linked")
        ).one()
        assert linked.details == {
            "account": holder.account_id,
            "user_id": holder.user_id,
            "profile_name": holder.name,
        }
        assert session.scalar(select(ProfileLinkAttempt.used_at)) is not None

    # The user token Facebook handed over was used and dropped: kept nowhere, shown nowhere.
    tokens = [
        t.token
        for t in site.world.sim.state.tokens.values()
        if t.user_type == "USER" and t.user_id == holder.profile_id
    ]
    assert tokens
    stored = every_stored_text(site)
    api = browser.get("/api/v1/me/accounts")
    card_out = next(c for c in api.json() if c["account"]["id"] == holder.account_id)
    assert card_out["profile_connected"] is True and card_out["profile_name"] == holder.name
    for token in tokens:
        assert token not in stored and token not in page and token not in api.text


def test_the_members_tab_marks_a_connected_profile_for_an_admin(ready: Site) -> None:
    site, holder = ready, ready.holders[0]
    assert connect(site, site.browser(holder), holder, login_as=holder.profile_id).is_redirect
    admin = site.browser()
    sign_in(admin, site.world, "owner@northwind.test")
    members = admin.get(
        f"/apps/{site.world.app_id}/members", params={"tab": "onboarded", "q": holder.name}
    ).text
    row = re.search(rf'<tr id="account-{holder.account_id}".*?</tr>', members, re.S)
    assert row and "Profile connected" in row.group(0)
    assert f"Connected as {holder.name}" in row.group(0)


def test_cancelling_on_the_dialog_connects_nothing(ready: Site) -> None:
    site, holder = ready, ready.holders[0]
    answer = connect(site, site.browser(holder), holder, action="cancel")
    assert answer.status_code == 400
    assert "You did not log in, so nothing was connected." in answer.text
    assert site.account(holder).profile_linked_at is None
    assert [r["problem"] for r in refusals(site)] == ["cancelled"]


def test_the_answer_works_once_and_says_so_when_it_comes_again(ready: Site) -> None:
    site, holder = ready, ready.holders[0]
    browser = site.browser(holder)
    back = on_the_dialog(site, start(browser, holder), login_as=holder.profile_id)
    assert back_in_bastion(browser, back).headers["location"] == "/me/accounts"
    # The page reloaded: the account is connected already, and the person is told so.
    again = back_in_bastion(browser, back)
    assert again.status_code == 303 and again.headers["location"] == "/me/accounts"
    flash = browser.get("/me/accounts").text
    assert "already used" in flash and f"your account is connected as {holder.name}." in flash
    assert [r["problem"] for r in refusals(site)] == ["replayed"]


def test_an_answer_brought_to_another_browser_is_refused_and_used_up(ready: Site) -> None:
    site, holder = ready, ready.holders[0]
    browser = site.browser(holder)
    back = on_the_dialog(site, start(browser, holder), login_as=holder.profile_id)
    # Another browser of the same person: their session, but not the attempt's cookie.
    other = site.browser()
    for cookie in browser.cookies.jar:
        if cookie.name != "bastion_profile_link":
            other.cookies.set(cookie.name, cookie.value, domain=cookie.domain, path=cookie.path)
    elsewhere = back_in_bastion(other, back)
    assert elsewhere.status_code == 400 and "started in another browser" in elsewhere.text
    # Used up whatever happens: the browser that started it cannot finish it any more.
    late = back_in_bastion(browser, back)
    assert late.status_code == 400 and "already finished" in late.text
    assert site.account(holder).profile_linked_at is None
    assert [r["problem"] for r in refusals(site)] == ["other_browser", "replayed"]


def test_an_answer_after_ten_minutes_is_refused(ready: Site) -> None:
    site, holder = ready, ready.holders[0]
    browser = site.browser(holder)
    back = on_the_dialog(site, start(browser, holder), login_as=holder.profile_id)
    with site.world.runtime.sessions.begin() as session:
        session.execute(
            update(ProfileLinkAttempt).values(expires_at=utcnow() - timedelta(seconds=1))
        )
    answer = back_in_bastion(browser, back)
    assert answer.status_code == 400 and "took too long" in answer.text
    assert site.account(holder).profile_linked_at is None


def test_a_code_used_twice_reads_as_a_double_click(ready: Site) -> None:
    site, holder = ready, ready.holders[0]
    browser = site.browser(holder)
    first = on_the_dialog(site, start(browser, holder), login_as=holder.profile_id)
    code = parse_qs(urlsplit(first).query)["code"][0]
    # The same code arrives with an answer to a new attempt (a second click's request).
    dialog = start(browser, holder)
    state = parse_qs(urlsplit(dialog).query)["state"][0]
    site.world.sim.exchange_login_code(
        {
            "client_id": site.world.sim.app_id,
            "client_secret": site.world.sim.app_secret,
            "redirect_uri": site.base_url + CALLBACK_PATH,
            "code": code,
        }
    )
    answer = browser.get(CALLBACK_PATH, params={"code": code, "state": state})
    assert answer.status_code == 400
    assert "This login was already used (a second click, or the page reloaded)." in answer.text
    assert site.account(holder).profile_linked_at is None

    # When the first click did connect the account, the second lands on All accounts.
    done = connect(site, browser, holder, login_as=holder.profile_id)
    assert done.headers["location"] == "/me/accounts"
    dialog = start(browser, holder)
    state = parse_qs(urlsplit(dialog).query)["state"][0]
    double = browser.get(CALLBACK_PATH, params={"code": code, "state": state})
    assert double.status_code == 303 and double.headers["location"] == "/me/accounts"
    assert f"your account is connected as {holder.name}." in browser.get("/me/accounts").text


def test_a_wrong_app_secret_is_refused_plainly(site: Site) -> None:
    give_app_secret(site.world, "not-the-app-secret-31415")
    holder = site.holders[0]
    answer = connect(site, site.browser(holder), holder, login_as=holder.profile_id)
    assert answer.status_code == 400
    assert "did not accept the App secret" in answer.text
    assert "not-the-app-secret" not in answer.text
    assert site.account(holder).profile_linked_at is None
    assert [r["problem"] for r in refusals(site)] == ["app_secret_rejected"]


def test_someone_elses_profile_is_refused_and_audited(ready: Site) -> None:
    site, holder, other = ready, ready.holders[0], ready.holders[1]
    answer = connect(site, site.browser(holder), holder, login_as=other.profile_id)
    assert answer.status_code == 400
    assert f"The profile you logged in with ({other.name}) is not the one" in answer.text
    assert site.account(holder).profile_linked_at is None
    assert site.account(other).profile_linked_at is None
    assert refusals(site) == [
        {
            "account": holder.account_id,
            "problem": "other_profile",
            "profile_name": other.name,
            "other_account": other.account_id,
        }
    ]


def test_a_profile_with_no_seat_in_the_business_is_refused(ready: Site) -> None:
    site, holder = ready, ready.holders[0]
    stranger = site.world.sim.add_facebook_user(name="Sam Stranger", email="sam@elsewhere.test")
    answer = connect(site, site.browser(holder), holder, login_as=stranger)
    assert answer.status_code == 400
    assert "(Sam Stranger) has no seat in the business" in answer.text
    assert site.account(holder).profile_linked_at is None
    assert [r["problem"] for r in refusals(site)] == ["no_seat"]


def test_only_the_accounts_own_person_may_connect_it(ready: Site) -> None:
    site, holder, other = ready, ready.holders[0], ready.holders[1]
    browser = site.browser(other)
    for path in ("connect", "connect/start"):
        refused = browser.get(f"/me/accounts/{holder.account_id}/{path}")
        assert refused.status_code == 404, path
    with site.world.runtime.sessions() as session:
        assert session.scalar(select(ProfileLinkAttempt.id)) is None
    anonymous = site.browser().get(f"/me/accounts/{holder.account_id}/connect/start")
    assert anonymous.status_code == 303 and anonymous.headers["location"].startswith("/signin")
    # An answer to someone else's attempt, in a browser that carries its cookie, is refused too.
    own = site.browser(holder)
    back = on_the_dialog(site, start(own, holder), login_as=holder.profile_id)
    owner_cookie = next(c.value for c in own.cookies.jar if c.name == "bastion_profile_link")
    browser.cookies.set("bastion_profile_link", owner_cookie, path="/me/accounts/connect")
    answer = back_in_bastion(browser, back)
    assert answer.status_code == 400 and "started by someone else" in answer.text
    assert site.account(holder).profile_linked_at is None


def test_without_an_app_secret_connecting_says_it_needs_one(site: Site) -> None:
    holder = site.holders[0]
    browser = site.browser(holder)
    page = browser.get("/me/accounts").text
    card = re.search(rf'id="account-card-{holder.account_id}".*?</article>', page, re.S)
    assert card and "Connecting needs Northwind Meta&#39;s App secret" in card.group(0)
    assert "Log in</a>" not in card.group(0)
    dialog = browser.get(f"/me/accounts/{holder.account_id}/connect").text
    assert "App secret" in dialog and "Continue with Facebook" not in dialog
    refused = browser.get(f"/me/accounts/{holder.account_id}/connect/start")
    assert refused.status_code == 400 and "App secret" in refused.text
    owner = site.browser()
    sign_in(owner, site.world, "owner@northwind.test")
    settings = owner.get(f"/apps/{site.world.app_id}/settings").text
    assert "People cannot connect their Facebook profiles" in settings


def test_an_invitation_is_connected_once_it_is_a_seat(ready: Site) -> None:
    site, holder = ready, ready.holders[0]
    with site.world.runtime.sessions.begin() as session:
        session.execute(
            update(Account)
            .where(Account.id == holder.account_id)
            .values(kind=AccountKind.INVITATION)
        )
    browser = site.browser(holder)
    refused = browser.get(f"/me/accounts/{holder.account_id}/connect/start")
    assert refused.status_code == 400 and "still an invitation" in refused.text
    page = browser.get("/me/accounts").text
    assert "still an invitation" in page
