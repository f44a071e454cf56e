"""The Partners tab for a native partner: an owner adds its token (refused ones say why and are
never echoed), the next check lists the partner's people under it, and Members lists them under
their partner, never among our unmatched people."""

from __future__ import annotations

import httpx
from sqlalchemy import select

from bastion.storage.models import Account, Partner
from bastion.storage.models.enums import AccountKind
from tests.checks.conftest import World


def _agency(world: World) -> Partner:
    with world.runtime.sessions() as session:
        return session.scalars(
            select(Partner).where(Partner.app_id == world.app_id, Partner.relation == "agency")
        ).one()


def _post(admin: httpx.Client, url: str, **data: str) -> httpx.Response:
    return admin.post(url, data={**data, "csrftoken": admin.cookies["bastion_csrf"]})


def test_an_owner_adds_a_partners_token_and_sees_its_people(
    admin: httpx.Client, world: World
) -> None:
    world.check()
    partner = _agency(world)
    tab = admin.get(f"/apps/{world.app_id}/partners")
    assert tab.status_code == 200
    assert "No token: its people are not imported." in tab.text
    assert f"/apps/{world.app_id}/partners/{partner.id}/token" in tab.text
    url = f"/apps/{world.app_id}/partners/{partner.id}/token"
    dialog = admin.get(url)
    assert dialog.status_code == 200 and 'type="password"' in dialog.text

    wrong = world.sim.token
    refused = _post(admin, url, token=wrong)
    assert refused.status_code == 400
    assert "is not one of" in refused.text and wrong not in refused.text
    assert _agency(world).token_secret_id is None

    token = world.sim.partner_tokens()[partner.external_id]
    added = _post(admin, url, token=token)
    assert added.status_code == 303, added.text
    world.check()
    tab = admin.get(f"/apps/{world.app_id}/partners")
    assert token not in tab.text
    assert "Token works" in tab.text
    with world.runtime.sessions() as session:
        people = session.scalars(
            select(Account).where(
                Account.app_id == world.app_id, Account.kind == AccountKind.PARTNER_PERSON
            )
        ).all()
    assert people
    for person in people:
        assert f'data-partner-person="{person.external_id}"' in tab.text
    members = admin.get(f"/apps/{world.app_id}/members", params={"tab": "partner"})
    assert members.status_code == 200
    assert all(person.name in members.text for person in people)
    assert f"of {partner.name}" in members.text
    unmatched = admin.get(f"/apps/{world.app_id}/members", params={"tab": "unmatched"})
    assert not any(f'data-partner="{partner.external_id}"' in unmatched.text for _ in people)

    removed = _post(admin, f"{url}/remove")
    assert removed.status_code == 303
    assert _agency(world).token_secret_id is None
    again = _post(admin, f"{url}/remove")
    assert again.status_code == 400 and "no token" in again.text
