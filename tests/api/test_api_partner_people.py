"""Native partners over the API and the command line: a partner's token set and removed (owners
only, validated, never echoed), its people listed apart from ours, matched only to guests, and
removed through a manual step naming what to ask the partner."""

from __future__ import annotations

from pathlib import Path

from sqlalchemy import select
from typer.testing import CliRunner

from bastion.actions.actors import Actor
from bastion.actions.guests import invite_guest
from bastion.cli import app as cli
from bastion.storage.models import Operation, Partner
from bastion.storage.models.enums import AccountKind, AccountState, OperationState
from tests.api.api_harness import Api
from tests.checks.conftest import World, simulator_on_socket, worker_env
from tests.members.member_world import Cast, accounts

runner = CliRunner()
WS = ("--workspace", "northwind")


def agency(world: World) -> Partner:
    with world.runtime.sessions() as session:
        return session.scalars(
            select(Partner).where(Partner.app_id == world.app_id, Partner.relation == "agency")
        ).one()


def token_url(world: World) -> str:
    return f"/api/v1/apps/{world.app_id}/partners/{agency(world).id}/token"


def imported(api: Api, world: World) -> list[int]:
    token = world.sim.partner_tokens()[agency(world).external_id]
    answer = api.client.put(token_url(world), json={"token": token}, headers=api.as_("owner"))
    assert answer.status_code == 200, answer.text
    assert token not in answer.text
    world.check()
    return [a.id for a in accounts(world, kind=AccountKind.PARTNER_PERSON)]


def test_owners_set_and_remove_a_partners_token_and_others_may_not(api: Api, world: World) -> None:
    token = world.sim.partner_tokens()[agency(world).external_id]
    for role in ("collaborator", "member"):
        refused = api.client.put(token_url(world), json={"token": token}, headers=api.as_(role))
        assert refused.status_code == 403
    answer = api.client.put(token_url(world), json={"token": token}, headers=api.as_("owner"))
    assert answer.status_code == 200
    assert answer.json()["has_token"] is True and token not in answer.text
    listed = api.client.get(f"/api/v1/apps/{world.app_id}/partners", headers=api.as_("owner"))
    assert token not in listed.text
    assert [p["has_token"] for p in listed.json() if p["relation"] == "agency"] == [True]
    world.check()
    listed = api.client.get(f"/api/v1/apps/{world.app_id}/partners", headers=api.as_("owner"))
    assert [p["people_status"] for p in listed.json() if p["relation"] == "agency"] == ["ok"]
    removed = api.client.delete(token_url(world), headers=api.as_("owner"))
    assert removed.status_code == 200 and removed.json()["has_token"] is False
    again = api.client.delete(token_url(world), headers=api.as_("owner"))
    assert again.status_code == 409


def test_a_token_of_another_business_is_refused_naming_the_field(api: Api, world: World) -> None:
    other = world.sim.make_partner_token(world.sim.add_partner(name="Somebody Else"))
    answer = api.client.put(token_url(world), json={"token": other}, headers=api.as_("owner"))
    assert answer.status_code == 422
    error = answer.json()["error"]
    assert error["field"] == "token"
    assert "does not belong to partner business" in error["message"]
    assert other not in answer.text


def test_partner_people_are_never_our_unmatched_people(api: Api, world: World) -> None:
    people = imported(api, world)
    assert people
    url = f"/api/v1/apps/{world.app_id}/accounts"
    for state in ("onboarded", "unmatched", "guest", "exempted"):
        page = api.client.get(url, params={"state": state, "limit": 500}, headers=api.as_("admin"))
        assert not {item["id"] for item in page.json()["items"]} & set(people)
    apart = api.client.get(url, params={"state": "partner"}, headers=api.as_("admin")).json()
    assert {item["id"] for item in apart["items"]} == set(people)


def test_a_partners_person_is_matched_only_to_a_guest(api: Api, world: World, cast: Cast) -> None:
    person = imported(api, world)[0]
    url = f"/api/v1/accounts/{person}/match"
    refused = api.client.post(url, json={"user_id": cast.member}, headers=api.as_("admin"))
    assert refused.status_code == 409
    assert "guest" in refused.json()["error"]["message"]
    with world.runtime.sessions.begin() as session:
        guest = invite_guest(
            session,
            workspace_id=world.workspace_id,
            email="pat@brightline.example",
            name="Pat Partner",
            actor=Actor.system("tests"),
            base_url="http://bastion.test",
        ).user.id
    matched = api.client.post(url, json={"user_id": guest}, headers=api.as_("admin"))
    assert matched.status_code == 200, matched.text
    assert accounts(world, id=person)[0].state == AccountState.GUEST
    world.check()
    assert accounts(world, id=person)[0].state == AccountState.GUEST
    unmatched = api.client.post(f"/api/v1/accounts/{person}/unmatch", headers=api.as_("admin"))
    assert unmatched.status_code == 200
    assert accounts(world, id=person)[0].state == AccountState.PARTNER


