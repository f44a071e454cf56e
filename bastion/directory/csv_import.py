"""Importing the directory from a CSV file, for teams without an identity provider.

Three steps: ``read_directory_csv`` checks every line and names the bad ones by line number;
``plan_import`` compares the good lines with the directory and says what would change
(the preview); ``apply_import`` makes those changes through the directory actions. Re-running
the same file plans nothing, so the import is idempotent.

The file is authoritative only for what it names: people not in it are left alone (a CSV has
no way to say "this person left" except ``status=deprovisioned``), and a group named in it gets
exactly the people the file lists for it.
"""

from __future__ import annotations

import csv
import io
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import timedelta
from enum import StrEnum

from sqlalchemy.orm import Session

from bastion.actions import directory as actions
from bastion.actions.actors import Actor
from bastion.actions.users import email_key, validate_email
from bastion.audit import AuditAction, record
from bastion.directory.records import EmailRecord, MemberRecord, PersonRecord, TeamRecord
from bastion.errors import InvalidInput
from bastion.storage.models import Team, User
from bastion.storage.models.enums import UserSource, UserStatus
from bastion.storage.tenancy import Tenant

# Accepted header spellings, compared lower-cased without spaces, dashes or underscores.
COLUMNS = {
    "email": {"email", "emailaddress", "mail", "workemail"},
    "name": {"name", "displayname", "fullname"},
    "external_id": {"externalid", "employeeid", "employeenumber"},
    "status": {"status", "state"},
    "secondary_emails": {"secondaryemails", "secondaryemail", "otheremails", "aliases"},
    "groups": {"groups", "group", "teams"},
}
STATUSES = {
    "": UserStatus.ACTIVE,
    "active": UserStatus.ACTIVE,
    "deprovisioned": UserStatus.DEPROVISIONED,
    "inactive": UserStatus.DEPROVISIONED,
}


@dataclass(frozen=True)
class CsvPerson:
    line: int
    email: str
    name: str
    external_id: str | None
    status: UserStatus
    secondary_emails: tuple[str, ...]
    groups: tuple[str, ...]


@dataclass(frozen=True)
class LineError:
    line: int
    reason: str

    def __str__(self) -> str:
        return f"line {self.line}: {self.reason}"


@dataclass
class DirectoryFile:
    people: list[CsvPerson] = field(default_factory=list)
    errors: list[LineError] = field(default_factory=list)


class Change(StrEnum):
    CREATE = "create"
    UPDATE = "update"
    DEPROVISION = "deprovision"
    REACTIVATE = "reactivate"


@dataclass(frozen=True)
class PlannedChange:
    change: Change
    person: CsvPerson
    user_id: int | None
    fields: tuple[str, ...] = ()


@dataclass
class ImportPlan:
    changes: list[PlannedChange] = field(default_factory=list)
    unchanged: int = 0
    # Team name → e-mails of its members, for every team the file names.
    teams: dict[str, list[str]] = field(default_factory=dict)

    def count(self, change: Change) -> int:
        return sum(1 for c in self.changes if c.change == change)


def _column_of(header: str) -> str | None:
    key = header.strip().lower().replace(" ", "").replace("-", "").replace("_", "")
    return next((name for name, spellings in COLUMNS.items() if key in spellings), None)


def _split(value: str) -> tuple[str, ...]:
    return tuple(part.strip() for part in value.split(";") if part.strip())


def read_directory_csv(text: str) -> DirectoryFile:
    """Check every line; a header without an e-mail column is an error on line 1."""
    result = DirectoryFile()
    reader = csv.reader(io.StringIO(text.lstrip("\ufeff")))
    header = next(reader, None)
    if header is None:
        result.errors.append(LineError(1, "the file is empty"))
        return result
    columns = [_column_of(name) for name in header]
    unknown = [name for name, column in zip(header, columns, strict=True) if column is None]
    if unknown or "email" not in columns:
        reason = f"unknown column {unknown[0]!r}" if unknown else "no e-mail column"
        known = ", ".join(COLUMNS)
        result.errors.append(LineError(1, f"{reason} (columns: {known})"))
        return result
    seen: dict[str, int] = {}
    for line, cells in enumerate(reader, start=2):
        if not any(cell.strip() for cell in cells):
            continue
        if len(cells) != len(columns):
            reason = f"has {len(cells)} cells, the header has {len(columns)}"
            result.errors.append(LineError(line, reason))
            continue
        row = {column: cell.strip() for column, cell in zip(columns, cells, strict=True) if column}
        try:
            person = _person(line, row)
        except InvalidInput as exc:
            result.errors.append(LineError(line, exc.message))
            continue
        key = email_key(person.email)
        if key in seen:
            result.errors.append(LineError(line, f"{person.email} is already on line {seen[key]}"))
            continue
        seen[key] = line
        result.people.append(person)
    return result


def _person(line: int, row: dict[str, str]) -> CsvPerson:
    email = validate_email(row.get("email", ""), "e-mail")
    status = row.get("status", "").lower()
    if status not in STATUSES:
        raise InvalidInput("status", f"{status!r} is not active or deprovisioned")
    extras = _split(row.get("secondary_emails", ""))
    secondary = tuple(validate_email(extra, "secondary e-mails") for extra in extras)
    return CsvPerson(
        line=line,
        email=email,
        name=row.get("name", ""),
        external_id=row.get("external_id") or None,
        status=STATUSES[status],
        secondary_emails=tuple(e for e in secondary if email_key(e) != email_key(email)),
        groups=_split(row.get("groups", "")),
    )


