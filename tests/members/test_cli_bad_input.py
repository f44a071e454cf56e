"""`bastion apps connect` given files that are not a token or App secret: exit code 2 with what
is wrong with the file (never what it holds), before Meta is asked anything, and the database
exactly as it was. A single trailing newline is what editors write: it is the token."""

from __future__ import annotations

from pathlib import Path

import pytest
from typer.testing import CliRunner

from bastion.cli import app
from tests.checks.conftest import World, simulator_on_socket, worker_env
from tests.one_business import free_the_business
from tests.row_counts import database_state

runner = CliRunner()


def _connect(world: World, env: dict[str, str], *options: str, stdin: str | None = None) -> str:
    args = [
        "apps", "connect", "--label", "Second Meta", "--business-id", world.sim.business_id,
        "--app-id", world.sim.app_id, "--workspace", "northwind", *options,
    ]  # fmt: skip
    result = runner.invoke(app, args, input=stdin, env=env)
    assert result.exit_code == 2, result.output
    assert "Traceback" not in result.output and "reach Meta" not in result.output
    assert world.sim.token not in result.output
    return result.output


@pytest.mark.parametrize(
    ("content", "words"),
    [
        ("{token}\n{token}\n", "holds more than one line; it should hold the token alone"),
        ("# my token\n{token}\n", "holds more than one line"),
        ("", "is empty"),
        ("\n\n", "is empty"),
        (b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR\xff\xfe", "is not text"),
        ("{token}\x07\n", "holds control characters"),
        ("A" * 100_000, "is longer than a token can be"),
    ],
)
def test_a_token_file_that_is_not_a_token_is_refused_naming_the_file(
    world: World, key_entry: str, tmp_path: Path, content: str | bytes, words: str
) -> None:
    token_file = tmp_path / "token.txt"
    if isinstance(content, bytes):
        token_file.write_bytes(content)
    else:
        token_file.write_text(content.format(token=world.sim.token), encoding="utf-8")
    before = database_state(world.runtime.engine)
    env = worker_env(world, "http://graph.invalid", key_entry)
    output = _connect(world, env, "--token-file", str(token_file))
    assert f"the token file {token_file} {words}" in output
    assert database_state(world.runtime.engine) == before


def test_an_app_secret_file_of_several_lines_is_refused_naming_the_file(
    world: World, key_entry: str, tmp_path: Path
) -> None:
    token_file, secret_file = tmp_path / "token", tmp_path / "secret"
    token_file.write_text(world.sim.token + "\n", encoding="utf-8")
    secret_file.write_text("first\nsecond\n", encoding="utf-8")
    before = database_state(world.runtime.engine)
    env = worker_env(world, "http://graph.invalid", key_entry)
    output = _connect(
        world, env, "--token-file", str(token_file), "--app-secret-file", str(secret_file)
    )
    assert f"the App secret file {secret_file} holds more than one line" in output
    assert database_state(world.runtime.engine) == before


def test_files_that_cannot_be_read_are_named_without_a_traceback(
    world: World, key_entry: str, tmp_path: Path
) -> None:
    token_file = tmp_path / "token"
    token_file.write_text(world.sim.token, encoding="utf-8")
    before = database_state(world.runtime.engine)
    env = worker_env(world, "http://graph.invalid", key_entry)
    missing = tmp_path / "nonexistent"
    output = _connect(world, env, "--token-file", str(missing))
    assert f"cannot read {missing}: no such file" in output
    output = _connect(
        world, env, "--token-file", str(token_file), "--app-secret-file", str(missing)
    )
    assert f"cannot read {missing}: no such file" in output
    output = _connect(world, env, "--token-file", str(tmp_path))
    assert f"cannot read {tmp_path}: it is a directory, not a file" in output
    assert database_state(world.runtime.engine) == before


def test_a_token_of_several_lines_on_stdin_is_refused_naming_the_token(
    world: World, key_entry: str
) -> None:
    before = database_state(world.runtime.engine)
    env = worker_env(world, "http://graph.invalid", key_entry)
    output = _connect(world, env, stdin=f"{world.sim.token}\n{world.sim.token}\n")
    assert "error: token: holds more than one line" in output
    assert database_state(world.runtime.engine) == before


@pytest.mark.parametrize("ending", ["\n", "\r\n"])
def test_a_token_file_ending_in_a_newline_connects(
    world: World, key_entry: str, tmp_path: Path, ending: str
) -> None:
    free_the_business(world)
    token_file = tmp_path / "token"
    token_file.write_bytes((world.sim.token + ending).encode())
    with simulator_on_socket(world.sim) as graph_url:
        env = worker_env(world, graph_url, key_entry)
        args = [
            "apps", "connect", "--label", "Second Meta", "--business-id", world.sim.business_id,
            "--app-id", world.sim.app_id, "--token-file", str(token_file),
            "--workspace", "northwind",
        ]  # fmt: skip
        result = runner.invoke(app, args, env=env)
    assert result.exit_code == 0, result.output
    assert "connected app" in result.output
