"""All accounts: a person's cards with their status and next step, what the Log in button
explains, an admin's and an owner's view of someone's cards from the directory, the app
card's menu, and the Members tab's onboarding words."""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import timedelta

import httpx
import pytest
from sqlalchemy.orm import Session

from bastion.actions.actors import Actor
from bastion.actions.apps import APP_SECRET_PURPOSE
from bastion.actions.directory import create_person
from bastion.actions.secrets import store_secret
from bastion.directory_records import EmailRecord, PersonRecord
from bastion.storage.models import Account, App, AppMember, Asset, Grant, utcnow
from bastion.storage.models.enums import (
    AccountKind,
    AccountState,
    AppKind,
    AppRole,
    AssetType,
    LoginMethod,
    OnboardingStatus,
    Ownership,
    UserSource,
)
from tests.checks.conftest import World
from tests.web.web_support import post, sign_in

PIA = "pia.person@northwind.test"
OTTO = "otto.owner@northwind.test"
OpenAs = Callable[[World, str], httpx.Client]


@dataclass
class Seated:
    """Pia's apps and accounts, one app per onboarding status, and Otto, who owns one app."""

    pia: int = 0
    otto: int = 0
    apps: dict[str, int] = field(default_factory=dict)
    accounts: dict[str, int] = field(default_factory=dict)


def _person(session: Session, world: World, email: str, name: str) -> int:
    return create_person(
        session,
        workspace_id=world.workspace_id,
        person=PersonRecord(
            user_name=email, display_name=name, emails=(EmailRecord(email, "work", True),)
        ),
        source=UserSource.LOCAL,
        actor=Actor.system("tests"),
        check_delay=timedelta(minutes=5),
    ).id


def _app(session: Session, world: World, label: str, login: LoginMethod) -> App:
    secret = store_secret(
        session,
        world.runtime.require_key_ring(),
        workspace_id=world.workspace_id,
        purpose=APP_SECRET_PURPOSE,
        value="the login app's secret",
    )
    app = App(
        workspace_id=world.workspace_id,
        kind=AppKind.META_BUSINESS,
        label=label,
        settings={"business_id": label, "app_id": "2"},
        login_method=login,
        app_secret_id=secret.id,
    )
    session.add(app)
    session.flush()
    return app


def _seat(
    session: Session,
    app: App,
    user_id: int,
    name: str,
    *,
    state: AccountState = AccountState.ONBOARDED,
    status: OnboardingStatus = OnboardingStatus.PENDING_ONBOARDING,
    member: bool = True,
) -> Account:
    """An account matched to the person, and their member row with the facts of ``status``."""
    account = Account(
        workspace_id=app.workspace_id,
        app_id=app.id,
        kind=AccountKind.PERSON,
        external_id=f"{app.id}{user_id}{len(name)}",
        name=name,
        email=f"{name.split()[0].lower()}@meta.test",
        email_key=f"{name.split()[0].lower()}@meta.test",
        app_role="EMPLOYEE",
        state=state,
        matched_user_id=user_id,
        details={},
        present=True,
    )
    session.add(account)
    if member:
        now = utcnow()
        session.add(
            AppMember(
                workspace_id=app.workspace_id,
                app_id=app.id,
                user_id=user_id,
                role=AppRole.COLLABORATOR,
                onboarding_status=status,
                invited_at=now if status == OnboardingStatus.INVITE_SENT else None,
                invite_error="550 mailbox unavailable"
                if status == OnboardingStatus.INVITE_FAILED
                else None,
                connected_at=now if status == OnboardingStatus.ONBOARDED else None,
            )
        )
    session.flush()
    return account


def _hold(session: Session, account: Account, count: int) -> None:
    for i in range(count):
        asset = Asset(
            workspace_id=account.workspace_id,
            app_id=account.app_id,
            external_id=f"{account.id}0{i}",
            name=f"Page {i + 1} of {account.name}",
            type=AssetType.PAGE,
            ownership=Ownership.OWNED,
        )
        session.add(asset)
        session.flush()
        session.add(
            Grant(
                workspace_id=account.workspace_id,
                app_id=account.app_id,
                account_id=account.id,
                asset_id=asset.id,
                tasks=["ADVERTISE", "ANALYZE"],
            )
        )


