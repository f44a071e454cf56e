"""A real Chromium (Debian's /usr/bin/chromium, or ``BASTION_TEST_CHROMIUM``) driven by
Playwright, and a demo-style Bastion.

Locally a missing browser skips with the reason; in CI (``CI=true`` or
``BASTION_REQUIRE_BROWSER=1``) it fails, so the browser tests never silently vanish.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from bastion.app import create_app
from bastion.demo import Demo, prepare_demo
from bastion.jobs import Jobs
from bastion.runtime import Runtime, load_key_ring
from bastion.settings import load_settings
from tests.conftest import serve_on_loopback

CHROMIUM = os.environ.get("BASTION_TEST_CHROMIUM", "/usr/bin/chromium")
ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-dev-shm-usage",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
SCREENSHOTS = os.environ.get("BASTION_SCREENSHOTS_DIR")


def require_browser() -> None:
    if Path(CHROMIUM).exists():
        return
    required = os.environ.get("BASTION_REQUIRE_BROWSER", "") in ("1", "true") or os.environ.get(
        "CI", ""
    ).lower() in ("1", "true")
    message = f"no browser at {CHROMIUM}: apt-get install chromium (.ci/run does)"
    if required:
        pytest.fail(message)
    pytest.skip(message)


@contextmanager
def chromium() -> Iterator[Any]:
    require_browser()
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, headless=True, args=ARGS)
        try:
            yield browser
        finally:
            browser.close()


@dataclass
class DemoServer:
    url: str
    demo: Demo
    runtime: Runtime


@contextmanager
def demo_server(tmp_path: Path, *, connect: bool) -> Iterator[DemoServer]:
    """`bastion demo`'s wiring on a fresh SQLite file; jobs run in the request that queues them."""
    settings = load_settings({"BASTION_DATA_DIR": str(tmp_path / "data")})
    runtime = Runtime.from_settings(settings)
    runtime.key_ring = load_key_ring(settings, generate=True)
    demo = prepare_demo(runtime, admin_email="admin@acme.test", connect=connect)
    jobs = Jobs(runtime, immediate=True)
    try:
        with serve_on_loopback(create_app(runtime, jobs=jobs)) as url:
            yield DemoServer(url, demo, runtime)
    finally:
        jobs.close()
        runtime.close()


def shot(page: Any, name: str) -> None:
    """Save a screenshot for the README when BASTION_SCREENSHOTS_DIR is set."""
    if SCREENSHOTS:
        Path(SCREENSHOTS).mkdir(parents=True, exist_ok=True)
        page.screenshot(path=str(Path(SCREENSHOTS) / f"{name}.png"), full_page=True)


def sign_in(page: Any, url: str, email: str, password: str, new_password: str) -> None:
    page.goto(f"{url}/signin")
    page.get_by_label("E-mail", exact=True).fill(email)
    page.get_by_label("Password").fill(password)
    page.get_by_role("button", name="Sign in").click()
    page.wait_for_url("**/account/password")
    page.get_by_label("Current password").fill(password)
    page.locator("input[name=new_password]").fill(new_password)
    page.get_by_label("New password again").fill(new_password)
    page.get_by_role("button", name="Save password").click()
    page.wait_for_url("**/apps")
