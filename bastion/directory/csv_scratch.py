"""Where a CSV import keeps what it learnt about the file: a temporary SQLite file on disk.

Finding a repeated e-mail, listing a group's members and showing the deprovisions first all need
the whole file; holding it in memory made a 50 MB file cost 2.4 GB. This file (plain ``sqlite3``,
never the Bastion database) holds the valid lines, the errors, the groups and the planned
changes, so the import's memory stays the same whatever the file's size. It is deleted when the
import ends.
"""

from __future__ import annotations

import sqlite3
import tempfile
from collections.abc import Iterable, Iterator, Sequence
from pathlib import Path
from types import TracebackType

from bastion.directory.csv_reader import CsvPerson, LineError
from bastion.storage.models.enums import UserStatus

_SCHEMA = """
CREATE TABLE person (
    line INTEGER PRIMARY KEY, key TEXT NOT NULL UNIQUE, email TEXT NOT NULL, name TEXT NOT NULL,
    external_id TEXT, status TEXT NOT NULL, secondary TEXT NOT NULL, user_id INTEGER
);
CREATE TABLE error (line INTEGER NOT NULL, reason TEXT NOT NULL, fatal INTEGER NOT NULL);
CREATE INDEX error_line ON error (line);
CREATE TABLE team (key TEXT PRIMARY KEY, name TEXT NOT NULL) WITHOUT ROWID;
CREATE TABLE member (team TEXT NOT NULL, person TEXT NOT NULL, PRIMARY KEY (team, person))
    WITHOUT ROWID;
CREATE TABLE change (
    rank INTEGER NOT NULL, line INTEGER NOT NULL, kind TEXT NOT NULL, user_id INTEGER,
    fields TEXT NOT NULL, PRIMARY KEY (rank, line)
) WITHOUT ROWID;
CREATE INDEX change_line ON change (line);
"""


def _person(row: sqlite3.Row) -> CsvPerson:
    return CsvPerson(
        line=row["line"],
        email=row["email"],
        name=row["name"],
        external_id=row["external_id"],
        status=UserStatus(row["status"]),
        secondary_emails=tuple(row["secondary"].split(";")) if row["secondary"] else (),
        groups=(),  # kept in the member table
    )


