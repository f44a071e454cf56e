"""A person's whole Log in story in Chromium, on the demo's wiring with the simulated Facebook
Login served beside it: sign in, connect the Facebook profile through Meta's dialog, save a
login with a two-factor key, read a code pyotp agrees with, sign in again to copy the password,
and lose the saved login when the directory deprovisions them."""

from __future__ import annotations

import re
from datetime import timedelta
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pyotp
import pytest
from sqlalchemy import func, select, update

from bastion.actions.actors import Actor
from bastion.actions.directory import deprovision_user
from bastion.actions.sign_in_links import LinkLimiter, request_sign_in_link
from bastion.demo import login_dialog_served
from bastion.storage.models import Account, App, Credential, Notification, User, WebSession, utcnow
from bastion.storage.models.enums import AccountKind, LoginMethod, UserSource, UserStatus
from tests.e2e.browser_support import chromium, demo_server, shot

pytestmark = pytest.mark.browser
PASSWORD = "Correct-Horse-Battery-Staple-42"


def _sign_in_by_link(page: Any, server: Any, email: str) -> None:
    """What the sign-in page's form does, then the e-mailed link, as the person would."""
    with server.runtime.sessions.begin() as session:
        request_sign_in_link(
            session, LinkLimiter.default(), email=email, ip="127.0.0.1", base_url=server.url
        )
    with server.runtime.sessions() as session:
        body = session.scalars(
            select(Notification.body_text)
            .where(Notification.kind.startswith("sign-in-link:"))
            .order_by(Notification.id.desc())
        ).first()
    assert body
    link = re.search(r"https?://\S+", body)
    assert link
    page.goto(server.url + urlsplit(link.group(0)).path + "?" + urlsplit(link.group(0)).query)
    page.get_by_role("button", name="Sign in").click()
    page.wait_for_url("**/me/accounts**")


def test_a_person_connects_their_profile_and_keeps_their_login_in_the_vault(
    tmp_path: Path,
) -> None:
    with chromium() as browser, demo_server(tmp_path, connect=True) as server:
        runtime, sim = server.runtime, server.demo.simulator
        runtime.settings = runtime.settings.model_copy(update={"public_url": server.url})
        sim.set_oauth_redirect_uris([f"{server.url}/me/accounts/connect/callback"])
        with runtime.sessions.begin() as session:
            session.execute(update(App).values(login_method=LoginMethod.PASSWORD))
            person, account_id = session.execute(
                select(User, Account.id)
                .join(Account, Account.matched_user_id == User.id)
                .where(
                    Account.kind == AccountKind.PERSON,
                    Account.present.is_(True),
                    User.status == UserStatus.ACTIVE,
                    User.email.is_not(None),
                )
                .order_by(Account.id)
                .limit(1)
            ).one()
        with login_dialog_served(runtime, sim):
            context = browser.new_context()
            context.grant_permissions(["clipboard-read", "clipboard-write"], origin=server.url)
            page = context.new_page()
            page.set_default_timeout(15_000)
            _sign_in_by_link(page, server, person.email)
            card = page.locator(f"#account-card-{account_id}")

            # Log in → what connecting does → Meta's dialog → back, connected.
            card.get_by_role("link", name="Log in").click()
            page.get_by_role("link", name="Continue with Facebook").click()
            page.get_by_role(
                "button", name=re.compile(f"Continue as {re.escape(person.display_name)}")
            ).click()
            page.wait_for_url("**/me/accounts**")
            page.locator("#flash").get_by_text("Connected as").wait_for()
            shot(page, "profile-connected")

            # Save a login with a two-factor key, checked by the current code.
            key = pyotp.random_base32()
            card.get_by_role("link", name="Save your login").click()
            dialog = page.locator("#dialog")
            dialog.locator("input[name=login]").fill(person.email)
            dialog.locator("input[name=password]").fill(PASSWORD)
            dialog.locator("input[name=totp]").fill(key)
            dialog.locator("input[name=totp_code]").fill(pyotp.TOTP(key).now())
            dialog.get_by_role("button", name="Save your login").click()
            page.locator("#flash").get_by_text("Your login is saved").wait_for()
            assert PASSWORD not in page.content()

            # Log in: the code shown is the authenticator's, the password comes only when asked.
            page.goto(f"{server.url}/me/accounts")
            card.get_by_role("button", name="Log in").click()
            shown = dialog.locator("[data-otp-code]").inner_text().replace(" ", "")
            assert pyotp.TOTP(key).verify(shown, valid_window=1)
            assert PASSWORD not in page.content()

            # An old sign-in is not enough to copy the password: sign in again first.
            with runtime.sessions.begin() as session:
                session.execute(
                    update(WebSession)
                    .where(WebSession.user_id == person.id)
                    .values(authenticated_at=utcnow().replace(year=2020))
                )
            page.goto(f"{server.url}/me/accounts")
            card.get_by_role("button", name="Log in").click()
            page.get_by_text("Sign in again").first.wait_for()
            _sign_in_by_link(page, server, person.email)
            card.get_by_role("button", name="Log in").click()
            dialog.get_by_role("button", name="Copy password").click()
            dialog.locator("[data-copy-status]").get_by_text("Copied").wait_for()
            assert page.evaluate("navigator.clipboard.readText()") == PASSWORD
            shot(page, "vault-log-in")
            context.close()

        # The directory lets the person go: the saved login goes with them.
        with runtime.sessions.begin() as session:
            deprovision_user(
                session,
                workspace_id=person.workspace_id,
                user_id=person.id,
                source=UserSource.SCIM,
                actor=Actor.system("tests"),
                check_delay=timedelta(0),
            )
        with runtime.sessions() as session:
            left = session.scalar(
                select(func.count()).select_from(Credential).where(Credential.user_id == person.id)
            )
        assert left == 0
