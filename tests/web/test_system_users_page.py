"""The Members tab's System users, the people tabs and the app card without them, the refusals
of the people dialogs, and the remove dialog's blast radius, as an admin's browser sees them."""

from __future__ import annotations

import re

import httpx

from tests.checks.conftest import World
from tests.members.member_world import accounts
from tests.members.system_user_world import sole_person_manager
from tests.web.web_support import csrf

PEOPLE_TABS = ("onboarded", "unmatched", "guest", "exempted")


def rows(html: str) -> set[str]:
    return set(re.findall(r'data-account="([^"]+)"', html))


def count(html: str, label: str) -> int:
    found = re.search(rf'{label} <span class="count">(\d+)</span>', html)
    assert found, label
    return int(found.group(1))


def test_system_users_have_their_own_tab_with_bastions_own_marked(
    admin: httpx.Client, world: World
) -> None:
    world.check()
    system = {s["id"] for s in world.sim.dump()["system_users"]}
    base = f"/apps/{world.app_id}/members"
    tab = admin.get(f"{base}?tab=system_user")
    assert tab.status_code == 200
    assert count(tab.text, "System users") == len(system)
    assert rows(tab.text) == system
    own = re.search(r'<tr id="account-\d+" data-account="(\d+)" data-bastion>', tab.text)
    assert own and own.group(1) == world.sim.admin_system_user_id
    assert "Token hygiene" in tab.text and 'data-flag="full-control"' in tab.text
    assert "Remove selected" not in tab.text and "/remove" not in tab.text
    people = 0
    for key in PEOPLE_TABS:
        page = admin.get(f"{base}?tab={key}")
        assert not rows(page.text) & system
        people += count(page.text, {"guest": "Guest users"}.get(key, key.capitalize()))
    assert people == len(accounts(world)) - len(system)
    # The search box swaps the system users' table alone.
    partial = admin.get(
        f"{base}?tab=system_user&q=bastion",
        headers={"HX-Request": "true", "HX-Target": "members-table"},
    )
    assert partial.text.lstrip().startswith('<div id="members-table">')
    assert rows(partial.text) == {world.sim.admin_system_user_id}
    cards = admin.get("/apps")
    unmatched = re.search(r"<b>(\d+)</b><span>Unmatched</span>", cards.text)
    assert unmatched and int(unmatched.group(1)) == count(
        admin.get(f"{base}?tab=unmatched").text, "Unmatched"
    )


def test_the_people_dialogs_refuse_a_system_user(admin: httpx.Client, world: World) -> None:
    world.check()
    own = accounts(world, external_id=world.sim.admin_system_user_id)[0]
    base = f"/apps/{world.app_id}/members/{own.id}"
    removal = admin.get(f"{base}/remove")
    assert removal.status_code == 409
    assert "Bastion&#39;s own system user" in removal.text
    for dialog in ("match", "exempt", "guest"):
        answer = admin.get(f"{base}/{dialog}")
        assert answer.status_code == 409
        assert "is a system user, not a person" in answer.text
    posted = admin.post(f"{base}/remove", data={"force": "yes", "csrftoken": csrf(admin)})
    assert posted.status_code == 409
    assert "cut Bastion off" in posted.text


def test_the_remove_dialog_shows_who_keeps_each_asset_and_asks_for_force(
    admin: httpx.Client, world: World
) -> None:
    world.check()
    with world.runtime.sessions() as session:
        person, _asset = sole_person_manager(session)
    dialog = admin.get(f"/apps/{world.app_id}/members/{person}/remove")
    assert dialog.status_code == 200
    assert "data-blast-radius" in dialog.text and "Remove anyway" in dialog.text
    assert "Who keeps full control" in dialog.text and "<b>nobody</b>" in dialog.text
    assert "Bastion Access Governance" not in dialog.text
