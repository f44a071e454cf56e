"""Importing the directory from a CSV file, as a small team without an identity provider would."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from sqlalchemy import Engine, select
from typer.testing import CliRunner

from bastion.cli import app
from bastion.connectors.meta.simulator.generator import generate_scenario
from bastion.directory.csv_import import DirectoryImport
from bastion.storage.db import make_session_factory, transaction
from bastion.storage.models import Team, TeamMember, User
from bastion.storage.models.enums import UserSource, UserStatus
from tests.factories import make_workspace

HEADER = "E-mail,Name,External ID,Status,Secondary e-mails,Groups\n"


@pytest.fixture
def bastion(sqlite_engine: Engine, tmp_path: Path) -> CliRunner:
    """The `bastion` command on a migrated SQLite database with a default workspace."""
    with transaction(make_session_factory(sqlite_engine)) as session:
        make_workspace(session, "default")
    env = {
        "BASTION_DATABASE_URL": sqlite_engine.url.render_as_string(hide_password=False),
        "BASTION_DATA_DIR": str(tmp_path),
    }
    return CliRunner(
        env={**{k: v for k, v in os.environ.items() if not k.startswith("BASTION_")}, **env}
    )


def _people(engine: Engine) -> dict[str, User]:
    with make_session_factory(engine)() as session:
        return {u.user_name: u for u in session.scalars(select(User))}


def test_lines_with_errors_are_named_and_nothing_is_written(
    bastion: CliRunner, sqlite_engine: Engine, tmp_path: Path
) -> None:
    file = tmp_path / "people.csv"
    file.write_text(
        HEADER
        + "ann@acme.test,Ann,e1,active,,\n"
        + "not-an-email,Bob,e2,active,,\n"
        + "cy@acme.test,Cy,e3,retired,,\n"
        + "ANN@acme.test,Ann again,e4,active,,\n"
    )
    result = bastion.invoke(app, ["directory", "import", str(file)])
    assert result.exit_code == 2
    assert "line 3: email: is not an e-mail address" in result.output
    assert "line 4: status: must be active or deprovisioned (or empty for active)" in result.output
    assert "line 5: email: already on line 2" in result.output
    assert "acme.test" not in result.output  # errors name lines and columns, never people
    assert _people(sqlite_engine) == {}

    skipping = bastion.invoke(app, ["directory", "import", str(file), "--skip-invalid"])
    assert skipping.exit_code == 0, skipping.output
    assert set(_people(sqlite_engine)) == {"ann@acme.test"}


def test_dry_run_previews_and_a_second_run_changes_nothing(
    bastion: CliRunner, sqlite_engine: Engine, tmp_path: Path
) -> None:
    file = tmp_path / "people.csv"
    file.write_text(
        HEADER
        + "ann@acme.test,Ann Lee,e1,active,ann.lee@acme.test;al@acme.test,Sales;Ops\n"
        + "bo@acme.test,Bo Ng,e2,deprovisioned,,Sales\n"
    )
    preview = bastion.invoke(app, ["directory", "import", str(file), "--dry-run"])
    assert preview.exit_code == 0, preview.output
    assert "2 to create" in preview.output and "dry run" in preview.output
    assert _people(sqlite_engine) == {}

    assert bastion.invoke(app, ["directory", "import", str(file)]).exit_code == 0
    again = bastion.invoke(app, ["directory", "import", str(file), "--dry-run"])
    assert (
        "0 to create, 0 to update, 0 to deprovision, 0 to reactivate; 2 unchanged" in again.output
    )
    people = _people(sqlite_engine)
    assert people["bo@acme.test"].status == UserStatus.DEPROVISIONED
    assert people["ann@acme.test"].source == UserSource.CSV
    assert sorted(e.email for e in people["ann@acme.test"].emails) == [
        "al@acme.test",
        "ann.lee@acme.test",
        "ann@acme.test",
    ]

    file.write_text(HEADER + "ann@acme.test,Ann Lee,e1,deprovisioned,,Ops\n")
    assert bastion.invoke(app, ["directory", "import", str(file)]).exit_code == 0
    with make_session_factory(sqlite_engine)() as session:
        ann = session.scalars(select(User).where(User.user_name == "ann@acme.test")).one()
        assert ann.status == UserStatus.DEPROVISIONED
        assert [e.email for e in ann.emails] == ["ann@acme.test"]
        teams = {
            t.display_name: sorted(
                session.scalars(select(TeamMember.user_id).where(TeamMember.team_id == t.id))
            )
            for t in session.scalars(select(Team))
        }
        assert teams == {"Ops": [ann.id], "Sales": sorted(u.id for u in people.values())}


def test_the_simulators_directory_imports_cleanly(
    bastion: CliRunner, sqlite_engine: Engine, tmp_path: Path
) -> None:
    csv_path, _ = generate_scenario("small").write_directory(tmp_path)
    with DirectoryImport() as job, csv_path.open(encoding="utf-8", newline="") as source:
        job.read(source)
        assert job.errors() == []
    result = bastion.invoke(app, ["directory", "import", str(csv_path)])
    assert result.exit_code == 0, result.output
    lines = len(csv_path.read_text(encoding="utf-8").splitlines()) - 1
    assert len(_people(sqlite_engine)) == lines
    assert (
        "0 to create"
        in bastion.invoke(app, ["directory", "import", str(csv_path), "--dry-run"]).output
    )


def test_a_long_preview_lists_deprovisions_first_and_stops_at_a_hundred_lines(
    bastion: CliRunner, tmp_path: Path
) -> None:
    file = tmp_path / "people.csv"
    file.write_text(HEADER + "".join(f"p{n}@acme.test,P {n},e{n},active,,\n" for n in range(150)))
    assert bastion.invoke(app, ["directory", "import", str(file)]).exit_code == 0
    file.write_text(
        HEADER
        + "".join(f"p{n}@acme.test,P {n},e{n},active,,\n" for n in range(149))
        + "p149@acme.test,P 149,e149,deprovisioned,,\n"
        + "".join(f"q{n}@acme.test,Q {n},f{n},active,,\n" for n in range(120))
    )
    preview = bastion.invoke(app, ["directory", "import", str(file), "--dry-run"])
    assert preview.exit_code == 0, preview.output
    assert "120 to create, 0 to update, 1 to deprovision" in preview.output
    assert "… and 21 more line(s); --all lists every one" in preview.output
    lines = preview.output.splitlines()
    first_row = next(line for line in lines if "@acme.test" in line)
    assert "deprovision" in first_row and "p149@acme.test" in first_row
    everything = bastion.invoke(app, ["directory", "import", str(file), "--dry-run", "--all"])
    assert "q119@acme.test" in everything.output and "more line(s)" not in everything.output
