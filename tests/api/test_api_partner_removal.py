"""A partner's removal with its residue over the API and the command line: gathered, read with
the counts applying removes, trimmed and applied once, owners only."""

from __future__ import annotations

import re

from typer.testing import CliRunner

from bastion.actions.operations import run_due_operations
from bastion.cli import app as cli
from tests.api.api_harness import Api
from tests.checks.conftest import World, worker_env
from tests.checks.test_partner_removal import Residue, _deletes, _partner_id, _residue
from tests.members.member_world import Cast


def _url(world: World, r: Residue) -> str:
    return f"/api/v1/apps/{world.app_id}/partners/{_partner_id(world, r.agency)}/removal"


def test_the_api_gathers_trims_and_applies_a_partner_removal_once(api: Api, world: World) -> None:
    r = _residue(world)
    url = _url(world, r)
    assert api.client.get(url, headers=api.as_("owner")).status_code == 404
    bad = api.client.post(url, json={"domains": ["not a domain"]}, headers=api.as_("owner"))
    assert bad.status_code == 422 and "domains" in bad.text
    refused = api.client.post(url, json={}, headers=api.as_("collaborator"))
    assert refused.status_code == 403

    gathered = api.client.post(
        url, json={"local_partner_id": r.local_partner_id}, headers=api.as_("owner")
    )
    assert gathered.status_code == 201, gathered.text
    body = gathered.json()
    assert body["domains"] == ["brightline.example"]
    by_target = {i["target_external_id"]: i for i in body["items"]}
    assert by_target[r.ann]["kind"] == "person" and by_target[r.ann]["holds"]
    assert by_target[r.agency]["kind"] == "partner"
    assert body["preview"]["seats"] == 2 and body["preview"]["invitations"] == 1
    # The collaborator sees no one's residue.
    assert api.client.get(url, headers=api.as_("collaborator")).status_code == 403

    kept = [i["id"] for i in body["items"] if i["target_external_id"] != r.ben]
    world.sim.request_log.clear()
    applied = api.client.post(f"{url}/apply", json={"item_ids": kept}, headers=api.as_("owner"))
    assert applied.status_code == 202, applied.text
    assert len(applied.json()["operations"]) == len(kept)
    again = api.client.post(f"{url}/apply", json={"item_ids": kept}, headers=api.as_("owner"))
    assert again.status_code == 202 and again.json()["operations"] == []
    run_due_operations(world.runtime)
    assert sum(_deletes(world).values()) == len(kept)

    read = api.client.get(url, headers=api.as_("owner")).json()
    statuses = {i["target_external_id"]: i["status"] for i in read["items"]}
    assert statuses[r.ben] == "trimmed" and statuses[r.ann] == "succeeded"
    assert read["applied_at"] is not None and read["preview"]["item_ids"] == []


def test_the_command_line_shows_the_batch_and_applies_it_on_yes(
    world: World, cast: Cast, key_entry: str
) -> None:
    r = _residue(world)
    runner = CliRunner()
    env = worker_env(world, "http://graph.invalid", key_entry) | {"COLUMNS": "200"}
    args = ["partners", "remove", "Northwind Meta", r.agency, "--workspace", "northwind"]
    asked = runner.invoke(cli, [*args, "--domain", "brightline.example"], input="n\n", env=env)
    assert asked.exit_code == 1, asked.output
    assert "removes 2 people, 1 seat, 1 pending invitation" in asked.output
    assert "Ann Archer" in asked.output and "nothing applied" in asked.output
    assert run_due_operations(world.runtime) == {}

    unknown = runner.invoke(cli, [*args, "--skip", "999999", "--yes"], env=env)
    assert unknown.exit_code != 0 and "no item 999999" in unknown.output

    listed = runner.invoke(cli, [*args, "--domain", "brightline.example"], input="n\n", env=env)
    [ann_item] = re.findall(r"(\d+)\W+person\W+Ann Archer", listed.output)
    done = runner.invoke(
        cli, [*args, "--domain", "brightline.example", "--skip", ann_item, "--yes"], env=env
    )
    assert done.exit_code == 0, done.output
    assert "removes 1 person, 0 seats, 1 pending invitation" in done.output
    world.sim.request_log.clear()
    counts = run_due_operations(world.runtime)
    assert counts == {"succeeded": sum(counts.values())} and counts
    people = {p["id"] for p in world.sim.dump()["people"]}
    assert r.ann in people  # skipped: stays
    assert r.agency not in {p["id"] for p in world.sim.dump()["partners"]}
