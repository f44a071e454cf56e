"""`bastion directory import` fed what breaks imports: a huge file, a huge field, NUL characters,
bytes that are not UTF-8, a path that is not a file. Each is a clear error naming the line and
column (never a person), exit code 2, and a database left exactly as it was."""

from __future__ import annotations

import os
from datetime import timedelta
from pathlib import Path

import pytest
from sqlalchemy import Engine, func, select
from typer.testing import CliRunner

from bastion.actions.actors import Actor
from bastion.actions.directory import create_person
from bastion.cli import app
from bastion.directory.csv_import import DirectoryImport
from bastion.directory_records import EmailRecord, PersonRecord
from bastion.storage.db import make_session_factory, transaction
from bastion.storage.models import Team, TeamMember, User
from bastion.storage.models.enums import UserSource
from tests.factories import make_workspace
from tests.row_counts import database_state

HEADER = "email,name,external_id,status,secondary_emails,groups\n"


@pytest.fixture
def bastion(engine: Engine, tmp_path: Path) -> CliRunner:
    """The `bastion` command on a migrated database (SQLite, then PostgreSQL)."""
    with transaction(make_session_factory(engine)) as session:
        make_workspace(session, "default")
    env = {
        "BASTION_DATABASE_URL": engine.url.render_as_string(hide_password=False),
        "BASTION_DATA_DIR": str(tmp_path / "data"),
    }
    return CliRunner(
        env={**{k: v for k, v in os.environ.items() if not k.startswith("BASTION_")}, **env}
    )


def _import(bastion: CliRunner, file: Path, *options: str) -> tuple[int, str]:
    result = bastion.invoke(app, ["directory", "import", str(file), *options])
    return result.exit_code, result.output


def test_seventy_thousand_lines_import_and_import_again_unchanged(
    bastion: CliRunner, engine: Engine, tmp_path: Path
) -> None:
    """Once OperationalError on PostgreSQL and "too many SQL variables" on SQLite."""
    file = tmp_path / "people.csv"
    with file.open("w", encoding="utf-8") as out:
        out.write(HEADER)
        out.writelines(f"p{n}@acme.test,Person {n},e{n},active,,Everyone\n" for n in range(70_000))
    code, output = _import(bastion, file)
    assert code == 0, output[-2000:]
    assert "70000 to create" in output and "… and 69900 more line(s)" in output
    with make_session_factory(engine)() as session:
        assert session.scalar(select(func.count()).select_from(User)) == 70_000
        team = session.scalars(select(Team)).one()
        members = select(func.count()).where(TeamMember.team_id == team.id)
        assert session.scalar(members) == 70_000
    code, output = _import(bastion, file, "--dry-run")
    assert code == 0, output[-2000:]
    assert "0 to create, 0 to update, 0 to deprovision, 0 to reactivate; 70000 unchanged" in output


def test_a_nul_character_in_a_field_is_refused_naming_the_column(
    bastion: CliRunner, engine: Engine, tmp_path: Path
) -> None:
    file = tmp_path / "people.csv"
    file.write_text(
        HEADER + "ann@acme.test,Ann,e1,active,,\n" + "bo@acme.test,Bo\x00Ng,e2,active,,Sales\n"
    )
    before = database_state(engine)
    code, output = _import(bastion, file)
    assert code == 2
    assert "line 3: name: must not contain NUL characters" in output
    assert "Bo" not in output and "acme.test" not in output
    assert database_state(engine) == before

    code, output = _import(bastion, file, "--skip-invalid")
    assert code == 0, output
    with make_session_factory(engine)() as session:
        assert list(session.scalars(select(User.user_name))) == ["ann@acme.test"]
        assert list(session.scalars(select(Team.display_name))) == []


def test_a_fifty_megabyte_field_is_refused_as_too_long_even_with_skip_invalid(
    bastion: CliRunner, engine: Engine, tmp_path: Path
) -> None:
    file = tmp_path / "people.csv"
    with file.open("w", encoding="utf-8") as out:
        out.write(HEADER + "ann@acme.test,Ann,e1,active,,\n")
        out.write("bo@acme.test," + "B" * 50_000_000 + ",e2,active,,\n")
        out.write("cy@acme.test,Cy,e3,active,,\n")
    before = database_state(engine)
    for options in ((), ("--skip-invalid",)):
        code, output = _import(bastion, file, *options)
        assert code == 2, output[-2000:]
        assert "line 3: field too long" in output
        assert "nothing imported" in output
        assert "Traceback" not in output and "acme.test" not in output
        assert len(output) < 2000
    assert database_state(engine) == before


