"""The whole story in a real browser, against `bastion demo`'s wiring (simulator, directory,
SQLite): connect, check, sort out unmatched accounts, deprovision over SCIM, apply the report."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import httpx
import pytest

from bastion.connectors.meta.simulator import Simulator
from tests.e2e.browser_support import chromium, demo_server, shot, sign_in

pytestmark = pytest.mark.browser
NEW_PASSWORD = "a long password for tests"


def _key(email: str | None) -> str:
    local, _, domain = (email or "").strip().lower().partition("@")
    return f"{local.split('+')[0]}@{'gmail.com' if domain == 'googlemail.com' else domain}"


def predicted_unmatched(sim: Simulator) -> set[str]:
    """Meta ids of accounts no directory e-mail vouches for, worked out from the scenario (system
    users have a tab of their own)."""
    known = set()
    for person in sim.scenario_snapshot().directory_users():
        known |= {_key(e) for e in (person.email, *person.secondary_emails)}
    dump = sim.dump()
    unmatched = {
        r["id"] for r in dump["people"] + dump["invitations"] if _key(r["email"]) not in known
    }
    return unmatched


def flash(page: Any, text: str) -> None:
    """Wait for the message that ends every action."""
    page.locator("#flash").get_by_text(text).wait_for()


def unmatched_ids(page: Any, url: str) -> set[str]:
    page.goto(f"{url}/members?tab=unmatched")
    return set(
        page.locator("tr[data-account]").evaluate_all("rows => rows.map(r => r.dataset.account)")
    )


def test_the_whole_story_in_a_browser(tmp_path: Path) -> None:
    with chromium() as browser, demo_server(tmp_path, connect=False) as server:
        sim = server.demo.simulator
        page = browser.new_page(viewport={"width": 1280, "height": 900})
        page.set_default_timeout(15_000)
        password = server.demo.bootstrap.one_time_password
        assert password
        sign_in(page, server.url, "admin@acme.test", password, NEW_PASSWORD)
        shot(page, "apps-empty")

        # Connect with a bad token: the page names the problem and stores nothing.
        page.get_by_role("link", name="Connect app").first.click()
        shot(page, "connect-catalog")
        page.get_by_role("link", name=re.compile("Meta Business Manager")).click()
        page.get_by_label("Label").fill("Acme on Meta")
        page.get_by_label("Access token").fill("EAAnot-a-real-token")
        page.get_by_label("Business ID").fill(sim.business_id)
        page.get_by_label("App ID").fill(sim.app_id)
        page.get_by_role("button", name="Validate and connect").click()
        refused = page.get_by_role("alert")
        refused.wait_for()
        assert "refused" in refused.inner_text()
        assert re.search(r"token", refused.inner_text(), re.I)
        shot(page, "connect-refused")

        # The right token: connected, the first check runs.
        page.get_by_label("Access token").fill(sim.token)
        page.get_by_role("button", name="Validate and connect").click()
        page.wait_for_url(re.compile(r"/apps/\d+/settings"))
        app_url = page.url.split("/settings")[0]
        flash(page, "is connected")
        page.get_by_text("Check finished").wait_for()

        # Check for updates, with its progress box.
        page.get_by_role("button", name="Check for updates").click()
        page.get_by_text("Check finished").wait_for()
        shot(page, "app-settings")

        # The Unmatched tab lists exactly the accounts the scenario predicts.
        predicted = predicted_unmatched(sim)
        assert unmatched_ids(page, app_url) == predicted
        shot(page, "members-unmatched")
        people = {p["id"]: p for p in sim.dump()["people"]}
        candidates = [
            i for i in sorted(predicted) if i in people and people[i]["role"] == "EMPLOYEE"
        ]
        to_exempt, to_match, to_remove = candidates[:3]

        # Exempt one with a reason: it moves to Exempted with the reason.
        row = page.locator(f"tr[data-account='{to_exempt}']")
        row.get_by_role("link", name="Exempt").click()
        dialog = page.locator("dialog#dialog")
        dialog.get_by_label("Reason").fill("Agency contractor until the launch")
        shot(page, "dialog-exempt")
        dialog.get_by_role("button", name="Exempt").click()
        flash(page, "is exempted")
        page.goto(f"{app_url}/members?tab=exempted")
        exempted = page.locator(f"tr[data-account='{to_exempt}']")
        assert "Agency contractor until the launch" in exempted.inner_text()

        # Match one as Owner through the search-as-you-type dialog.
        page.goto(f"{app_url}/members?tab=unmatched")
        page.locator(f"tr[data-account='{to_match}']").get_by_role("link", name="Match").click()
        directory_person = sim.scenario_snapshot().directory_users()[0]
        # Type only once the dialog's content (and its htmx wiring) has been swapped in.
        dialog.locator("#suggestions").wait_for()
        page.wait_for_load_state("networkidle")
        dialog.get_by_label("Search the directory").fill(directory_person.email.split("@")[0])
        pick = dialog.locator("#suggestions label").filter(has_text=directory_person.email)
        pick.first.wait_for()
        pick.first.locator("input[name=user_id]").check()
        dialog.locator("input[name=role][value=owner]").check()
        shot(page, "dialog-match")
        dialog.get_by_role("button", name="Match", exact=True).click()
        flash(page, "as owner")
        assert page.locator(f"tr[data-account='{to_match}']").count() == 1

        # Remove one: the dialog lists what they hold; the operation succeeds in Meta.
        page.goto(f"{app_url}/members?tab=unmatched")
        page.locator(f"tr[data-account='{to_remove}']").get_by_role("link", name="Remove").click()
        dialog.get_by_text("What they hold").wait_for()
        shot(page, "dialog-remove")
        force = dialog.get_by_label("Remove anyway")
        if force.count():
            force.check()
        dialog.get_by_role("button", name="Remove in Meta").click()
        flash(page, "is queued")
        assert to_remove not in {p["id"] for p in sim.dump()["people"]}
        page.goto(f"{app_url}/operations")
        assert "Succeeded" in page.locator("#ops-succeeded").inner_text()
        shot(page, "operations")
        page.goto(f"{app_url}/settings")
        page.get_by_role("button", name="Check for updates").click()
        page.get_by_text("Check finished").wait_for()
        assert to_remove not in unmatched_ids(page, app_url)

        # A SCIM token from the Directory page; the identity provider deactivates a person.
        page.goto(f"{server.url}/directory/tokens")
        page.get_by_label("Name").fill("Okta")
        page.get_by_role("button", name="Create token").click()
        token = page.locator("#new-token").inner_text().strip()
        leaver = next(
            p
            for p in sim.dump()["people"]
            if p["role"] == "EMPLOYEE" and p["email"] and p["id"] not in predicted
        )
        with httpx.Client(
            base_url=server.url, headers={"Authorization": f"Bearer {token}"}
        ) as scim:
            found = scim.get(
                "/scim/v2/Users", params={"filter": f'userName eq "{leaver["email"]}"'}
            )
            user_id = found.json()["Resources"][0]["id"]
            patched = scim.patch(
                f"/scim/v2/Users/{user_id}",
                json={
                    "schemas": ["urn:ietf:params:scim:api:messages:2.0:PatchOp"],
                    "Operations": [{"op": "replace", "value": {"active": False}}],
                },
            )
        assert patched.status_code in (200, 204), patched.text

        # Check: the report lists them; apply it; the seats are gone from Meta.
        page.goto(f"{app_url}/settings")
        page.get_by_role("button", name="Check for updates").click()
        page.get_by_text("Check finished").wait_for()
        page.goto(f"{app_url}/report")
        assert leaver["email"] in page.locator("#report-items").inner_text()
        shot(page, "report")
        page.get_by_role("button", name=re.compile(r"^Apply report")).click()
        confirm = page.locator("dialog[open]")
        counts = confirm.locator("[data-apply-counts]").inner_text()
        assert re.search(r"\d+ (person|people): \d+ seats?", counts), counts
        shot(page, "report-confirm")
        confirm.get_by_role("button", name=re.compile(r"^Remove \d+ in Meta")).click()
        flash(page, "queued")
        assert leaver["id"] not in {p["id"] for p in sim.dump()["people"]}
        page.goto(f"{app_url}/report")
        assert page.get_by_text("No open report").count() == 1

        page.goto(f"{server.url}/apps")
        shot(page, "apps")
        page.goto(f"{server.url}/activity")
        shot(page, "activity")
        page.goto(f"{server.url}/directory")
        shot(page, "directory")
        page.set_viewport_size({"width": 390, "height": 844})
        page.goto(f"{app_url}/members?tab=onboarded")
        shot(page, "members-narrow")