def _record(person: CsvPerson, existing: User | None) -> PersonRecord:
    """The record of a line; what a CSV cannot say (given names, SCIM extras) is kept."""
    emails = (
        EmailRecord(person.email, "work", True),
        *(EmailRecord(extra, "other", None) for extra in person.secondary_emails),
    )
    return PersonRecord(
        user_name=person.email,
        display_name=person.name,
        given_name=existing.given_name if existing else None,
        family_name=existing.family_name if existing else None,
        external_id=person.external_id,
        active=person.status == UserStatus.ACTIVE,
        emails=emails,
        scim_attributes=None,
    )


def _differences(user: User, wanted: PersonRecord) -> tuple[str, ...]:
    fields = []
    if user.user_name != wanted.user_name:
        fields.append("email")
    if user.display_name != wanted.display_name:
        fields.append("name")
    if user.external_id != wanted.external_id:
        fields.append("external id")
    current = [(e.email, e.type, e.primary) for e in user.emails]
    if current != [(e.value, e.type, e.primary) for e in wanted.emails]:
        fields.append("secondary e-mails")
    return tuple(fields)


def plan_import(session: Session, *, workspace_id: int, people: list[CsvPerson]) -> ImportPlan:
    """What importing these lines would change; writes nothing."""
    tenant = Tenant(session, workspace_id)
    users = {
        u.user_name_key: u
        for u in tenant.all(User, User.user_name_key.in_([email_key(p.email) for p in people]))
    }
    plan = ImportPlan()
    teams: dict[str, list[str]] = defaultdict(list)
    for person in people:
        for team in person.groups:
            teams[team].append(person.email)
        user = users.get(email_key(person.email))
        if user is None or user.removed_at is not None:
            plan.changes.append(PlannedChange(Change.CREATE, person, None))
            continue
        fields = _differences(user, _record(person, user))
        if fields:
            plan.changes.append(PlannedChange(Change.UPDATE, person, user.id, fields))
        deprovisioned = user.status == UserStatus.DEPROVISIONED
        if person.status == UserStatus.DEPROVISIONED and not deprovisioned:
            plan.changes.append(PlannedChange(Change.DEPROVISION, person, user.id))
        elif person.status == UserStatus.ACTIVE and deprovisioned:
            plan.changes.append(PlannedChange(Change.REACTIVATE, person, user.id))
        elif not fields:
            plan.unchanged += 1
    plan.teams = dict(teams)
    return plan


def apply_import(
    session: Session,
    *,
    workspace_id: int,
    plan: ImportPlan,
    actor: Actor,
    check_delay: timedelta,
    file_name: str,
    skipped: int = 0,
) -> None:
    """Make the planned changes in the caller's transaction; all of them or, on error, none."""
    tenant = Tenant(session, workspace_id)
    done: set[tuple[int, Change]] = set()
    for planned in plan.changes:
        existing = tenant.get(User, planned.user_id) if planned.user_id else None
        record_ = _record(planned.person, existing)
        if planned.change == Change.CREATE:
            actions.create_person(
                session,
                workspace_id=workspace_id,
                person=record_,
                source=UserSource.CSV,
                actor=actor,
                check_delay=check_delay,
            )
        elif existing is not None and (existing.id, Change.UPDATE) not in done:
            # One update per person applies both the fields and the status change.
            actions.update_person(
                session,
                workspace_id=workspace_id,
                user_id=existing.id,
                person=record_,
                source=UserSource.CSV,
                actor=actor,
                check_delay=check_delay,
            )
            done.add((existing.id, Change.UPDATE))
    _apply_teams(session, tenant, plan.teams, actor)
    record(
        session,
        workspace_id=workspace_id,
        actor=actor.label,
        action=AuditAction.DIRECTORY_IMPORTED,
        details={
            "file": file_name,
            "created": plan.count(Change.CREATE),
            "updated": plan.count(Change.UPDATE),
            "deprovisioned": plan.count(Change.DEPROVISION),
            "reactivated": plan.count(Change.REACTIVATE),
            "skipped": skipped,
        },
        request_id=actor.request_id,
    )


def _apply_teams(
    session: Session, tenant: Tenant, teams: dict[str, list[str]], actor: Actor
) -> None:
    session.flush()
    for name, emails in sorted(teams.items()):
        keys = [email_key(e) for e in emails]
        members = tuple(
            MemberRecord(user.id)
            for user in tenant.all(User, User.user_name_key.in_(keys), User.removed_at.is_(None))
        )
        team = tenant.find(Team, Team.display_name_key == name.lower())
        if team is None:
            actions.create_team(
                session,
                workspace_id=tenant.workspace_id,
                team=TeamRecord(name, None, members),
                source=UserSource.CSV,
                actor=actor,
            )
        else:
            actions.set_team_members(
                session,
                workspace_id=tenant.workspace_id,
                team_id=team.id,
                members=members,
                source=UserSource.CSV,
                actor=actor,
            )
