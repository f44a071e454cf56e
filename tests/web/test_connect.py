"""The connect wizard and the app's settings page say what Bastion really checked.

Connections made with the App secret depend on the simulator accepting ``{app_id}|{app_secret}``
as the caller of ``debug_token`` (as Meta does).
"""

from __future__ import annotations

import html
import time

import httpx
from sqlalchemy import func, select

from bastion.storage.models import App
from tests.checks.conftest import World
from tests.one_business import free_the_business
from tests.web.web_support import post

CONNECT = "/apps/connect/meta_business"


def page_text(response: httpx.Response) -> str:
    return html.unescape(response.text)


def connect(client: httpx.Client, world: World, **fields: str) -> httpx.Response:
    free_the_business(world)
    data = {
        "label": "Second Meta",
        "token": world.sim.token,
        "business_id": world.sim.business_id,
        "app_id": world.sim.app_id,
        "login_method": "sso",
        **fields,
    }
    return post(client, CONNECT, data)


def apps_count(world: World) -> int:
    with world.runtime.sessions() as session:
        return int(session.scalar(select(func.count()).select_from(App)) or 0)


def newest_app(world: World) -> App:
    with world.runtime.sessions() as session:
        return session.scalars(select(App).order_by(App.id.desc())).first()  # type: ignore[return-value]


def test_the_connect_page_lists_only_what_bastion_checks(admin: httpx.Client) -> None:
    text = page_text(admin.get(CONNECT))
    assert "What Bastion checks" in text
    assert "never expires" not in text.lower() and "never-expiring" not in text.lower()
    assert "An expiring token is accepted with a warning" in text
    assert "14 and 3 days" in text
    assert "verification status" in text
    assert "every Page, ad account, catalog, pixel and Instagram asset the business owns" in text
    assert "Without the App secret" in text
    assert "seven days after a system user is created" in text
    assert 'name="app_secret"' in text


def test_a_bad_token_is_refused_in_one_plain_sentence(admin: httpx.Client, world: World) -> None:
    before = apps_count(world)
    refused = connect(admin, world, token="EAAnot-a-real-token")
    assert refused.status_code == 400
    text = page_text(refused)
    assert "The connection was refused." in text
    assert text.count("<li>Meta does not accept this access token") == 1
    assert "lacks the permission" not in text and "GET /" not in text
    assert "Permissions of this token" not in text
    assert "EAAnot-a-real-token" not in refused.text
    assert apps_count(world) == before


def test_connecting_with_the_app_secret_shows_the_expiry_and_never_the_secret(
    admin: httpx.Client, world: World
) -> None:
    expiry = int(time.time()) + 30 * 86_400
    token = world.sim.make_token(expires_at=expiry)
    secret = world.sim.app_secret or ""
    connected = connect(admin, world, token=token, app_secret=secret)
    assert connected.status_code == 303, page_text(connected)[:2000]
    app = newest_app(world)
    assert app.app_secret_id is not None and app.token_expires_at is not None
    settings = admin.get(f"/apps/{app.id}/settings")
    text = page_text(settings)
    assert f"Expires {app.token_expires_at:%Y-%m-%d}" in text
    assert "e-mailed 14 and 3 days before" in text
    assert "(never shown)" in text
    assert "The token expires on" in text  # the warning kept from the connection check
    for shown in (settings.text, connected.text, admin.get("/apps").text):
        for hidden in (secret, token, f"{world.sim.app_id}|{secret}"):
            assert hidden not in shown


def test_without_the_app_secret_the_settings_page_says_the_expiry_is_unknown(
    admin: httpx.Client, world: World
) -> None:
    text = page_text(admin.get(f"/apps/{world.app_id}/settings"))
    assert "Unknown: Meta tells a token's expiry only to the app itself" in text
    assert "Add the App secret" in text


def test_an_unverified_business_and_unassigned_assets_are_warned_about_on_the_app(
    admin: httpx.Client, world: World
) -> None:
    world.sim.state.business.verification_status = "not_verified"
    # A system user nobody assigned assets to (the set-up guide's step 2.6 skipped).
    for asset_id in list(world.sim.state.user_assets.get(world.sim.admin_system_user_id, {})):
        world.sim.revoke_tasks(asset_id=asset_id, user_id=world.sim.admin_system_user_id)
    connected = connect(admin, world)
    assert connected.status_code == 303, page_text(connected)[:2000]
    app = newest_app(world)
    assert app.business_verification_status == "not_verified"
    text = page_text(admin.get(f"/apps/{app.id}/settings"))
    assert "Not verified by Meta" in text
    assert "The system user is assigned only 0 of its" in text
    assert "Assign assets, with Full control" in text


def test_an_app_secret_added_in_the_settings_is_validated_then_kept(
    admin: httpx.Client, world: World
) -> None:
    url = f"/apps/{world.app_id}/settings"
    form = {"label": "Northwind Meta", "schedule": "daily", "check_time": "06:00"}
    wrong = post(admin, url, {**form, "app_secret": "0" * 32})
    assert wrong.status_code == 400
    assert "Meta did not accept the App secret" in page_text(wrong)
    assert world.app().app_secret_id is None
    saved = post(admin, url, {**form, "app_secret": world.sim.app_secret or ""})
    assert saved.status_code == 303, page_text(saved)[:2000]
    app = world.app()
    assert app.app_secret_id is not None
    text = page_text(admin.get(url))
    assert "Never expires" in text and "Replace the App secret" in text
    assert (world.sim.app_secret or "") not in text
