"""`bastion tokens`: a token made on the command line opens the API, until it is revoked."""

from __future__ import annotations

import httpx
from typer.testing import CliRunner

from bastion.app import create_app
from bastion.cli import app
from bastion.concurrency import run_sync
from tests.checks.conftest import World, worker_env

runner = CliRunner()


def _get_me(world: World, token: str) -> httpx.Response:
    async def call() -> httpx.Response:
        transport = httpx.ASGITransport(app=create_app(world.runtime))
        async with httpx.AsyncClient(transport=transport, base_url="http://bastion.test") as c:
            return await c.get("/api/v1/me", headers={"Authorization": f"Bearer {token}"})

    return run_sync(call())


def test_a_token_created_on_the_command_line_works_until_revoked(
    world: World, key_entry: str
) -> None:
    env = worker_env(world, "http://127.0.0.1:1", key_entry) | {"COLUMNS": "200"}
    args = ["--workspace", "northwind"]
    created = runner.invoke(
        app,
        ["tokens", "create", "--user", "OWNER@northwind.test", "--name", "export", *args],
        env=env,
    )
    assert created.exit_code == 0, created.output
    token = created.output.strip().splitlines()[-1].strip()
    assert token.startswith("bst_api_")
    assert _get_me(world, token).status_code == 200

    listed = runner.invoke(app, ["tokens", "list", *args], env=env)
    assert "export" in listed.output and "owner@northwind.test" in listed.output
    assert token not in listed.output
    token_id = created.output.split("token ")[1].split()[0]
    revoked = runner.invoke(app, ["tokens", "revoke", token_id, *args], env=env)
    assert revoked.exit_code == 0, revoked.output
    assert _get_me(world, token).status_code == 401


def test_bad_token_requests_name_the_problem(world: World, key_entry: str) -> None:
    env = worker_env(world, "http://127.0.0.1:1", key_entry)
    args = ["--workspace", "northwind"]
    unknown = runner.invoke(
        app, ["tokens", "create", "--user", "nobody@x.test", "--name", "x", *args], env=env
    )
    assert unknown.exit_code == 2 and "no person with e-mail" in unknown.output
    expiry = runner.invoke(
        app,
        [
            "tokens",
            "create",
            "--user",
            "owner@northwind.test",
            "--name",
            "x",
            "--expires-days",
            "0",
            *args,
        ],
        env=env,
    )
    assert expiry.exit_code == 2 and "--expires-days" in expiry.output
