"""In Chromium: an employee signs in through the identity provider and sees their accounts; a
departed one is refused. (The provider is the real test OP; its pages are its own.)"""

from __future__ import annotations

from typing import Any

from sqlalchemy import update

from bastion.storage.models import App
from bastion.storage.models.enums import LoginMethod
from tests.e2e.browser_support import chromium, shot
from tests.sso.conftest import Site

LOOPBACK = ("http://127.0.0.1", "http://localhost")


def _page(browser: Any) -> Any:
    page = browser.new_context().new_page()
    # The provider's pages ask for web fonts from outside: nothing leaves this machine.
    page.route(
        "**/*",
        lambda route: (
            route.continue_() if route.request.url.startswith(LOOPBACK) else route.abort()
        ),
    )
    return page


def _through_the_provider(page: Any, site: Site, login: str) -> None:
    page.goto(f"{site.base_url}/signin")
    page.get_by_role("link", name="Sign in with Okta").click()
    page.wait_for_url(f"{site.op.issuer}/**")
    page.locator("input[name=login]").fill(login)
    page.locator("input[name=password]").fill("any password")
    page.locator("button[type=submit]").click()
    # The provider asks once to share the e-mail and profile with Bastion.
    page.wait_for_load_state()
    if page.url.startswith(site.op.issuer):
        page.locator("button[type=submit]").click()


def test_an_employee_signs_in_with_sso_and_sees_their_card_with_the_next_step(site: Site) -> None:
    with site.world.runtime.sessions.begin() as session:
        session.execute(update(App).values(login_method=LoginMethod.PASSWORD))
    site.world.check()
    person = site.people["okta"]
    with chromium() as browser:
        page = _page(browser)
        _through_the_provider(page, site, "okta")
        page.wait_for_url(f"{site.base_url}/me/accounts")
        shot(page, "all-accounts-connect")
        body = page.locator("main").inner_text()
        assert "All accounts" in body
        assert "Northwind Meta" in body
        assert "Connect your account" in body
        assert person.display_name in page.locator("header").inner_text()


def test_a_departed_person_is_refused_in_the_browser(site: Site) -> None:
    with chromium() as browser:
        page = _page(browser)
        _through_the_provider(page, site, "gone")
        page.wait_for_url(f"{site.base_url}/signin/sso/callback**")
        body = page.locator("main").inner_text()
        assert "Single sign-on did not sign you in" in body
        assert "not active in the directory" in body
        page.goto(f"{site.base_url}/me/accounts")
        page.wait_for_url(f"{site.base_url}/signin**")
