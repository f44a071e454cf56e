"""The Webhooks page in a real browser, on `bastion demo`'s wiring: an admin registers an
endpoint, copies its secret from the one page that shows it, and reads a failed attempt."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from bastion.storage.models import App
from bastion.webhook_delivery import deliver_due_webhooks
from bastion.webhook_events import emit_event
from tests.e2e.browser_support import chromium, demo_server, shot, sign_in

pytestmark = pytest.mark.browser
NEW_PASSWORD = "a long password for tests"
LOOK = os.environ.get("BASTION_LOOK_DIR")


def _look(page: object, name: str) -> None:
    if LOOK:
        page.screenshot(path=str(Path(LOOK) / f"{name}.png"), full_page=True)  # type: ignore[attr-defined]


def test_an_admin_registers_an_endpoint_and_reads_its_deliveries(tmp_path: Path) -> None:
    with chromium() as browser, demo_server(tmp_path, connect=True) as server:
        page = browser.new_page(viewport={"width": 1280, "height": 900})
        page.set_default_timeout(15_000)
        password = server.demo.bootstrap.one_time_password
        assert password
        sign_in(page, server.url, "admin@acme.test", password, NEW_PASSWORD)
        page.get_by_role("navigation", name="Main").get_by_role("link", name="Webhooks").click()
        page.wait_for_url("**/webhooks")

        page.get_by_label("URL").fill("https://hooks.acme.invalid/bastion")
        page.get_by_label("Description").fill("Security team's alerts")
        page.locator("input[value='check.failed']").check()
        page.locator("input[value='operation.manual']").check()
        page.get_by_role("button", name="Register endpoint").click()
        secret = page.locator("#new-secret").inner_text()
        assert secret.startswith("whsec_")
        _look(page, "webhooks-registered")
        shot(page, "webhooks")

        page.goto(f"{server.url}/webhooks")
        assert page.locator("#new-secret").count() == 0
        assert secret not in page.content()

        with server.runtime.sessions.begin() as session:
            app = session.query(App).first()
            assert app is not None
            emit_event(
                session,
                workspace_id=app.workspace_id,
                app_id=app.id,
                event_type="check.failed",
                data={"run_id": 1, "error": "Meta refused the token"},
            )
        deliver_due_webhooks(server.runtime)
        page.get_by_role("link", name="https://hooks.acme.invalid/bastion").click()
        page.get_by_text("check.failed").first.wait_for()
        page.locator("a[href^='/webhooks/deliveries/']").first.click()
        page.get_by_text("could not reach the endpoint").wait_for()
        _look(page, "webhooks-delivery")
        assert secret not in page.content()
