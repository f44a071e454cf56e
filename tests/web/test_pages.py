"""Every page answers for an admin once the app has been checked."""

from __future__ import annotations

import httpx

from tests.checks.conftest import World


def test_every_page_renders_for_an_admin_after_a_check(admin: httpx.Client, world: World) -> None:
    world.check()
    for url in [
        "/apps",
        f"/apps/{world.app_id}/members",
        f"/apps/{world.app_id}/members?tab=unmatched",
        f"/apps/{world.app_id}/settings",
        f"/apps/{world.app_id}/assets",
        f"/apps/{world.app_id}/partners",
        f"/apps/{world.app_id}/history",
        f"/apps/{world.app_id}/report",
        f"/apps/{world.app_id}/operations",
        "/directory",
        "/directory/teams",
        "/directory/tokens",
        "/directory/import",
        "/activity",
        "/activity.csv",
        "/me/accounts",
        "/apps/connect",
        "/apps/connect/meta_business",
    ]:
        r = admin.get(url)
        assert r.status_code == 200, (url, r.text[:2000])


def test_an_unknown_address_is_a_page_for_browsers_and_json_for_the_api(
    client: httpx.Client,
) -> None:
    page = client.get("/no/such/page", headers={"Accept": "text/html,application/xhtml+xml"})
    assert page.status_code == 404
    assert page.headers["content-type"].startswith("text/html")
    assert "Page not found" in page.text and 'href="/"' in page.text
    api = client.get("/api/v1/no-such-thing", headers={"Accept": "text/html"})
    assert api.status_code == 404
    assert api.json()["error"]["code"] == "not_found"
    machine = client.get("/no/such/page", headers={"Accept": "application/json"})
    assert machine.status_code == 404
    assert machine.headers["content-type"].startswith("application/json")
