"""The people's side in a real browser, on `bastion demo`'s wiring (no SMTP server): the admin
reads a matched person's invitation on the E-mail page, the person follows it, asks for a
sign-in link, the admin reads that too, and the person signs in and sees their account's card."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest

from tests.e2e.browser_support import chromium, demo_server, shot, sign_in

pytestmark = pytest.mark.browser
NEW_PASSWORD = "a long password for tests"


def _here(url: str, link: str) -> str:
    """The demo's links name its configured address; this server listens elsewhere."""
    parts = urlsplit(link)
    return f"{url}{parts.path}" + (f"?{parts.query}" if parts.query else "")


def _open_newest(page: Any, url: str, subject: str) -> tuple[str, str]:
    """Open the newest message with this subject; return its recipient and its link."""
    page.goto(f"{url}/emails")
    page.get_by_role("link", name=re.compile(re.escape(subject))).first.click()
    page.wait_for_url(re.compile(r".*/emails/\d+$"))
    text = page.locator("main").inner_text()
    recipient = re.search(r"[\w.+-]+@[\w.-]+\.\w+", text.split("To", 1)[1])
    assert recipient, text
    link = page.locator("main a[href^='http']").first.get_attribute("href")
    assert link, text
    return recipient.group(0), link


def test_a_person_follows_the_demo_invitation_and_signs_in_with_an_emailed_link(
    tmp_path: Path,
) -> None:
    with chromium() as browser, demo_server(tmp_path, connect=True) as server:
        admin = browser.new_context().new_page()
        admin.set_default_timeout(15_000)
        password = server.demo.bootstrap.one_time_password
        assert password
        sign_in(admin, server.url, "admin@acme.test", password, NEW_PASSWORD)

        # The first check matched people and queued each one's invitation.
        email, link = _open_newest(admin, server.url, "You have access to")
        shot(admin, "email-invitation")
        assert urlsplit(link).path == "/me/accounts"

        person = browser.new_context().new_page()
        person.set_default_timeout(15_000)
        person.goto(_here(server.url, link))
        person.wait_for_url("**/signin**")
        person.get_by_text("No password? E-mail me a sign-in link").click()
        person.get_by_label("Work e-mail").fill(email)
        person.get_by_role("button", name="E-mail me a link").click()
        person.get_by_text("a sign-in link is on its way").wait_for()

        recipient, sign_in_link = _open_newest(admin, server.url, "Your sign-in link")
        assert recipient == email
        person.goto(_here(server.url, sign_in_link))
        person.get_by_role("button", name="Sign in").click()
        person.wait_for_url("**/me/accounts")
        shot(person, "all-accounts")
        cards = person.locator("main").inner_text()
        assert "All accounts" in cards
        assert "Acme on Meta (simulated)" in cards

        # The link worked once: following it again is refused.
        again = browser.new_context().new_page()
        again.goto(_here(server.url, sign_in_link))
        assert "does not work" in again.locator("main").inner_text()
