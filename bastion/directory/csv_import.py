"""Importing the directory from a CSV file, for teams without an identity provider.

A ``DirectoryImport`` takes a file through three steps, each a stream of batches of ``BATCH``
lines: ``read`` checks every line and names the bad ones by line number; ``plan`` compares the
good lines with the directory and says what would change (the preview), writing nothing;
``apply`` makes those changes through the directory actions. Re-running the same file plans
nothing, so the import is idempotent.

Nothing is written for a file that fails its checks: ``read`` goes through the whole file before
anything is planned, so the caller learns of every bad line while the directory is untouched.
``apply`` then writes in the caller's one transaction, so an import that fails half-way (the
database refuses, SCIM created the same person meanwhile) is rolled back whole.

Memory does not grow with the file: the file is read a line at a time, what the import learns
about it (lines, errors, groups, planned changes) lives in a scratch file on disk
(``csv_scratch``), and no statement carries more than ``BATCH`` values, which both SQLite's and
PostgreSQL's limits on parameters allow.

The file is authoritative only for what it names: people not in it are left alone (a CSV has
no way to say "this person left" except ``status=deprovisioned``), and a group named in it gets
exactly the people the file lists for it.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import timedelta
from enum import StrEnum
from pathlib import Path
from types import TracebackType
from typing import IO

from sqlalchemy import select
from sqlalchemy.orm import Session

from bastion.actions import directory as actions
from bastion.actions import teams as team_actions
from bastion.actions.actors import Actor
from bastion.actions.users import email_key
from bastion.audit import AuditAction, record
from bastion.directory.csv_reader import CsvPerson, LineError, person_record, read_lines
from bastion.directory.csv_scratch import ImportScratch
from bastion.directory_records import MemberRecord, PersonRecord, TeamRecord
from bastion.storage.db import refresh_planner_statistics
from bastion.storage.models import Team, User, UserEmail
from bastion.storage.models.enums import UserSource, UserStatus
from bastion.storage.tenancy import Tenant

BATCH = 500
# PostgreSQL's planner is told the tables grew (see refresh_planner_statistics) after this many
# new people, then each time their number doubles: a handful of ANALYZE for a million lines.
ANALYZE_AFTER = 5_000
WRITTEN_TABLES = ("users", "user_emails", "team_members", "audit_events")


class Change(StrEnum):
    CREATE = "create"
    UPDATE = "update"
    DEPROVISION = "deprovision"
    REACTIVATE = "reactivate"


# The preview lists deprovisions first: they are what an import should never do by surprise.
PREVIEW_ORDER = (Change.DEPROVISION, Change.REACTIVATE, Change.UPDATE, Change.CREATE)


@dataclass(frozen=True)
class PlannedChange:
    change: Change
    person: CsvPerson
    user_id: int | None
    fields: tuple[str, ...] = ()


@dataclass(frozen=True)
class ImportTotals:
    counts: dict[Change, int]
    unchanged: int
    groups: int

    def count(self, change: Change) -> int:
        return self.counts[change]

    @property
    def changes(self) -> int:
        return sum(self.counts.values())


@dataclass(frozen=True)
class _Known:
    """What the plan compares of a directory person: plain columns, no ORM object to build."""

    id: int
    user_name: str
    display_name: str
    external_id: str | None
    status: UserStatus
    removed: bool
    emails: list[tuple[str, str | None, bool | None]]


def _known_people(session: Session, workspace_id: int, keys: list[str]) -> dict[str, _Known]:
    rows = session.execute(
        select(
            User.id,
            User.user_name_key,
            User.user_name,
            User.display_name,
            User.external_id,
            User.status,
            User.removed_at,
        ).where(User.workspace_id == workspace_id, User.user_name_key.in_(keys))
    ).all()
    emails: dict[int, list[tuple[str, str | None, bool | None]]] = {row.id: [] for row in rows}
    if rows:
        # Through the people's own keys: filtered on user_emails.workspace_id, SQLite walks the
        # workspace's every address for each batch.
        for email in session.execute(
            select(UserEmail.user_id, UserEmail.email, UserEmail.type, UserEmail.primary)
            .join(User, User.id == UserEmail.user_id)
            .where(User.workspace_id == workspace_id, User.user_name_key.in_(keys))
            .order_by(UserEmail.id)
        ):
            emails[email.user_id].append((email.email, email.type, email.primary))
    return {
        row.user_name_key: _Known(
            id=row.id,
            user_name=row.user_name,
            display_name=row.display_name,
            external_id=row.external_id,
            status=row.status,
            removed=row.removed_at is not None,
            emails=emails[row.id],
        )
        for row in rows
    }


def _differences(user: _Known, wanted: PersonRecord) -> tuple[str, ...]:
    fields = []
    if user.user_name != wanted.user_name:
        fields.append("email")
    if user.display_name != wanted.display_name:
        fields.append("name")
    if user.external_id != wanted.external_id:
        fields.append("external id")
    if user.emails != [(e.value, e.type, e.primary) for e in wanted.emails]:
        fields.append("secondary e-mails")
    return tuple(fields)


def _planned(
    change: Change, person: CsvPerson, user_id: int | None, fields: tuple[str, ...] = ()
) -> tuple[int, int, str, int | None, str]:
    """A planned change as the scratch file keeps it (the preview's rank first)."""
    return (PREVIEW_ORDER.index(change), person.line, change.value, user_id, ",".join(fields))


class DirectoryImport:
    """One CSV file on its way into a workspace's directory; use it as a context manager.

    ``scratch_dir`` is where the scratch file goes (the data directory, rather than a /tmp that
    may live in memory).
    """

    def __init__(self, scratch_dir: Path | None = None) -> None:
        self.scratch = ImportScratch(scratch_dir)
        self.totals: ImportTotals | None = None

    def __enter__(self) -> DirectoryImport:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.scratch.close()

    # -- reading -----------------------------------------------------------------------------

    def read(self, source: IO[str] | IO[bytes]) -> None:
        """Check every line of the file (text, or UTF-8 bytes); the good ones are kept."""
        people: list[CsvPerson] = []
        errors: list[LineError] = []
        for item in read_lines(source):
            if isinstance(item, LineError):
                errors.append(item)
            else:
                people.append(item)
            if len(people) >= BATCH or len(errors) >= BATCH:
                self._keep(people, errors)
                people, errors = [], []
        self._keep(people, errors)

    def _keep(self, people: list[CsvPerson], errors: list[LineError]) -> None:
        keys = [email_key(person.email) for person in people]
        first = self.scratch.first_lines(sorted(set(keys))) if keys else {}
        kept = []
        for key, person in zip(keys, people, strict=True):
            if key in first:
                errors.append(LineError(person.line, f"email: already on line {first[key]}"))
                continue
            first[key] = person.line
            kept.append((key, person))
        self.scratch.keep(kept)
        self.scratch.add_errors(errors)

    @property
    def invalid(self) -> int:
        """How many lines cannot be imported."""
        return self.scratch.error_count()

    @property
    def unreadable(self) -> LineError | None:
        """Where the file stopped being readable, if it did: then nothing may be imported."""
        return self.scratch.fatal_error()

    def errors(self, limit: int | None = None) -> list[LineError]:
        """The invalid lines in file order, the first ``limit`` of them."""
        return list(self.scratch.errors(limit))

    # -- planning ----------------------------------------------------------------------------

    def plan(self, session: Session, *, workspace_id: int) -> ImportTotals:
        """What importing the good lines would change; writes nothing to the directory."""
        self.scratch.clear_plan()
        unchanged, after = 0, 0
        while people := self.scratch.people(after, BATCH):
            after = people[-1].line
            keys = [email_key(person.email) for person in people]
            users = _known_people(session, workspace_id, keys)
            changes: list[tuple[int, int, str, int | None, str]] = []
            known: list[tuple[int, int]] = []
            for key, person in zip(keys, people, strict=True):
                user = users.get(key)
                if user is None or user.removed:
                    # A person SCIM removed comes back as a create that revives their row.
                    changes.append(_planned(Change.CREATE, person, user.id if user else None))
                    continue
                known.append((user.id, person.line))
                fields = _differences(user, person_record(person, None))
                if fields:
                    changes.append(_planned(Change.UPDATE, person, user.id, fields))
                deprovisioned = user.status == UserStatus.DEPROVISIONED
                if person.status == UserStatus.DEPROVISIONED and not deprovisioned:
                    changes.append(_planned(Change.DEPROVISION, person, user.id))
                elif person.status == UserStatus.ACTIVE and deprovisioned:
                    changes.append(_planned(Change.REACTIVATE, person, user.id))
                elif not fields:
                    unchanged += 1
            self.scratch.add_changes(changes)
            self.scratch.set_user_ids(known)
        counts = self.scratch.change_counts()
        self.totals = ImportTotals(
            counts={change: counts.get(change.value, 0) for change in Change},
            unchanged=unchanged,
            groups=self.scratch.team_count(),
        )
        return self.totals

    def preview(self, limit: int | None) -> Iterator[PlannedChange]:
        """The planned changes, deprovisions first, then reactivations, updates and creates."""
        for person, kind, user_id, fields in self.scratch.changes(limit):
            yield PlannedChange(Change(kind), person, user_id, fields)

    # -- applying ----------------------------------------------------------------------------

    def apply(
        self,
        session: Session,
        *,
        workspace_id: int,
        actor: Actor,
        check_delay: timedelta,
        file_name: str,
    ) -> ImportTotals:
        """Make the planned changes in the caller's transaction; all of them or, on error, none.

        Call ``plan`` first, in the same transaction.
        """
        if self.totals is None:
            raise ValueError("plan the import before applying it")
        tenant = Tenant(session, workspace_id)
        after, created, analyzed = 0, 0, 0
        while lines := self.scratch.changed_lines(after, BATCH):
            after = lines[-1][0].line
            planned_ids = [user_id for _, _, user_id in lines if user_id is not None]
            # Loaded once per batch, and held, so each action below finds its row in the session.
            existing = {u.id: u for u in tenant.all(User, User.id.in_(planned_ids))}
            new_people, new_lines, revived = [], [], []
            for person, kinds, user_id in lines:
                current = existing.get(user_id) if user_id is not None else None
                wanted = person_record(person, current)
                if Change.CREATE in kinds and current is None:
                    new_people.append(wanted)
                    new_lines.append(person.line)
                elif Change.CREATE in kinds:
                    user = actions.create_person(
                        session,
                        workspace_id=workspace_id,
                        person=wanted,
                        source=UserSource.CSV,
                        actor=actor,
                        check_delay=check_delay,
                    )
                    revived.append((user.id, person.line))
                elif user_id is not None:
                    # One update per person applies both the fields and the status change.
                    actions.update_person(
                        session,
                        workspace_id=workspace_id,
                        user_id=user_id,
                        person=wanted,
                        source=UserSource.CSV,
                        actor=actor,
                        check_delay=check_delay,
                    )
            new_ids = actions.create_people(
                session,
                workspace_id=workspace_id,
                people=new_people,
                source=UserSource.CSV,
                actor=actor,
            )
            self.scratch.set_user_ids([*zip(new_ids, new_lines, strict=True), *revived])
            created += len(new_ids)
            if created >= max(ANALYZE_AFTER, 2 * analyzed):
                refresh_planner_statistics(session, WRITTEN_TABLES)
                analyzed = created
        if created > analyzed:
            refresh_planner_statistics(session, WRITTEN_TABLES)
        self._apply_teams(session, tenant, actor)
        totals = self.totals
        record(
            session,
            workspace_id=workspace_id,
            actor=actor.label,
            action=AuditAction.DIRECTORY_IMPORTED,
            details={
                "file": file_name,
                "created": totals.count(Change.CREATE),
                "updated": totals.count(Change.UPDATE),
                "deprovisioned": totals.count(Change.DEPROVISION),
                "reactivated": totals.count(Change.REACTIVATE),
                "skipped": self.invalid,
            },
            request_id=actor.request_id,
        )
        return totals

    def _apply_teams(self, session: Session, tenant: Tenant, actor: Actor) -> None:
        session.flush()
        for key, name in self.scratch.teams():
            team = tenant.find(Team, Team.display_name_key == key)
            if team is None:
                team = team_actions.create_team(
                    session,
                    workspace_id=tenant.workspace_id,
                    team=TeamRecord(name, None, None),
                    source=UserSource.CSV,
                    actor=actor,
                )
            team_actions.set_team_members(
                session,
                workspace_id=tenant.workspace_id,
                team_id=team.id,
                members=(MemberRecord(user_id) for user_id in self.scratch.team_member_ids(key)),
                source=UserSource.CSV,
                actor=actor,
            )
