"""Native partners: a partner's own token imports its people onto our assets at each check."""

from __future__ import annotations

import pytest
from sqlalchemy import select

from bastion.actions.actors import Actor
from bastion.actions.partner_tokens import remove_partner_token, set_partner_token
from bastion.errors import Conflict, InvalidInput
from bastion.storage.models import Account, Asset, Grant, Partner, Secret
from bastion.storage.models.enums import (
    AccountKind,
    AccountState,
    PartnerPeopleStatus,
    RunState,
)
from tests.checks.conftest import World


def _agency(world: World) -> str:
    return next(p["id"] for p in world.sim.dump()["partners"] if p["relation"] == "agency")


def _partner_row(world: World, external_id: str) -> int:
    with world.runtime.sessions() as session:
        return session.scalars(
            select(Partner.id).where(
                Partner.app_id == world.app_id, Partner.external_id == external_id
            )
        ).one()


def _set_token(world: World, partner_external_id: str, token: str) -> Partner:
    with world.runtime.sessions.begin() as session:
        return set_partner_token(
            session,
            world.runtime.require_key_ring(),
            world.runtime.connector_options,
            workspace_id=world.workspace_id,
            app_id=world.app_id,
            partner_id=_partner_row(world, partner_external_id),
            token=token,
            actor=Actor.user(world.admin_id),
        )


def _partner_people(world: World) -> dict[str, tuple[AccountState, str, dict[str, list[str]]]]:
    with world.runtime.sessions() as session:
        accounts = session.scalars(
            select(Account).where(
                Account.app_id == world.app_id,
                Account.kind == AccountKind.PARTNER_PERSON,
                Account.present.is_(True),
            )
        ).all()
        grants = session.execute(
            select(Grant.account_id, Asset.external_id, Grant.tasks)
            .join(Asset, Asset.id == Grant.asset_id)
            .where(Grant.present.is_(True))
        ).all()
        return {
            a.external_id: (
                a.state,
                a.details["partner_external_id"],
                {asset: sorted(tasks) for account_id, asset, tasks in grants if account_id == a.id},
            )
            for a in accounts
        }


def _expected(world: World, partner_id: str) -> dict[str, dict[str, list[str]]]:
    return {
        person["id"]: {asset: sorted(tasks) for asset, tasks in person["assigned"].items()}
        for person in world.sim.dump()["partner_people"]
        if person["partner_id"] == partner_id and person["assigned"]
    }


def test_a_partner_token_imports_the_partners_people_onto_our_assets(world: World) -> None:
    assert world.check().state == RunState.SUCCEEDED
    agency = _agency(world)
    assert _partner_people(world) == {}  # our own token lists nobody of the partner's
    _set_token(world, agency, world.sim.partner_tokens()[agency])
    run = world.check()
    assert run.state == RunState.SUCCEEDED, run.error
    imported = _partner_people(world)
    expected = _expected(world, agency)
    assert expected and {k: v[2] for k, v in imported.items()} == expected
    assert {(state, partner) for state, partner, _ in imported.values()} == {
        (AccountState.PARTNER, agency)
    }
    assert run.counts["state_partner"] == len(expected)
    with world.runtime.sessions() as session:
        partner = session.get_one(Partner, _partner_row(world, agency))
        assert partner.people_status == PartnerPeopleStatus.OK


def test_a_failing_partner_token_puts_only_that_partner_in_review_and_keeps_its_people(
    world: World,
) -> None:
    agency = _agency(world)
    world.check()
    token = world.sim.partner_tokens()[agency]
    _set_token(world, agency, token)
    world.check()
    before = _partner_people(world)
    assert before
    world.sim.revoke_token(token)
    newcomer = world.sim.add_person(name="Nadia Newcomer", email="nadia@newcomer.test")
    run = world.check()
    assert run.state == RunState.SUCCEEDED, run.error
    assert _partner_people(world) == before  # unknown, not gone
    with world.runtime.sessions() as session:
        partner = session.get_one(Partner, _partner_row(world, agency))
        assert partner.people_status == PartnerPeopleStatus.REVIEW_CONFIGURATION
        assert "replace the token" in (partner.people_status_reason or "")
        assert token not in (partner.people_status_reason or "")
        present = session.scalars(
            select(Account.external_id).where(
                Account.app_id == world.app_id, Account.present.is_(True)
            )
        ).all()
    assert newcomer in present  # the rest of the check went on


def test_a_person_leaving_the_partner_goes_once_its_token_reads_again(world: World) -> None:
    agency = _agency(world)
    world.check()
    _set_token(world, agency, world.sim.partner_tokens()[agency])
    world.check()
    person = next(iter(_expected(world, agency)))
    for asset in list(world.sim.state.partner_asset_users):
        world.sim.state.partner_asset_users[asset].pop(person, None)
    world.check()
    assert person not in _partner_people(world)


@pytest.mark.parametrize("case", ["expired", "person", "other_partner", "ours"])
def test_a_token_that_is_not_the_partners_system_users_is_refused(world: World, case: str) -> None:
    world.check()
    agency = _agency(world)
    sim = world.sim
    if case == "expired":
        token = sim.make_partner_token(agency, expires_at=int(sim.now()) - 60)
        expected = "Meta does not accept this token"
    elif case == "person":
        token = sim.make_partner_token(agency, user_type="USER")
        expected = "is not one of"
    elif case == "other_partner":
        other = sim.add_partner(name="Other Agency")
        token = sim.make_partner_token(other)
        expected = "does not belong to partner business"
    else:
        token = sim.token
        expected = "is not one of"
    with pytest.raises(InvalidInput) as refused:
        _set_token(world, agency, token)
    assert refused.value.field == "token"
    assert expected in refused.value.message
    assert token not in refused.value.message
    with world.runtime.sessions() as session:
        assert session.get_one(Partner, _partner_row(world, agency)).token_secret_id is None


def test_replacing_and_removing_a_token_keeps_no_old_secret(world: World) -> None:
    world.check()
    agency = _agency(world)
    first = _set_token(world, agency, world.sim.partner_tokens()[agency]).token_secret_id
    second = _set_token(world, agency, world.sim.make_partner_token(agency)).token_secret_id
    assert first != second
    with world.runtime.sessions.begin() as session:
        assert session.get(Secret, first) is None
        remove_partner_token(
            session,
            workspace_id=world.workspace_id,
            app_id=world.app_id,
            partner_id=_partner_row(world, agency),
            actor=Actor.user(world.admin_id),
        )
    with world.runtime.sessions.begin() as session:
        assert session.get(Secret, second) is None
        with pytest.raises(Conflict, match="no token"):
            remove_partner_token(
                session,
                workspace_id=world.workspace_id,
                app_id=world.app_id,
                partner_id=_partner_row(world, agency),
                actor=Actor.user(world.admin_id),
            )


def test_a_client_has_no_people_on_our_assets(world: World) -> None:
    world.check()
    client = next(p["id"] for p in world.sim.dump()["partners"] if p["relation"] == "client")
    with pytest.raises(Conflict, match="client"):
        _set_token(world, client, world.sim.make_partner_token(client))
