"""System users over the API and the command line: never among people in lists, filters and the
CSV export; Bastion's own refused with a 409 that says why; the blast radius names the keepers."""

from __future__ import annotations

import csv
import io

from sqlalchemy import select
from typer.testing import CliRunner

from bastion.cli import app as cli
from bastion.storage.models import Asset, Grant, Operation
from bastion.storage.models.enums import AccountKind
from tests.api.api_harness import Api
from tests.checks.conftest import World, worker_env
from tests.members.member_world import Cast, accounts
from tests.members.system_user_world import sole_person_manager


def own_id(world: World) -> int:
    return accounts(world, external_id=world.sim.admin_system_user_id)[0].id


def test_no_people_filter_or_export_lists_a_system_user(api: Api, world: World) -> None:
    url = f"/api/v1/apps/{world.app_id}/accounts"
    system = {a.id for a in accounts(world, kind=AccountKind.SYSTEM_USER)}
    assert system
    for state in ("onboarded", "unmatched", "guest", "exempted"):
        page = api.client.get(url, params={"state": state, "limit": 500}, headers=api.as_("admin"))
        assert page.status_code == 200
        assert not {item["id"] for item in page.json()["items"]} & system
        export = api.client.get(
            f"{url}/export.csv", params={"state": state}, headers=api.as_("admin")
        )
        assert not {int(r["id"]) for r in csv.DictReader(io.StringIO(export.text))} & system
    apart = api.client.get(url, params={"kind": "system_user"}, headers=api.as_("admin")).json()
    assert {i["id"] for i in apart["items"]} == system
    assert {i["state"] for i in apart["items"]} == {"system_user"}
    by_state = api.client.get(url, params={"state": "system_user"}, headers=api.as_("admin"))
    assert {i["id"] for i in by_state.json()["items"]} == system


def test_bastions_own_system_user_answers_409_naming_why(api: Api, world: World) -> None:
    own = own_id(world)
    removal = api.client.post(
        f"/api/v1/accounts/{own}/removal", json={"force": True}, headers=api.as_("admin")
    )
    assert removal.status_code == 409
    assert removal.json()["error"]["code"] == "conflict"
    assert "Bastion's own system user" in removal.json()["error"]["message"]
    assert "cut Bastion off" in removal.json()["error"]["message"]
    demotion = api.client.post(
        f"/api/v1/accounts/{own}/role", json={"role": "EMPLOYEE"}, headers=api.as_("admin")
    )
    assert demotion.status_code == 409
    assert "never demotes it" in demotion.json()["error"]["message"]
    exemption = api.client.post(
        f"/api/v1/accounts/{own}/exemption", json={"reason": "robot"}, headers=api.as_("admin")
    )
    assert exemption.status_code == 409
    assert "is a system user, not a person" in exemption.json()["error"]["message"]
    with world.runtime.sessions() as session:
        assert session.scalars(select(Operation)).first() is None


def test_the_blast_radius_answer_names_the_keepers_of_each_asset(api: Api, world: World) -> None:
    with world.runtime.sessions() as session:
        person, asset_id = sole_person_manager(session)
        held = session.scalars(
            select(Grant.asset_id).where(Grant.account_id == person, Grant.present.is_(True))
        ).all()
    answer = api.client.get(f"/api/v1/accounts/{person}/blast-radius", headers=api.as_("owner"))
    assert answer.status_code == 200
    body = answer.json()
    orphaned = {a["asset_id"] for a in body["orphaned_assets"]}
    assert asset_id in orphaned
    assets = {a["asset_id"]: a for a in body["assets"]}
    assert assets[asset_id] | {"orphaned": True, "people": [], "partners": []} == assets[asset_id]
    assert set(assets) <= set(held)
    assert {a for a, v in assets.items() if v["orphaned"]} == orphaned
    assert all(v["people"] or v["partners"] for v in assets.values() if not v["orphaned"])
    assert body["admins_left"]
    refused = api.client.post(
        f"/api/v1/accounts/{person}/removal", json={}, headers=api.as_("owner")
    )
    assert refused.status_code == 409
    assert "system users do not count" in refused.json()["error"]["message"]
    forced = api.client.post(
        f"/api/v1/accounts/{person}/removal", json={"force": True}, headers=api.as_("owner")
    )
    assert forced.status_code == 202


def test_the_command_line_refuses_bastions_own_and_prints_the_blast_radius(
    world: World, cast: Cast, key_entry: str
) -> None:
    runner = CliRunner()
    env = worker_env(world, "http://graph.invalid", key_entry)
    ws = ("--workspace", "northwind")
    refused = runner.invoke(cli, ["members", "remove", str(own_id(world)), "--force", *ws], env=env)
    assert refused.exit_code == 1
    assert "Bastion's own system user" in refused.output
    with world.runtime.sessions() as session:
        person, asset_id = sole_person_manager(session)
        asset = session.get_one(Asset, asset_id)
    radius = runner.invoke(cli, ["members", "blast-radius", str(person), *ws], env=env)
    assert radius.exit_code == 0, radius.output
    assert f"{asset.name} would lose full control (system users do not count)" in radius.output
    with world.runtime.sessions() as session:
        assert session.scalars(select(Operation)).first() is None
