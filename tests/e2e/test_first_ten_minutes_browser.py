"""A newcomer's first ten minutes, exactly as the README tells them: `make run`, read the framed
block, sign in with the printed password, connect a second app with the printed values (the
refused token first), and see it checked."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from tests.e2e.browser_support import chromium, shot, sign_in
from tests.e2e.demo_process import demo_process

pytestmark = pytest.mark.browser
NEW_PASSWORD = "a long password for tests"


def test_a_newcomer_connects_the_second_business_with_what_the_demo_printed(
    tmp_path: Path,
) -> None:
    with chromium() as browser, demo_process(tmp_path) as demo:
        printed = demo.welcome
        page = browser.new_page(viewport={"width": 1280, "height": 900})
        page.set_default_timeout(30_000)
        sign_in(page, printed.url, printed.email, printed.password, NEW_PASSWORD)

        page.get_by_role("link", name="Connect app").first.click()
        page.get_by_role("link", name=re.compile("Meta Business Manager")).click()
        page.get_by_label("Label").fill("Second business")
        page.get_by_label("Access token").fill(printed.refused_token)
        page.get_by_label("Business ID").fill(printed.business_id)
        page.get_by_label("App ID").fill(printed.app_id)
        page.get_by_role("button", name="Validate and connect").click()
        refused = page.get_by_role("alert")
        refused.wait_for()
        assert "refused" in refused.inner_text()
        assert "expired" in page.locator("main").inner_text().lower()

        page.get_by_label("Access token").fill(printed.token)
        page.get_by_role("button", name="Validate and connect").click()
        # The address is the app's page, so a reload shows it again instead of posting twice.
        page.wait_for_url(re.compile(r"/apps/\d+/settings"))
        app_url = page.url.split("/settings")[0]
        page.locator("#flash").get_by_text("Second business is connected").wait_for()
        page.get_by_text("Check finished").wait_for()
        shot(page, "connect-second-business")
        page.reload()
        assert "/apps/connect" not in page.url

        # Its people are in no directory: each unmatched row says so, in words.
        page.goto(f"{app_url}/members?tab=unmatched")
        reasons = page.locator("tr[data-account] [data-why]").all_inner_texts()
        assert reasons
        assert any(r.startswith("no directory match for ") for r in reasons), reasons
        assert "External enrollee" not in page.content()
        page.goto(f"{printed.url}/apps")
        assert page.get_by_text("Second business").count() >= 1
