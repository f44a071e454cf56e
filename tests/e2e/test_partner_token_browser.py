"""A native partner's token in a real browser, on `bastion demo`'s wiring: an owner opens the
token dialog from the Partners tab, is told why Bastion's own token is refused, adds the
partner's, and after a check sees the partner's people listed under it."""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlalchemy import select

from bastion.actions.actors import Actor
from bastion.actions.checks import run_check
from bastion.storage.models import Partner
from bastion.storage.models.enums import PartnerRelation, RunTrigger
from tests.e2e.browser_support import chromium, demo_server, shot, sign_in

pytestmark = pytest.mark.browser
NEW_PASSWORD = "a long password for tests"


def test_an_owner_adds_a_partners_token_in_a_browser(tmp_path: Path) -> None:
    with chromium() as browser, demo_server(tmp_path, connect=True) as server:
        page = browser.new_page(viewport={"width": 1280, "height": 900})
        page.set_default_timeout(15_000)
        password = server.demo.bootstrap.one_time_password
        assert password
        sign_in(page, server.url, "admin@acme.test", password, NEW_PASSWORD)
        with server.runtime.sessions() as session:
            partner = session.scalars(
                select(Partner).where(Partner.relation == PartnerRelation.AGENCY)
            ).first()
        assert partner is not None
        sim = server.demo.simulator
        token = sim.partner_tokens()[partner.external_id]
        tab = f"{server.url}/apps/{partner.app_id}/partners"
        page.goto(tab)
        page.locator(f'[data-partner-token="{partner.external_id}"]').click()
        dialog = page.locator("dialog[open]")
        field = dialog.get_by_label("The partner's system-user access token")
        field.fill(sim.token)
        dialog.get_by_role("button", name="Add token").click()
        error = dialog.locator("[data-token-error]")
        error.wait_for()
        assert "is not one of" in error.inner_text()
        shot(page, "partner-token-refused")
        assert sim.token not in page.content()
        field = page.locator("dialog[open]").get_by_label("The partner's system-user access token")
        field.fill(token)
        page.locator("dialog[open]").get_by_role("button", name="Add token").click()
        page.locator("#flash").get_by_text("token is kept").wait_for()
        run_check(
            server.runtime,
            workspace_id=server.demo.bootstrap.workspace.id,
            app_id=partner.app_id,
            trigger=RunTrigger.MANUAL,
            actor=Actor.system("tests"),
        )
        page.goto(tab)
        people = page.locator(f'[data-partner-people="{partner.external_id}"]')
        people.get_by_text("Token works").wait_for()
        expected = [
            p["name"]
            for p in sim.dump()["partner_people"]
            if p["partner_id"] == partner.external_id and p["assigned"]
        ]
        assert expected
        for name in expected:
            people.get_by_text(name).first.wait_for()
        assert token not in page.content()
        shot(page, "partners-native-partner")
        page.goto(f"{server.url}/apps/{partner.app_id}/members?tab=partner")
        for name in expected:
            page.locator("#members-table").get_by_text(name).first.wait_for()
        assert page.locator(f'[data-partner="{partner.external_id}"]').count() == len(expected)
        # Nobody of ours vouches for them yet: matching (to a guest) is offered, not re-assigning.
        assert page.locator("#members-table").get_by_role("link", name="Match").count() == len(
            expected
        )
        shot(page, "members-partners-people")
