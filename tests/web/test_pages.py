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