def test_removing_a_partners_person_is_a_manual_step_naming_the_partner(
    api: Api, world: World
) -> None:
    person = imported(api, world)[0]
    answer = api.client.post(
        f"/api/v1/accounts/{person}/removal", json={}, headers=api.as_("admin")
    )
    assert answer.status_code in (200, 202), answer.text
    with world.runtime.sessions() as session:
        operation = session.scalars(select(Operation).where(Operation.account_id == person)).one()
    assert operation.state == OperationState.MANUAL
    assert f"Ask {agency(world).name} to remove" in (operation.manual_steps or "")
    log_before = len(world.sim.request_log.entries(10_000))
    world.check()
    assert not any(
        e["method"] == "DELETE" for e in world.sim.request_log.entries(10_000)[log_before:]
    )
    # The partner removes them from our asset; the next check confirms the step.
    external = accounts(world, id=person)[0].external_id
    for holders in world.sim.state.partner_asset_users.values():
        holders.pop(external, None)
    world.check()
    with world.runtime.sessions() as session:
        assert session.get_one(Operation, operation.id).state == OperationState.SUCCEEDED


def test_the_command_line_sets_lists_and_removes_a_token_read_from_stdin_or_a_file(
    world: World, key_entry: str, tmp_path: Path
) -> None:
    world.check()
    with simulator_on_socket(world.sim) as graph_url:
        _command_line_story(world, worker_env(world, graph_url, key_entry), tmp_path)


def _command_line_story(world: World, env: dict[str, str], tmp_path: Path) -> None:
    env |= {"COLUMNS": "200"}
    partner = agency(world)
    token = world.sim.partner_tokens()[partner.external_id]
    app_ref = str(world.app_id)
    no_token = runner.invoke(cli, ["partners", "token", "set", app_ref, partner.name, *WS], env=env)
    assert no_token.exit_code != 0
    wrong = runner.invoke(
        cli,
        ["partners", "token", "set", app_ref, partner.external_id, *WS],
        env=env,
        input=world.sim.token,
    )
    assert wrong.exit_code != 0 and "is not one of" in wrong.output
    assert world.sim.token not in wrong.output
    done = runner.invoke(
        cli, ["partners", "token", "set", app_ref, str(partner.id), *WS], env=env, input=token
    )
    assert done.exit_code == 0, done.output
    assert token not in done.output
    listed = runner.invoke(cli, ["partners", "list", app_ref, *WS], env=env)
    assert listed.exit_code == 0 and partner.name in listed.output and "set" in listed.output
    assert token not in listed.output
    path = tmp_path / "partner-token"
    path.write_text(world.sim.make_partner_token(partner.external_id) + "\n")
    replaced = runner.invoke(
        cli,
        ["partners", "token", "set", app_ref, partner.name, "--token-file", str(path), *WS],
        env=env,
    )
    assert replaced.exit_code == 0, replaced.output
    removed = runner.invoke(
        cli, ["partners", "token", "remove", app_ref, partner.name, *WS], env=env
    )
    assert removed.exit_code == 0, removed.output
    assert agency(world).token_secret_id is None
    unknown = runner.invoke(cli, ["partners", "token", "remove", app_ref, "nobody", *WS], env=env)
    assert unknown.exit_code != 0 and "no partner" in unknown.output


def test_an_exempted_partners_person_stays_exempted_and_returns_under_its_partner(
    api: Api, world: World
) -> None:
    person = imported(api, world)[0]
    url = f"/api/v1/accounts/{person}/exemption"
    exempted = api.client.post(url, json={"reason": "Agency on contract"}, headers=api.as_("admin"))
    assert exempted.status_code == 200, exempted.text
    world.check()
    assert accounts(world, id=person)[0].state == AccountState.EXEMPTED
    ended = api.client.delete(url, headers=api.as_("admin"))
    assert ended.status_code == 200, ended.text
    assert accounts(world, id=person)[0].state == AccountState.PARTNER