@pytest.fixture
def seated(world: World) -> Seated:
    found = Seated()
    with world.runtime.sessions.begin() as session:
        found.pia = _person(session, world, PIA, "Pia Person")
        found.otto = _person(session, world, OTTO, "Otto Owner")
        seats = [
            ("pending", "Pending Meta", LoginMethod.PASSWORD, {}),
            ("invited", "Invited Meta", LoginMethod.PASSWORD, {"status": "invite_sent"}),
            ("failed", "Failed Meta", LoginMethod.PASSWORD, {"status": "invite_failed"}),
            ("connected", "Connected Meta", LoginMethod.PASSWORD, {"status": "onboarded"}),
            ("sso", "Single Meta", LoginMethod.SSO, {"status": "invite_sent"}),
            (
                "exempted",
                "Exempt Meta",
                LoginMethod.PASSWORD,
                {"status": "managed_outside", "state": AccountState.EXEMPTED},
            ),
            ("guest", "Guest Meta", LoginMethod.PASSWORD, {"state": AccountState.GUEST}),
        ]
        for key, label, login, extra in seats:
            app = _app(session, world, label, login)
            found.apps[key] = app.id
            status = OnboardingStatus(extra.get("status", "pending_onboarding"))
            state = extra.get("state", AccountState.ONBOARDED)
            account = _seat(
                session, app, found.pia, f"Pia {key.title()}", state=state, status=status
            )
            found.accounts[key] = account.id
        _hold(session, session.get_one(Account, found.accounts["pending"]), 6)
        _hold(session, session.get_one(Account, found.accounts["sso"]), 2)
        # Otto owns the pending app alone, and holds an account in it.
        session.add(
            AppMember(
                workspace_id=world.workspace_id,
                app_id=found.apps["pending"],
                user_id=found.otto,
                role=AppRole.OWNER,
            )
        )
        # A matched account whose person has no member row (and so no onboarding yet).
        stray = _person(session, world, "stray@northwind.test", "Stray Seat")
        pending = session.get_one(App, found.apps["pending"])
        found.accounts["stray"] = _seat(session, pending, stray, "Stray Seat", member=False).id
    return found


def card(html: str, account_id: int) -> str:
    found = re.search(rf'<article[^>]*id="account-card-{account_id}".*?</article>', html, re.S)
    assert found, f"no card for account {account_id}"
    return found.group(0)


def app_card(html: str, app_id: int) -> str:
    found = re.search(rf'<article[^>]*aria-labelledby="app-{app_id}".*?</article>', html, re.S)
    assert found, f"no card for app {app_id}"
    return found.group(0)


def row(html: str, account_id: int) -> str:
    found = re.search(rf'<tr id="account-{account_id}".*?</tr>', html, re.S)
    assert found, f"no row for account {account_id}"
    return found.group(0)


@pytest.fixture
def browser(client: httpx.Client) -> Iterator[OpenAs]:
    """Opens more signed-in browsers against the same server."""
    opened: list[httpx.Client] = []

    def open_as(world: World, email: str) -> httpx.Client:
        other = httpx.Client(base_url=str(client.base_url), follow_redirects=False, timeout=60)
        opened.append(other)
        sign_in(other, world, email)
        return other

    yield open_as
    for other in opened:
        other.close()


