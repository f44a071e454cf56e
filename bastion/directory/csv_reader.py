"""Reading a directory CSV file one line at a time, checking each line as it comes.

The file is never held whole: physical lines are read with a bound, so a 50 MB field costs at
most that bound before it is refused as "field too long". Each line is checked with the rules
the directory actions apply (``clean_person``), so a line that reads well here cannot fail the
import later. Messages name the line and the column, never the value: a CSV holds people's
names and addresses, and errors end up in terminals, logs and tickets.
"""

from __future__ import annotations

import csv
from collections.abc import Iterator
from dataclasses import dataclass
from typing import IO

from bastion.actions.directory import clean_person
from bastion.actions.users import email_key, validate_email
from bastion.directory_records import EmailRecord, PersonRecord
from bastion.errors import InvalidInput
from bastion.nul_characters import refuse_nul
from bastion.storage.models import User
from bastion.storage.models.enums import UserStatus

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
MAX_GROUP_NAME = 200  # Team.display_name
# The directory actions name SCIM attributes; a CSV reader knows them as these columns.
_COLUMN_OF_ATTRIBUTE = {
    "userName": "email",
    "displayName": "name",
    "externalId": "external_id",
    "emails.value": "secondary_emails",
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
    """A line that cannot be imported; ``fatal`` when the rest of the file cannot be read."""

    line: int
    reason: str
    fatal: bool = False

    def __str__(self) -> str:
        return f"line {self.line}: {self.reason}"


class _LineTooLong(Exception):
    """A physical line longer than any valid line can be (raised out of the csv reader)."""


def _column_of(header: str) -> str | None:
    key = header.strip().lower().replace(" ", "").replace("-", "").replace("_", "")
    return next((name for name, spellings in COLUMNS.items() if key in spellings), None)


def _split(value: str) -> tuple[str, ...]:
    return tuple(part.strip() for part in value.split(";") if part.strip())


def _bounded_lines(source: IO[str] | IO[bytes], limit: int) -> Iterator[str]:
    """The source's lines, decoded one by one so a bad byte is blamed on its own line."""
    while line := source.readline(limit + 1):
        if len(line) > limit:
            raise _LineTooLong
        yield line.decode("utf-8") if isinstance(line, bytes) else line


def _header_problem(header: list[str], columns: list[str | None]) -> str | None:
    unknown = [name for name, column in zip(header, columns, strict=True) if column is None]
    if unknown:
        return f"unknown column {unknown[0]!r} (columns: {', '.join(COLUMNS)})"
    if "email" not in columns:
        return f"no e-mail column (columns: {', '.join(COLUMNS)})"
    repeated = next((c for n, c in enumerate(columns) if c in columns[:n]), None)
    if repeated is not None:
        return f"the {repeated} column is there twice"
    return None


def read_lines(source: IO[str] | IO[bytes]) -> Iterator[CsvPerson | LineError]:
    """Each line of the file as a person or as the reason it cannot be imported, in order.

    ``source`` is text, or bytes read as UTF-8 (a file opened in binary mode).

    Line numbers count records as a spreadsheet shows them (the header is line 1). A header
    that names no e-mail column, a field past the csv module's limit, a byte that is not UTF-8,
    or broken quoting ends the reading with a fatal error: what follows cannot be trusted.
    """
    field_limit = csv.field_size_limit()
    too_long = f"field too long (a field holds at most {field_limit:,} characters)"
    # Every column at its limit, each character up to four UTF-8 bytes: no valid line is longer.
    reader = csv.reader(_bounded_lines(source, 4 * len(COLUMNS) * (field_limit + 3)))
    line = 1  # the line being read
    try:
        header = next(reader, None)
        if header is None:
            yield LineError(1, "the file is empty", fatal=True)
            return
        if header:
            header[0] = header[0].lstrip("\ufeff")
        columns = [_column_of(name) for name in header]
        problem = _header_problem(header, columns)
        if problem is not None:
            yield LineError(1, problem, fatal=True)
            return
        line = 2
        for cells in reader:
            item = _line(line, columns, cells)
            if item is not None:
                yield item
            line += 1
    except _LineTooLong:
        yield LineError(line, too_long, fatal=True)
    except csv.Error as exc:
        # The csv module's messages describe the syntax, never the data.
        reason = too_long if "field limit" in str(exc) else f"is not valid CSV ({exc})"
        yield LineError(line, reason, fatal=True)
    except UnicodeDecodeError:
        yield LineError(line, "is not UTF-8 text; save the file as CSV UTF-8", fatal=True)


def _line(line: int, columns: list[str | None], cells: list[str]) -> CsvPerson | LineError | None:
    """The person on a line, what is wrong with it, or None for a blank line."""
    if not any(cell.strip() for cell in cells):
        return None
    if len(cells) != len(columns):
        return LineError(line, f"has {len(cells)} cells, the header has {len(columns)}")
    row = {column: cell.strip() for column, cell in zip(columns, cells, strict=True) if column}
    try:
        for column, cell in row.items():
            refuse_nul(column, cell)
        person = _person(line, row)
        clean_person(person_record(person, None))
    except InvalidInput as exc:
        column = _COLUMN_OF_ATTRIBUTE.get(exc.field, exc.field)
        return LineError(line, f"{column}: {exc.message.partition(': ')[2]}")
    return person


def _person(line: int, row: dict[str, str]) -> CsvPerson:
    email = validate_email(row.get("email", ""), "email")
    status = row.get("status", "").lower()
    if status not in STATUSES:
        raise InvalidInput("status", "must be active or deprovisioned (or empty for active)")
    extras = _split(row.get("secondary_emails", ""))
    secondary = tuple(validate_email(extra, "secondary_emails") for extra in extras)
    groups = _split(row.get("groups", ""))
    if any(len(group) > MAX_GROUP_NAME for group in groups):
        raise InvalidInput("groups", f"a group name is longer than {MAX_GROUP_NAME} characters")
    return CsvPerson(
        line=line,
        email=email,
        name=row.get("name", ""),
        external_id=row.get("external_id") or None,
        status=STATUSES[status],
        secondary_emails=tuple(e for e in secondary if email_key(e) != email_key(email)),
        groups=groups,
    )


def person_record(person: CsvPerson, existing: User | None) -> PersonRecord:
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
