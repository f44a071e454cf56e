"""`bastion members …` and `bastion apps connect` against the checked world."""

from __future__ import annotations

import csv
import io
import json

from sqlalchemy import select
from typer.testing import CliRunner

from bastion.cli import app
from bastion.storage.models import Operation
from bastion.storage.models.enums import AccountState, OperationKind
from tests.checks.conftest import World, simulator_on_socket, worker_env
from tests.members.member_world import accounts
from tests.one_business import free_the_business

runner = CliRunner()


def test_list_exempt_and_remove_from_the_command_line(world: World, key_entry: str) -> None:
    world.check()
    env = worker_env(world, "http://graph.invalid", key_entry)
    ws = ("--workspace", "northwind")
    listed = runner.invoke(
        app, ["members", "list", "1", "--state", "unmatched", "--format", "csv", *ws], env=env
    )
    assert listed.exit_code == 0, listed.output
    ids = [int(r["id"]) for r in csv.DictReader(io.StringIO(listed.output))]
    assert set(ids) == {a.id for a in accounts(world, state=AccountState.UNMATCHED)}
    as_json = runner.invoke(app, ["members", "list", "1", "--format", "json", *ws], env=env)
    assert len(json.loads(as_json.output)) == len(accounts(world))
    exempted = runner.invoke(
        app, ["members", "exempt", str(ids[0]), "--reason", "Shared inbox", *ws], env=env
    )
    assert exempted.exit_code == 0, exempted.output
    assert accounts(world, id=ids[0])[0].state == AccountState.EXEMPTED
    empty = runner.invoke(app, ["members", "exempt", str(ids[1]), "--reason", " ", *ws], env=env)
    assert empty.exit_code != 0 and "reason" in empty.output
    removed = runner.invoke(
        app, ["members", "remove", str(ids[1]), "999999", "--force", *ws], env=env
    )
    assert removed.exit_code == 1
    assert f"account {ids[1]}: operation" in removed.output
    assert "account 999999: Account 999999 not found" in removed.output
    with world.runtime.sessions() as session:
        kinds = list(session.scalars(select(Operation.kind)))
    assert kinds == [OperationKind.REMOVE]


def test_apps_connect_reads_the_token_from_stdin_only(world: World, key_entry: str) -> None:
    free_the_business(world)
    with simulator_on_socket(world.sim) as graph_url:
        env = worker_env(world, graph_url, key_entry)
        args = [
            "apps", "connect", "--label", "Second Meta", "--business-id", world.sim.business_id,
            "--app-id", world.sim.app_id, "--workspace", "northwind",
        ]  # fmt: skip
        connected = runner.invoke(app, args, input=world.sim.token + "\n", env=env)
    assert connected.exit_code == 0, connected.output
    assert "Second Meta" in connected.output
    assert world.sim.token not in connected.output