def test_each_card_says_its_status_and_the_next_step(
    client: httpx.Client, world: World, seated: Seated
) -> None:
    sign_in(client, world, PIA)
    page = client.get("/me/accounts")
    assert page.status_code == 200
    assert "<h1>All accounts</h1>" in page.text
    assert 'aria-current="page">All accounts</a>' in page.text
    expected = {
        "pending": ("Connect your account", "Connect the Facebook profile", True),
        "invited": ("Connect your account", "Connect the Facebook profile", True),
        "failed": ("Connect your account", "Connect the Facebook profile", True),
        "guest": ("Connect your account", "Connect the Facebook profile", True),
        # Connected to Bastion (a saved login) but no profile linked yet: connecting is offered.
        "connected": ("Connected", "this account is connected to Bastion", True),
        "sso": (
            "Single sign-on",
            "You sign in to Single Meta with your company&#39;s single sign-on.",
            True,
        ),
        "exempted": ("Exempted (managed outside Bastion)", "managed outside Bastion", False),
    }
    for key, (status, next_step, log_in) in expected.items():
        text = card(page.text, seated.accounts[key])
        assert f">{status}</span>" in text, key
        assert next_step in text, key
        assert ("Log in</a>" in text) is log_in, key
        assert "Meta Business Manager" in text
        assert f"Pia {key.title()}" in text and "pia@meta.test" in text
        assert "Partial access" in text
        login = "Single sign-on" if key == "sso" else "Username and password"
        assert f"<dt>Login</dt><dd>{login}</dd>" in text, key
    held = card(page.text, seated.accounts["pending"])
    assert "Page 1 of Pia Pending" in held and "ADVERTISE, ANALYZE" in held
    assert "Page 5 of Pia Pending" not in held and "and 2 more" in held
    assert "Seat only" in card(page.text, seated.accounts["connected"])
    assert "Stray Seat" not in page.text


def test_no_card_until_an_account_is_matched(client: httpx.Client, world: World) -> None:
    sign_in(client, world, "owner@northwind.test")
    page = client.get("/me/accounts")
    assert "No app account is linked to you yet" in page.text
    assert "its card shows here" in page.text


def test_log_in_explains_connecting_and_offers_continue_with_facebook(
    client: httpx.Client, world: World, seated: Seated
) -> None:
    sign_in(client, world, PIA)
    url = f"/me/accounts/{seated.accounts['failed']}/connect"
    assert f'href="{url}"' in card(client.get("/me/accounts").text, seated.accounts["failed"])
    page = client.get(url)
    assert page.status_code == 200
    assert "Connect your Facebook profile" in page.text and "Failed Meta" in page.text
    start = f'href="/me/accounts/{seated.accounts["failed"]}/connect/start"'
    assert start in page.text and "Continue with Facebook" in page.text
    dialog = client.get(url, headers={"HX-Request": "true"})
    assert "Continue with Facebook" in dialog.text and "<html" not in dialog.text
    assert "data-close-dialog" in dialog.text
    # Single sign-on apps offer it too: a connected profile counts whatever the login method.
    sso = client.get(f"/me/accounts/{seated.accounts['sso']}/connect")
    assert "Continue with Facebook" in sso.text
    exempted = client.get(f"/me/accounts/{seated.accounts['exempted']}/connect")
    assert "nothing to connect" in exempted.text and "Continue with Facebook" not in exempted.text
    stray = client.get(f"/me/accounts/{seated.accounts['stray']}/connect")
    assert stray.status_code == 404


def test_an_admin_sees_anyones_cards_and_an_owner_only_those_of_apps_they_own(
    admin: httpx.Client, world: World, seated: Seated, browser: OpenAs
) -> None:
    people = admin.get("/directory")
    assert f'href="/directory/people/{seated.pia}"' in people.text
    page = admin.get(f"/directory/people/{seated.pia}")
    assert page.status_code == 200
    assert "All accounts" in page.text
    for key, account_id in seated.accounts.items():
        if key != "stray":
            assert "Log in</a>" not in card(page.text, account_id)
    api = admin.get(f"/api/v1/directory/users/{seated.pia}/accounts")
    assert api.status_code == 200
    assert {c["account"]["id"] for c in api.json()} == {
        i for k, i in seated.accounts.items() if k != "stray"
    }

    otto = browser(world, OTTO)
    owned = otto.get(f"/directory/people/{seated.pia}")
    assert owned.status_code == 200
    assert card(owned.text, seated.accounts["pending"])
    assert "Invited Meta" not in owned.text and "Single Meta" not in owned.text
    assert "in the apps you own" in owned.text
    theirs = otto.get(f"/api/v1/directory/users/{seated.pia}/accounts").json()
    assert [c["app_label"] for c in theirs] == ["Pending Meta"]

    pia = browser(world, PIA)
    assert pia.get(f"/directory/people/{seated.otto}").status_code == 403
    assert pia.get(f"/api/v1/directory/users/{seated.otto}/accounts").status_code == 403
    assert pia.get(f"/directory/people/{seated.pia}").status_code == 200


