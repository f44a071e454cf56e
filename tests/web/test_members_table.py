"""The Members table at 10,000 accounts: tabs count, pages walk, search narrows, sort flips."""

from __future__ import annotations

import re

import httpx

from tests.checks.conftest import World
from tests.web.big_app import seed_big_app


def names(html: str) -> list[str]:
    return re.findall(r"<b>(Person \d{5})</b>", html)


def test_ten_thousand_accounts_page_search_and_sort(admin: httpx.Client, world: World) -> None:
    with world.runtime.sessions.begin() as session:
        app_id = seed_big_app(session, world.workspace_id)
    first = admin.get(f"/apps/{app_id}/members?tab=unmatched")
    assert first.status_code == 200
    assert 'Unmatched <span class="count">3333</span>' in first.text
    assert names(first.text)[:2] == ["Person 00001", "Person 00004"]
    assert len(names(first.text)) == 50
    assert "page 1 of 67" in first.text

    later = admin.get(f"/apps/{app_id}/members?tab=unmatched&page=67")
    assert names(later.text)[-1] == "Person 09997"
    assert len(names(later.text)) == 33

    found = admin.get(f"/apps/{app_id}/members?tab=unmatched&q=person0424")
    assert names(found.text) == [f"Person 0424{d}" for d in (0, 3, 6, 9)]
    assert "4 accounts" in found.text

    partial = admin.get(
        f"/apps/{app_id}/members?tab=unmatched&q=00004",
        headers={"HX-Request": "true", "HX-Target": "members-table"},
    )
    assert partial.text.lstrip().startswith('<div id="members-table">')

    backwards = admin.get(f"/apps/{app_id}/members?tab=onboarded&sort=name&order=desc")
    assert names(backwards.text)[0] == "Person 09999"
    nothing = admin.get(f"/apps/{app_id}/members?tab=onboarded&q=nobody-like-this")
    assert "No account matches" in nothing.text
