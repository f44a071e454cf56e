"""`bastion credentials list` and `bastion apps credential-policy`: the status of saved logins
and the app's policy from the command line, never a value (and no command reveals one)."""

from __future__ import annotations

import json

from typer.testing import CliRunner

from bastion.actions.credentials import save_credentials
from bastion.cli import app
from tests.checks.conftest import simulator_on_socket, worker_env
from tests.credentials.vault_world import PIA_LOGIN, PIA_PASSWORD, Vault

runner = CliRunner()
WS = ("--workspace", "northwind")


def test_owners_read_the_status_and_set_the_policy_from_the_command_line(
    vault: Vault, key_entry: str
) -> None:
    with vault.world.runtime.sessions.begin() as session:
        save_credentials(
            session,
            vault.ring,
            account_id=vault.pia_account,
            actor=vault.actor(vault.pia),
            login=PIA_LOGIN,
            password=PIA_PASSWORD,
            totp=None,
        )
    app_id = str(vault.world.app_id)
    with simulator_on_socket(vault.world.sim) as graph_url:
        env = worker_env(vault.world, graph_url, key_entry) | {"COLUMNS": "200"}
        policy = runner.invoke(
            app,
            [
                "apps",
                "credential-policy",
                app_id,
                "--rotation-days",
                "30",
                "--rotate-after-reveal",
                *WS,
            ],
            env=env,
        )
        kept = runner.invoke(
            app, ["apps", "credential-policy", app_id, "--no-require-two-factor", *WS], env=env
        )
        both = runner.invoke(
            app,
            ["apps", "credential-policy", app_id, "--rotation-days", "3", "--no-rotation", *WS],
            env=env,
        )
        listed = runner.invoke(app, ["credentials", "list", "--app", app_id, *WS], env=env)
        as_json = runner.invoke(
            app, ["credentials", "list", "--app", app_id, "--format", "json", *WS], env=env
        )
        revealed = runner.invoke(app, ["credentials", "reveal", "--app", app_id, *WS], env=env)
    assert policy.exit_code == 0, policy.output
    assert (
        "two-factor required" in policy.output
        and "every 30 days, and after each reveal" in policy.output
    )
    assert (
        kept.exit_code == 0
        and "two-factor optional" in kept.output
        and "every 30 days" in kept.output
    )
    assert both.exit_code == 2 and "not both" in both.output
    assert listed.exit_code == 0, listed.output
    assert "Pia Seat" in listed.output and "scheduled" in listed.output
    (row,) = json.loads(as_json.output)
    assert row["account_id"] == vault.pia_account and row["two_factor"] is False
    assert revealed.exit_code != 0
    for output in (policy.output, listed.output, as_json.output):
        assert PIA_LOGIN not in output and PIA_PASSWORD not in output
    assert [e.actor for e in vault.events("app.credential_policy_changed")] == ["cli", "cli"]