def test_the_api_answers_with_the_cards_status_and_next_step(
    client: httpx.Client, world: World, seated: Seated
) -> None:
    sign_in(client, world, PIA)
    cards = {c["account"]["id"]: c for c in client.get("/api/v1/me/accounts").json()}
    failed = cards[seated.accounts["failed"]]
    assert failed["status"] == "connect_account"
    assert failed["onboarding_status"] == "invite_failed"
    assert failed["login_method"] == "password"
    assert failed["next_step"].startswith("Connect the Facebook profile")
    assert cards[seated.accounts["sso"]]["status"] == "sso"
    assert cards[seated.accounts["connected"]]["status"] == "connected"
    assert cards[seated.accounts["exempted"]]["status"] == "exempted_outside"
    assert len(cards[seated.accounts["pending"]]["assets"]) == 6
    page = client.get("/me/accounts").text
    for account_id, answer in cards.items():
        assert answer["next_step"].replace("'", "&#39;") in card(page, account_id)


def test_the_app_card_menu_offers_what_the_viewer_may_do(
    admin: httpx.Client, world: World, seated: Seated, browser: OpenAs
) -> None:
    pending = seated.apps["pending"]
    mine = app_card(admin.get("/apps").text, pending)
    assert f'href="/apps/{pending}/settings">Settings</a>' in mine
    assert f'href="/apps/{pending}/members">View members</a>' in mine
    assert f'action="/apps/{pending}/check"' in mine and "Check for updates" in mine
    assert 'name="csrftoken"' in mine

    pia = browser(world, PIA)
    theirs = app_card(pia.get("/apps").text, pending)
    assert "More options" not in theirs and "Check for updates" not in theirs

    otto = browser(world, OTTO)
    listed = otto.get("/apps").text
    assert "View members" in app_card(listed, pending)
    assert f'aria-labelledby="app-{seated.apps["invited"]}"' not in listed

    # The menu's check is a plain form: it lands on Settings, where the progress box is.
    answer = post(admin, f"/apps/{world.app_id}/check")
    assert answer.status_code == 303
    assert answer.headers["location"].startswith(f"/apps/{world.app_id}/settings?after=")


def test_the_members_status_column_shows_onboarding_words(
    admin: httpx.Client, seated: Seated
) -> None:
    sso = admin.get(f"/apps/{seated.apps['sso']}/members?tab=onboarded").text
    # An app signed in to with SSO: the person was invited and has not signed in yet.
    assert "Invite sent" in row(sso, seated.accounts["sso"])
    assert "Single sign-on" not in row(sso, seated.accounts["sso"])
    pending = admin.get(f"/apps/{seated.apps['pending']}/members?tab=onboarded").text
    assert "Pending onboarding" in row(pending, seated.accounts["pending"])
    assert "Pending onboarding" in row(pending, seated.accounts["stray"])
    failed = admin.get(f"/apps/{seated.apps['failed']}/members?tab=onboarded").text
    assert "Invite failed" in row(failed, seated.accounts["failed"])
    connected = admin.get(f"/apps/{seated.apps['connected']}/members?tab=onboarded").text
    assert "Onboarded" in row(connected, seated.accounts["connected"])
    guest = admin.get(f"/apps/{seated.apps['guest']}/members?tab=guest").text
    assert "Pending onboarding" in row(guest, seated.accounts["guest"])
    assert ">Guest</span>" not in row(guest, seated.accounts["guest"])
