"""The check, report and operations commands, against the simulator over a socket."""

from __future__ import annotations

from typer.testing import CliRunner

from bastion.cli import app
from bastion.jobs import Jobs
from tests.checks.conftest import World, simulator_on_socket, worker_env

runner = CliRunner()


def run(env: dict[str, str], *args: str) -> str:
    result = runner.invoke(app, list(args), env=env)
    assert result.exit_code == 0, result.output
    return result.output


def test_check_runs_report_and_operations_from_the_command_line(
    world: World, key_entry: str
) -> None:
    with simulator_on_socket(world.sim) as graph_url:
        env = worker_env(world, graph_url, key_entry) | {"COLUMNS": "200"}
        assert "Northwind Meta" in run(env, "apps", "list", "--workspace", "northwind")
        output = run(env, "check", "Northwind Meta", "--wait", "--workspace", "northwind")
        assert "succeeded" in output and "accounts:" in output
        assert "manual" in run(env, "runs", "list", str(world.app_id), "--workspace", "northwind")
        assert "no changes" in run(env, "changes", str(world.app_id), "--workspace", "northwind")
        report = run(env, "report", "show", str(world.app_id), "--workspace", "northwind")
        assert "pending" in report and "deprovisioned" in report
        report_id = report.split("report ")[1].split()[0]
        applied = run(env, "report", "apply", report_id, "--yes", "--workspace", "northwind")
        assert f"Applying report {report_id} removes" in applied
        assert "removal(s) queued" in applied
        listed = run(env, "operations", "list", str(world.app_id), "--workspace", "northwind")
        assert "remove" in listed and "queued" in listed
        queued = run(env, "check", str(world.app_id), "--workspace", "northwind")
        assert "queued" in queued
    with Jobs(world.runtime) as jobs:
        # the removals and the check wait for a worker
        assert jobs.huey.pending_count() >= 2


def test_unknown_apps_and_bad_options_fail_with_a_message(world: World, key_entry: str) -> None:
    env = worker_env(world, "http://127.0.0.1:1", key_entry)
    result = runner.invoke(app, ["check", "Nope", "--workspace", "northwind"], env=env)
    assert result.exit_code == 2
    assert "no app 'Nope'" in result.output
    result = runner.invoke(
        app,
        ["check", str(world.app_id), "--override-safeguard", "--workspace", "northwind"],
        env=env,
    )
    assert result.exit_code == 2 and "needs --wait" in result.output
