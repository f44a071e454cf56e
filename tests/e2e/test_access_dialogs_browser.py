"""The access dialogs in a real browser, on `bastion demo`'s wiring: an admin sets a person's
asset tasks with checkboxes (adding an asset on the way), then makes an unmatched account an
admin and is asked first to accept the risk; Meta changes only after the confirmation."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select

from bastion.storage.models import Account, Asset, Grant
from bastion.storage.models.enums import AccountKind, AccountState, AssetType
from tests.e2e.browser_support import DemoServer, chromium, demo_server, shot, sign_in

pytestmark = pytest.mark.browser
NEW_PASSWORD = "a long password for tests"


def _flash(page: Any, text: str) -> None:
    page.locator("#flash").get_by_text(text).wait_for()


def _meta_role(server: DemoServer, external_id: str) -> str:
    people = server.demo.simulator.dump()["people"]
    return next(p["role"] for p in people if p["id"] == external_id)


def _grant_on_an_ad_account(server: DemoServer) -> tuple[Account, Asset]:
    """An onboarded person holding ADVERTISE on an ad account, and the ad account."""
    with server.runtime.sessions() as session:
        return next(
            (account, asset)
            for account, grant, asset in session.execute(
                select(Account, Grant, Asset)
                .join(Grant, Grant.account_id == Account.id)
                .join(Asset, Asset.id == Grant.asset_id)
                .where(Account.state == AccountState.ONBOARDED, Grant.present.is_(True))
                .order_by(Grant.id)
            )
            if asset.type == AssetType.AD_ACCOUNT and "ADVERTISE" in grant.tasks
        )


def test_asset_tasks_and_a_confirmed_promotion_in_a_browser(tmp_path: Path) -> None:
    with chromium() as browser, demo_server(tmp_path, connect=True) as server:
        page = browser.new_page(viewport={"width": 1280, "height": 900})
        page.set_default_timeout(15_000)
        password = server.demo.bootstrap.one_time_password
        assert password
        sign_in(page, server.url, "admin@acme.test", password, NEW_PASSWORD)
        account, asset = _grant_on_an_ad_account(server)
        members = f"{server.url}/apps/{account.app_id}/members"

        # Tasks: untick ADVERTISE, add a other with ADVERTISE, save.
        page.goto(f"{members}?tab=onboarded")
        page.locator(f"#account-{account.id}").get_by_role("link", name="Access").click()
        dialog = page.locator("dialog[open]")
        row = dialog.locator(f'fieldset[data-asset="{asset.external_id}"]')
        row.get_by_label("Advertise", exact=True).wait_for()
        assert row.get_by_label("Advertise", exact=True).is_checked()
        with server.runtime.sessions() as session:
            held = set(
                session.scalars(select(Grant.asset_id).where(Grant.account_id == account.id))
            )
            # Every kind of asset takes ADVERTISE.
            other = next(
                a
                for a in session.scalars(select(Asset).where(Asset.present.is_(True)))
                if a.id not in held
            )
        dialog.get_by_label("Add an asset").select_option(str(other.id))
        added = dialog.locator(f'fieldset[data-asset="{other.external_id}"]')
        added.wait_for()
        for task in ("Advertise", "Manage (full control)", "Draft"):
            box = row.get_by_label(task, exact=True)
            if box.count() and box.is_checked():
                box.uncheck()
        assert row.get_by_label("Analyze", exact=True).is_checked()
        added.get_by_label("Advertise", exact=True).check()
        shot(page, "dialog-asset-tasks")
        dialog.get_by_role("button", name="Save tasks").click()
        _flash(page, "are queued")
        held = {
            a["id"]: a for assets in server.demo.simulator.dump()["assets"].values() for a in assets
        }
        users = {
            u.get("user_id", u.get("id")): u.get("tasks", [])
            for u in held[asset.external_id].get("assigned_users", [])
        }
        assert users[account.external_id] == ["ANALYZE"]

        # Role: an unmatched account made an admin asks first.
        with server.runtime.sessions() as session:
            stranger = session.scalars(
                select(Account)
                .where(
                    Account.state == AccountState.UNMATCHED,
                    Account.kind == AccountKind.PERSON,
                    Account.app_role == "EMPLOYEE",
                )
                .order_by(Account.id)
            ).first()
        assert stranger is not None
        page.goto(f"{members}?tab=unmatched")
        page.locator(f"#account-{stranger.id}").get_by_role("link", name="Access").click()
        dialog = page.locator("dialog[open]")
        dialog.get_by_role("link", name="Change role").click()
        dialog.get_by_role("button", name="Change role").wait_for()
        dialog.get_by_role("radio", name=re.compile("Full control")).check()
        dialog.get_by_role("button", name="Change role").click()
        step = dialog.locator("[data-confirm-step]")
        step.wait_for()
        assert "it is unmatched" in step.inner_text()
        shot(page, "dialog-role-confirm")
        assert _meta_role(server, stranger.external_id) == "EMPLOYEE"
        dialog.get_by_role("button", name="Give full control").click()
        assert dialog.locator("[data-confirm-step]").count() == 1  # required checkbox unticked
        step.get_by_role("checkbox").check()
        dialog.get_by_role("button", name="Give full control").click()
        _flash(page, "is queued")
        assert _meta_role(server, stranger.external_id) == "ADMIN"