def test_a_quoted_field_that_never_ends_is_too_long_not_a_traceback(
    bastion: CliRunner, engine: Engine, tmp_path: Path
) -> None:
    file = tmp_path / "people.csv"
    with file.open("w", encoding="utf-8") as out:
        out.write(HEADER + 'ann@acme.test,"Ann\n')
        out.writelines("more of the same name\n" for _ in range(10_000))
    before = database_state(engine)
    code, output = _import(bastion, file)
    assert code == 2
    assert "line 2: field too long" in output and "Traceback" not in output
    assert database_state(engine) == before


def test_bytes_that_are_not_utf8_stop_the_import_at_their_line(
    bastion: CliRunner, engine: Engine, tmp_path: Path
) -> None:
    file = tmp_path / "people.csv"
    file.write_bytes(
        HEADER.encode() + b"ann@acme.test,Ann,e1,active,,\n" + b"bo@acme.test,B\xff\xfe,e2,,,\n"
    )
    before = database_state(engine)
    code, output = _import(bastion, file, "--skip-invalid")
    assert code == 2
    assert "line 3: is not UTF-8 text; save the file as CSV UTF-8" in output
    assert database_state(engine) == before


def test_a_path_that_is_not_a_readable_file_is_named(
    bastion: CliRunner, engine: Engine, tmp_path: Path
) -> None:
    before = database_state(engine)
    code, output = _import(bastion, tmp_path / "nonexistent.csv")
    assert code == 2
    assert f"cannot read {tmp_path / 'nonexistent.csv'}: no such file" in output
    code, output = _import(bastion, tmp_path)
    assert code == 2
    assert f"cannot read {tmp_path}: it is a directory, not a file" in output
    assert "Traceback" not in output
    assert database_state(engine) == before


def test_line_errors_name_the_column_and_never_the_person(
    bastion: CliRunner, engine: Engine, tmp_path: Path
) -> None:
    file = tmp_path / "people.csv"
    file.write_text(
        HEADER
        + "ann@acme.test,Ann Lee,e1,active,,\n"
        # The name landed in the status column: the error must not repeat it.
        + "bo@acme.test,e2,Bo Private-Name,,\n"
        + "cy@acme.test,Cy,e3,Cy Private-Name,,\n"
        + "dee@acme.test," + "D" * 201 + ",e4,active,,\n"
        + "eve@acme.test,Eve,e5,active,not-an-address,\n"
        + "fay@acme.test,Fay,e6,active,," + "G" * 201 + "\n"
        + "ann@ACME.test,Ann again,e7,active,,\n"
    )  # fmt: skip
    before = database_state(engine)
    code, output = _import(bastion, file)
    assert code == 2
    for expected in (
        "line 3: has 5 cells, the header has 6",
        "line 4: status: must be active or deprovisioned (or empty for active)",
        "line 5: name: is longer than 200 characters",
        "line 6: secondary_emails: is not an e-mail address",
        "line 7: groups: a group name is longer than 200 characters",
        "line 8: email: already on line 2",
        "6 invalid line(s); nothing imported",
    ):
        assert expected in output
    for private in ("Private-Name", "not-an-address", "acme.test", "Ann"):
        assert private not in output
    assert database_state(engine) == before


def test_a_header_naming_a_column_twice_is_refused(
    bastion: CliRunner, engine: Engine, tmp_path: Path
) -> None:
    file = tmp_path / "people.csv"
    file.write_text("email,mail,name\nann@acme.test,ann@acme.test,Ann\n")
    before = database_state(engine)
    code, output = _import(bastion, file, "--skip-invalid")
    assert code == 2
    assert "line 1: the email column is there twice" in output
    assert database_state(engine) == before


def test_an_import_that_fails_half_way_leaves_nothing(engine: Engine, tmp_path: Path) -> None:
    """The checks pass, then a late batch conflicts (SCIM created the same person meanwhile):
    the batches already written go back with it."""
    sessions = make_session_factory(engine)
    with transaction(sessions) as session:
        workspace_id = make_workspace(session, "acme").id
    before = database_state(engine)
    file = tmp_path / "people.csv"
    file.write_text(HEADER + "".join(f"p{n}@acme.test,P {n},,,,Team\n" for n in range(1_200)))
    with DirectoryImport(tmp_path) as job, file.open(encoding="utf-8", newline="") as source:
        job.read(source)
        assert job.invalid == 0
        with pytest.raises(Exception, match="already taken"), transaction(sessions) as session:
            job.plan(session, workspace_id=workspace_id)
            create_person(
                session,
                workspace_id=workspace_id,
                person=PersonRecord("p1100@acme.test", emails=(EmailRecord("p1100@acme.test"),)),
                source=UserSource.SCIM,
                actor=Actor.system("tests"),
                check_delay=timedelta(minutes=5),
            )
            job.apply(
                session,
                workspace_id=workspace_id,
                actor=Actor.cli(),
                check_delay=timedelta(minutes=5),
                file_name=file.name,
            )
    assert database_state(engine) == before
