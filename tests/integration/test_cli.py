"""The command line as an operator uses it, on a real SQLite file."""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlalchemy import update
from typer.testing import CliRunner

from bastion.cli import app
from bastion.security.vault import new_key_entry
from bastion.storage.db import make_engine
from bastion.storage.models import AuditEvent

runner = CliRunner()


@pytest.fixture
def env(tmp_path: Path) -> dict[str, str]:
    return {
        "BASTION_DATA_DIR": str(tmp_path),
        "BASTION_SECRET_KEYS": new_key_entry("k1"),
        "BASTION_LOG_LEVEL": "warning",
    }


def invoke(env: dict[str, str], *args: str) -> tuple[int, str]:
    result = runner.invoke(app, list(args), env=env)
    return result.exit_code, result.output


def test_every_command_has_help_text() -> None:
    for args in (
        [],
        ["migrate"],
        ["serve"],
        ["demo"],
        ["users", "create-admin"],
        ["workspaces", "create"],
        ["workspaces", "list"],
        ["keys", "rotate"],
        ["keys", "generate"],
        ["audit", "verify"],
    ):
        result = runner.invoke(app, [*args, "--help"])
        assert result.exit_code == 0, args
        assert "Usage" in result.output


def test_migrate_then_create_an_admin_then_verify_the_audit_log(
    env: dict[str, str], tmp_path: Path
) -> None:
    code, output = invoke(env, "migrate")
    assert code == 0, output
    assert "database at revision" in output

    code, output = invoke(env, "users", "create-admin", "--email", "admin@example.com")
    assert code == 2
    assert "no workspace 'default'; create it with `bastion workspaces create NAME`" in output

    code, output = invoke(env, "workspaces", "list")
    assert (code, output.strip()) == (0, "no workspace yet: bastion workspaces create NAME")
    code, output = invoke(env, "workspaces", "create", "Acme")
    assert code == 0, output
    assert "created workspace default (Acme)" in output
    code, output = invoke(env, "workspaces", "create", "Acme again")
    assert code == 2
    assert "exists already" in output
    code, output = invoke(env, "workspaces", "create", "Globex", "--slug", "Not A Slug")
    assert code == 2
    assert "slug" in output
    code, output = invoke(env, "workspaces", "list")
    assert code == 0 and output.startswith("default\tAcme\t")

    code, output = invoke(env, "users", "create-admin", "--email", "ADMIN@example.com")
    assert code == 0, output
    password = output.strip().splitlines()[-1].strip()
    assert len(password) >= 20

    code, output = invoke(env, "users", "create-admin", "--email", "admin@example.com")
    assert code == 2
    assert "exists already" in output

    code, output = invoke(env, "audit", "verify")
    assert code == 0, output
    assert "workspace default: 2 events, intact" in output

    engine = make_engine(f"sqlite:///{tmp_path / 'bastion.db'}")
    with engine.begin() as connection:
        connection.execute(update(AuditEvent).where(AuditEvent.seq == 2).values(actor="nobody"))
    engine.dispose()
    code, output = invoke(env, "audit", "verify")
    assert code == 1
    assert "audit event #2: was changed after it was written" in output


def test_a_bad_setting_stops_a_command_with_the_variable_named(env: dict[str, str]) -> None:
    code, output = invoke({**env, "BASTION_PORT": "zero"}, "migrate")
    assert code == 2
    assert "BASTION_PORT" in output


def test_serve_refuses_to_start_without_any_key(tmp_path: Path) -> None:
    code, output = invoke({"BASTION_DATA_DIR": str(tmp_path)}, "serve")
    assert code == 2
    assert "no secret key: set BASTION_SECRET_KEYS" in output


def test_keys_rotate_re_encrypts_under_the_first_key(env: dict[str, str], tmp_path: Path) -> None:
    from bastion.actions.actors import Actor
    from bastion.actions.secrets import read_secret, store_secret
    from bastion.actions.workspaces import create_workspace
    from bastion.security.vault import KeyRing
    from bastion.storage.db import make_session_factory
    from bastion.storage.models import Secret

    assert invoke(env, "migrate")[0] == 0
    old_ring = KeyRing.parse(env["BASTION_SECRET_KEYS"])
    engine = make_engine(f"sqlite:///{tmp_path / 'bastion.db'}")
    sessions = make_session_factory(engine)
    with sessions.begin() as session:
        workspace = create_workspace(session, name="Acme", slug="default", actor=Actor.cli())
        secret = store_secret(
            session, old_ring, workspace_id=workspace.id, purpose="app.token", value="EAAxyz123"
        )

    new_entry = new_key_entry("k2")
    code, output = invoke(
        {**env, "BASTION_SECRET_KEYS": f"{new_entry},{env['BASTION_SECRET_KEYS']}"},
        "keys",
        "rotate",
    )
    assert code == 0, output
    assert "re-encrypted 1 secret(s) under key k2" in output
    with sessions() as session:
        assert session.get_one(Secret, secret.id).key_id == "k2"
        value = read_secret(
            session, KeyRing.parse(new_entry), workspace_id=workspace.id, secret_id=secret.id
        )
        assert value == "EAAxyz123"
    engine.dispose()


def test_keys_generate_prints_a_usable_entry() -> None:
    from bastion.security.vault import KeyRing

    result = runner.invoke(app, ["keys", "generate"])
    assert result.exit_code == 0
    assert KeyRing.parse(result.output.strip()).current_id.startswith("k")
