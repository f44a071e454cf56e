"""Removing an agency in a real browser, on `bastion demo`'s wiring: Remove partner… on the
Partners tab opens the batch, the owner gathers it by the agency's domain, unticks one person,
reads how many people, seats and invitations it removes, and applies it; Meta changes once."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select

from bastion.actions.actors import Actor
from bastion.actions.checks import run_check
from bastion.storage.models import App
from bastion.storage.models.enums import RunTrigger
from tests.e2e.browser_support import chromium, demo_server, shot, sign_in

pytestmark = pytest.mark.browser
NEW_PASSWORD = "a long password for tests"
DOMAIN = "sunbeam-agency.example"


def _flash(page: Any, text: str) -> None:
    page.locator("#flash").get_by_text(text).wait_for()


def test_an_agency_is_removed_with_its_residue_in_a_browser(tmp_path: Path) -> None:
    with chromium() as browser, demo_server(tmp_path, connect=True) as server:
        sim = server.demo.simulator
        agency = next(p for p in sim.dump()["partners"] if p["relation"] == "agency")
        page_id = sim.dump()["assets"]["pages"][0]["id"]
        sim.state.share_asset(page_id, agency["id"], ["ANALYZE"])
        ann = sim.add_person(name="Ann Archer", email=f"ann.archer@{DOMAIN}")
        sim.grant_tasks(asset_id=page_id, user_id=ann, tasks=["ANALYZE"])
        bob = sim.add_person(name="Bob Brand", email=f"bob.brand@{DOMAIN}")
        with server.runtime.sessions() as session:
            app = session.scalars(select(App)).one()
        run_check(
            server.runtime,
            workspace_id=app.workspace_id,
            app_id=app.id,
            trigger=RunTrigger.MANUAL,
            actor=Actor.user(server.demo.bootstrap.admin.id),
        )
        password = server.demo.bootstrap.one_time_password
        assert password
        page = browser.new_page(viewport={"width": 1280, "height": 900})
        page.set_default_timeout(15_000)
        sign_in(page, server.url, "admin@acme.test", password, NEW_PASSWORD)

        page.goto(f"{server.url}/apps/{app.id}/partners")
        row = page.locator("tr", has_text=agency["name"])
        row.get_by_role("button", name="Remove partner…").click()
        page.get_by_role("heading", name=f"Remove {agency['name']}").wait_for()
        page.get_by_label("E-mail domains of the partner's people").fill(DOMAIN)
        page.get_by_role("button", name="Gather again").click()
        page.locator('tr[data-kind="person"]', has_text="Ann Archer").wait_for()
        assert page.locator('tr[data-kind="partner"]').count() == 1
        assert page.locator('tr[data-kind="partner_access"]').count() >= 1
        page.get_by_label("Remove Bob Brand").uncheck()
        shot(page, "partner-removal-batch")

        page.get_by_role("button", name="Remove the ticked items…").click()
        dialog = page.locator("dialog[open]")
        counts = dialog.locator("[data-apply-counts]")
        counts.wait_for()
        assert "1 person, 1 seat and 0 pending invitations" in counts.inner_text()
        assert "ends the partnership" in counts.inner_text()
        assert "Bob Brand" not in dialog.inner_text()
        shot(page, "partner-removal-confirm")
        assert ann in {p["id"] for p in sim.dump()["people"]}  # nothing happened yet
        sim.request_log.clear()
        dialog.get_by_role("button", name="in Meta").click()
        _flash(page, "queued")

        people = {p["id"] for p in sim.dump()["people"]}
        assert ann not in people and bob in people
        assert agency["id"] not in {p["id"] for p in sim.dump()["partners"]}
        routes = sim.request_log.summary()["by_route"]
        deletes = sum(v for k, v in routes.items() if k.startswith("DELETE"))
        shared = page.locator('tr[data-kind="partner_access"]').count()
        assert deletes == 2 + shared  # Ann, the partnership, each shared asset: once each
        page.reload()
        bob_row = page.locator('tr[data-kind="person"]', has_text="Bob Brand")
        assert "Trimmed" in bob_row.inner_text()
        assert page.get_by_role("button", name="Remove the ticked items…").count() == 0
        shot(page, "partner-removal-applied")
