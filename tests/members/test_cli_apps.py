"""`bastion apps connect --app-secret-file`, `apps list` and `apps show`: the token's expiry and
the business's verification status from the command line, and never a secret.

The App-secret path depends on the simulator accepting ``{app_id}|{app_secret}`` as the caller
of ``debug_token`` (as Meta does).
"""

from __future__ import annotations

import time
from pathlib import Path

from typer.testing import CliRunner

from bastion.cli import app
from tests.checks.conftest import World, simulator_on_socket, worker_env
from tests.one_business import free_the_business

runner = CliRunner()
WS = ("--workspace", "northwind")


def test_apps_connect_takes_the_app_secret_from_a_file_and_never_echoes_it(
    world: World, key_entry: str, tmp_path: Path
) -> None:
    free_the_business(world)
    secret = world.sim.app_secret or ""
    secret_file = tmp_path / "app-secret"
    secret_file.write_text(secret + "\n", encoding="utf-8")
    token = world.sim.make_token(expires_at=int(time.time()) + 45 * 86_400)
    with simulator_on_socket(world.sim) as graph_url:
        env = worker_env(world, graph_url, key_entry) | {"COLUMNS": "250"}
        args = [
            "apps", "connect", "--label", "Second Meta", "--business-id", world.sim.business_id,
            "--app-id", world.sim.app_id, "--app-secret-file", str(secret_file), *WS,
        ]  # fmt: skip
        connected = runner.invoke(app, args, input=token + "\n", env=env)
        assert connected.exit_code == 0, connected.output
        assert "warning: The token expires on" in connected.output
        assert "note: without --app-secret-file" not in connected.output
        shown = runner.invoke(app, ["apps", "show", "Second Meta", *WS], env=env)
        listed = runner.invoke(app, ["apps", "list", *WS], env=env)
    assert shown.exit_code == 0, shown.output
    assert "app secret: set" in shown.output
    assert "business verification: verified" in shown.output
    expires = [line for line in shown.output.splitlines() if line.startswith("token expires:")]
    assert expires and "unknown" not in expires[0] and "never" not in expires[0]
    assert listed.exit_code == 0, listed.output
    for output in (connected.output, shown.output, listed.output):
        for hidden in (secret, token, f"{world.sim.app_id}|{secret}"):
            assert hidden not in output


def test_apps_show_says_the_expiry_is_unknown_without_the_app_secret(
    world: World, key_entry: str
) -> None:
    env = worker_env(world, "http://graph.invalid", key_entry)
    shown = runner.invoke(app, ["apps", "show", str(world.app_id), *WS], env=env)
    assert shown.exit_code == 0, shown.output
    assert "token expires: unknown (no App secret)" in shown.output
    assert "app secret: not set" in shown.output
    # The warnings of the last connection check (the simulated business requires two-factor).
    assert "warning: The business requires two-factor" in shown.output
