"""Reviews and the overview in a real browser: someone makes a new admin by hand in Business
Manager, the next check opens a review; the admin finds it on the overview, follows the link,
reverts it, and Meta loses the admin once."""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlalchemy import select

from bastion.actions.actors import Actor
from bastion.actions.checks import run_check
from bastion.storage.models import CheckRun, Review
from bastion.storage.models.enums import ReviewState, RunTrigger
from tests.e2e.browser_support import chromium, demo_server, shot, sign_in

pytestmark = pytest.mark.browser
NEW_PASSWORD = "a long password for tests"
SCREENSHOT_DIR = Path("/tmp")


def test_a_hand_made_admin_is_reviewed_and_reverted_from_the_overview(tmp_path: Path) -> None:
    with chromium() as browser, demo_server(tmp_path, connect=True) as server:
        sim = server.demo.simulator
        mallory = sim.add_person(name="Mallory Hand", email="mallory@elsewhere.test", role="ADMIN")
        with server.runtime.sessions() as session:
            workspace_id = session.get_one(
                CheckRun, session.scalars(select(CheckRun.id)).first()
            ).workspace_id
        run_check(
            server.runtime,
            workspace_id=workspace_id,
            app_id=server.demo.app_id,
            trigger=RunTrigger.MANUAL,
            actor=Actor.system("tests"),
        )
        page = browser.new_page(viewport={"width": 1280, "height": 900})
        page.set_default_timeout(15_000)
        password = server.demo.bootstrap.one_time_password
        assert password
        sign_in(page, server.url, "admin@acme.test", password, NEW_PASSWORD)

        page.get_by_role("navigation", name="Main").get_by_role("link", name="Overview").click()
        page.wait_for_url("**/overview")
        section = page.locator("#overview-review")
        section.get_by_text("Mallory Hand").wait_for()
        for kind in ("two_factor_off", "operation", "review"):
            assert page.locator(f'a.overview-count[data-kind="{kind}"]').count() == 1
        page.screenshot(path=str(SCREENSHOT_DIR / "bastion-overview.png"), full_page=True)
        shot(page, "overview")

        section.get_by_role("link", name="Fix").first.click()
        page.wait_for_url("**/reviews/*")
        page.locator("#review").get_by_text("Outside Bastion").wait_for()
        page.screenshot(path=str(SCREENSHOT_DIR / "bastion-review.png"), full_page=True)
        shot(page, "review")
        page.get_by_role("button", name="Revert").click()
        page.locator("#flash").get_by_text("operation queued").wait_for()
        page.locator("#review-operations").get_by_text("Succeeded").wait_for()

        assert mallory not in {p["id"] for p in sim.dump()["people"]}
        deletes = sum(
            n
            for route, n in sim.request_log.summary()["by_route"].items()
            if route.startswith("DELETE")
        )
        assert deletes == 1
        with server.runtime.sessions() as session:
            review = session.scalars(select(Review)).one()
        assert review.state == ReviewState.REVERTED
