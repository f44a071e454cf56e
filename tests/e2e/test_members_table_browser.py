"""The members table on a laptop's screen, in a real browser: every row's buttons are in view on
each tab at 1280 px, none cut off at the table's edge or behind a horizontal scroll."""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlalchemy import select

from bastion.storage.models import App
from tests.e2e.browser_support import chromium, demo_server, shot, sign_in

pytestmark = pytest.mark.browser
NEW_PASSWORD = "a long password for tests"


def test_every_rows_buttons_are_in_view_at_1280_pixels(tmp_path: Path) -> None:
    with chromium() as browser, demo_server(tmp_path, connect=True) as server:
        page = browser.new_page(viewport={"width": 1280, "height": 900})
        page.set_default_timeout(15_000)
        password = server.demo.bootstrap.one_time_password
        assert password
        sign_in(page, server.url, "admin@acme.test", password, NEW_PASSWORD)
        with server.runtime.sessions() as session:
            app_id = session.scalars(select(App.id)).first()
        for tab in ("unmatched", "onboarded"):
            page.goto(f"{server.url}/apps/{app_id}/members?tab={tab}")
            page.locator(".row-actions").first.wait_for()
            shot(page, f"members-{tab}-1280")
            layout = page.evaluate(
                """() => {
                    const wrap = document.querySelector('#members-table .table-wrap');
                    const edge = wrap.getBoundingClientRect().right;
                    const buttons = [...wrap.querySelectorAll('.row-actions .btn')];
                    return {
                        scrolls: wrap.scrollWidth > wrap.clientWidth,
                        buttons: buttons.length,
                        cut: buttons.filter(b => b.getBoundingClientRect().right > edge)
                            .map(b => b.textContent.trim()),
                    };
                }"""
            )
            assert layout["buttons"] > 0, tab
            assert layout == {"scrolls": False, "buttons": layout["buttons"], "cut": []}, tab