class ImportScratch:
    """The temporary file of one import; use it as a context manager."""

    def __init__(self, folder: Path | None = None) -> None:
        if folder is not None:
            folder.mkdir(parents=True, exist_ok=True)
        self._folder = tempfile.TemporaryDirectory(prefix="bastion-import-", dir=folder)
        self.db = sqlite3.connect(Path(self._folder.name) / "import.sqlite3")
        self.db.row_factory = sqlite3.Row
        # Scratch data: nothing to recover after a crash, so no journal and no fsync.
        self.db.executescript(
            "PRAGMA journal_mode=OFF; PRAGMA synchronous=OFF; PRAGMA temp_store=FILE;" + _SCHEMA
        )

    def __enter__(self) -> ImportScratch:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.close()

    def close(self) -> None:
        self.db.close()
        self._folder.cleanup()

    # -- the first pass: lines --------------------------------------------------------------

    def first_lines(self, keys: Sequence[str]) -> dict[str, int]:
        """The line each of these e-mail keys was first kept on."""
        marks = ",".join("?" * len(keys))
        rows = self.db.execute(f"SELECT key, line FROM person WHERE key IN ({marks})", keys)  # noqa: S608 - only placeholders
        return {key: line for key, line in rows}

    def keep(self, people: Iterable[tuple[str, CsvPerson]]) -> None:
        """Keep valid lines (with their e-mail key) and the groups they name."""
        rows, teams, members = [], [], []
        for key, person in people:
            rows.append(
                (
                    person.line,
                    key,
                    person.email,
                    person.name,
                    person.external_id,
                    person.status.value,
                    ";".join(person.secondary_emails),
                )
            )
            for group in person.groups:
                teams.append((group.lower(), group))
                members.append((group.lower(), key))
        self.db.executemany("INSERT INTO person VALUES (?, ?, ?, ?, ?, ?, ?, NULL)", rows)
        # The first spelling of a group's name is the one a new team gets.
        self.db.executemany("INSERT OR IGNORE INTO team VALUES (?, ?)", teams)
        self.db.executemany("INSERT OR IGNORE INTO member VALUES (?, ?)", members)

    def add_errors(self, errors: Iterable[LineError]) -> None:
        self.db.executemany(
            "INSERT INTO error VALUES (?, ?, ?)", ((e.line, e.reason, e.fatal) for e in errors)
        )

    def error_count(self) -> int:
        return int(self.db.execute("SELECT count(*) FROM error").fetchone()[0])

    def fatal_error(self) -> LineError | None:
        row = self.db.execute("SELECT line, reason FROM error WHERE fatal LIMIT 1").fetchone()
        return LineError(row["line"], row["reason"], fatal=True) if row else None

    def errors(self, limit: int | None) -> Iterator[LineError]:
        rows = self.db.execute(
            "SELECT line, reason, fatal FROM error ORDER BY line LIMIT ?",
            (-1 if limit is None else limit,),
        )
        return (LineError(row["line"], row["reason"], bool(row["fatal"])) for row in rows)

    def people(self, after: int, limit: int) -> list[CsvPerson]:
        """Kept lines in file order, ``limit`` at a time after line ``after``."""
        rows = self.db.execute(
            "SELECT * FROM person WHERE line > ? ORDER BY line LIMIT ?", (after, limit)
        )
        return [_person(row) for row in rows]

    # -- the plan ----------------------------------------------------------------------------

    def add_changes(self, changes: Iterable[tuple[int, int, str, int | None, str]]) -> None:
        """Planned changes as (rank, line, kind, user id, changed fields)."""
        self.db.executemany("INSERT INTO change VALUES (?, ?, ?, ?, ?)", changes)

    def set_user_ids(self, pairs: Iterable[tuple[int, int]]) -> None:
        """Remember which directory user each line is, as (user id, line)."""
        self.db.executemany("UPDATE person SET user_id = ? WHERE line = ?", pairs)

    def clear_plan(self) -> None:
        self.db.execute("DELETE FROM change")

    def change_counts(self) -> dict[str, int]:
        rows = self.db.execute("SELECT kind, count(*) FROM change GROUP BY kind")
        return {kind: count for kind, count in rows}

    def changes(
        self, limit: int | None
    ) -> Iterator[tuple[CsvPerson, str, int | None, tuple[str, ...]]]:
        """Planned changes in rank order, then by line, with the line's person."""
        rows = self.db.execute(
            "SELECT p.*, c.kind, c.user_id AS planned_user, c.fields FROM change c "
            "JOIN person p ON p.line = c.line ORDER BY c.rank, c.line LIMIT ?",
            (-1 if limit is None else limit,),
        )
        for row in rows:
            fields = tuple(row["fields"].split(",")) if row["fields"] else ()
            yield _person(row), row["kind"], row["planned_user"], fields

    def changed_lines(
        self, after: int, limit: int
    ) -> list[tuple[CsvPerson, frozenset[str], int | None]]:
        """Lines with a planned change in file order: the person, the change kinds, the user."""
        rows = self.db.execute(
            "SELECT p.*, group_concat(c.kind) AS kinds, max(c.user_id) AS planned_user "
            "FROM change c JOIN person p ON p.line = c.line WHERE c.line > ? "
            "GROUP BY c.line ORDER BY c.line LIMIT ?",
            (after, limit),
        )
        return [
            (_person(row), frozenset(row["kinds"].split(",")), row["planned_user"]) for row in rows
        ]

    # -- groups ------------------------------------------------------------------------------

    def team_count(self) -> int:
        return int(self.db.execute("SELECT count(*) FROM team").fetchone()[0])

    def teams(self) -> Iterator[tuple[str, str]]:
        """(key, name) of every group the file names, by name."""
        rows = self.db.execute("SELECT key, name FROM team ORDER BY name")
        return ((row["key"], row["name"]) for row in rows)

    def team_member_ids(self, team_key: str) -> Iterator[int]:
        """The user ids of a group's members, ascending, each once (after the import applied)."""
        rows = self.db.execute(
            "SELECT DISTINCT p.user_id FROM member m JOIN person p ON p.key = m.person "
            "WHERE m.team = ? AND p.user_id IS NOT NULL ORDER BY p.user_id",
            (team_key,),
        )
        return (int(row[0]) for row in rows)
