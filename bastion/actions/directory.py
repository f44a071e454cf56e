"""Every write to the corporate directory's people and their lifecycle (teams: ``teams.py``).

SCIM and the CSV import both come here, so a person deprovisioned by Okta and one marked
``deprovisioned`` in a spreadsheet go through the same steps: the row is kept with when and by
what, each app holding one of their seats is asked to check soon, and the audit log says so.
Callers commit; nothing here commits, so a failed request leaves nothing half-written.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import timedelta
from typing import Any

from sqlalchemy import bindparam, delete, insert, select
from sqlalchemy.orm import Session, make_transient_to_detached
from sqlalchemy.orm.attributes import set_committed_value

from bastion.actions.actors import Actor
from bastion.actions.credentials import destroy_credentials
from bastion.actions.users import email_key, validate_email
from bastion.audit import AuditAction, AuditEntry, record, record_many
from bastion.directory_records import EmailRecord, PersonRecord
from bastion.errors import Conflict, InvalidInput
from bastion.nul_characters import refuse_nul
from bastion.storage.models import (
    Account,
    App,
    TeamMember,
    User,
    UserEmail,
    table_of,
    utcnow,
)
from bastion.storage.models.enums import AppStatus, UserSource, UserStatus, WorkspaceRole
from bastion.storage.tenancy import Tenant

# Column sizes (bastion/storage/models/directory.py): refuse longer values with a clear error
# instead of a database error that differs between SQLite and PostgreSQL.
_LIMITS = {
    "userName": 320,
    "displayName": 200,
    "name.givenName": 100,
    "name.familyName": 100,
    "externalId": 200,
    "emails.value": 320,
    "emails.type": 32,
    "emails.display": 320,
}


# Run on every provisioning request, so built once.
_INSERT_USER = insert(table_of(User)).returning(table_of(User).c.id)
_INSERT_EMAIL = insert(table_of(UserEmail)).returning(table_of(UserEmail).c.id)
# Many rows at once, without RETURNING: psycopg parses a multi-row statement's placeholders
# afresh each time (it caches only short statements), which cost more than the insert itself.
_INSERT_USERS = insert(table_of(User))
_INSERT_EMAILS = insert(table_of(UserEmail))
_SAME_USER_NAME = select(User.id, User.removed_at).where(
    User.workspace_id == bindparam("workspace"), User.user_name_key == bindparam("key")
)


def _check_length(field: str, value: str | None) -> None:
    if value is not None and len(value) > _LIMITS[field]:
        raise InvalidInput(field, f"is longer than {_LIMITS[field]} characters")


def clean_person(person: PersonRecord) -> PersonRecord:
    """The record as it will be stored, or InvalidInput naming the SCIM attribute that is wrong.

    The CSV import runs it on every line before writing anything, so a bad line is named by its
    number instead of failing the import half-way.
    """
    for name, value in (
        ("userName", person.user_name),
        ("displayName", person.display_name),
        ("name.givenName", person.given_name),
        ("name.familyName", person.family_name),
        ("externalId", person.external_id),
    ):
        refuse_nul(name, value)
    for email in person.emails:
        refuse_nul("emails.value", email.value)
        refuse_nul("emails.type", email.type)
        refuse_nul("emails.display", email.display)
    refuse_nul("", person.scim_attributes)
    user_name = person.user_name.strip()
    if not user_name:
        raise InvalidInput("userName", "must not be empty")
    _check_length("userName", user_name)
    _check_length("displayName", person.display_name)
    _check_length("name.givenName", person.given_name)
    _check_length("name.familyName", person.family_name)
    _check_length("externalId", person.external_id)
    seen: set[str] = set()
    emails: list[EmailRecord] = []
    for email in person.emails:
        value = validate_email(email.value, "emails.value")
        _check_length("emails.value", value)
        _check_length("emails.type", email.type)
        _check_length("emails.display", email.display)
        if email_key(value) in seen:
            continue  # one row per address; the first mention wins
        seen.add(email_key(value))
        emails.append(EmailRecord(value, email.type, email.primary, email.display))
    return PersonRecord(
        user_name=user_name,
        display_name=person.display_name,
        given_name=person.given_name,
        family_name=person.family_name,
        external_id=person.external_id,
        active=person.active,
        emails=tuple(emails),
        scim_attributes=person.scim_attributes,
    )


def _primary_email(person: PersonRecord) -> str | None:
    """The address the person is reached at: the primary one, else the first listed."""
    for email in person.emails:
        if email.primary:
            return email.value
    return person.emails[0].value if person.emails else None


def _ensure_user_name_free(tenant: Tenant, user_name: str, user_id: int | None) -> None:
    other = tenant.find(User, User.user_name_key == email_key(user_name))
    if other is not None and other.id != user_id:
        raise Conflict(f"userName {user_name!r} is already taken in this directory")


def _person_fields(person: PersonRecord) -> dict[str, Any]:
    """The User columns a directory record sets."""
    primary = _primary_email(person)
    fields: dict[str, Any] = {
        "user_name": person.user_name,
        "user_name_key": email_key(person.user_name),
        "display_name": person.display_name,
        "given_name": person.given_name,
        "family_name": person.family_name,
        "external_id": person.external_id,
        "email": primary,
        "email_key": email_key(primary) if primary else None,
    }
    if person.scim_attributes is not None:
        fields["scim_attributes"] = person.scim_attributes
    return fields


def _email_rows(workspace_id: int, person: PersonRecord) -> list[dict[str, Any]]:
    return [
        {
            "workspace_id": workspace_id,
            "email": e.value,
            "email_key": email_key(e.value),
            "type": e.type,
            "primary": e.primary,
            "display": e.display,
        }
        for e in person.emails
    ]


def _write_person(user: User, person: PersonRecord) -> list[str]:
    """Copy a record onto a row; return the names of the fields that changed."""
    wanted = _person_fields(person)
    changed = [name for name, value in wanted.items() if getattr(user, name) != value]
    for name in changed:
        setattr(user, name, wanted[name])
    current = [(e.email, e.type, e.primary, e.display) for e in user.emails]
    emails = [(e.value, e.type, e.primary, e.display) for e in person.emails]
    if current != emails:
        changed.append("emails")
        if current:
            user.emails.clear()
            # Flushing the removals first keeps the (user, email_key) constraint from seeing an
            # address that is only being re-typed as a duplicate.
            Session.object_session(user).flush()  # type: ignore[union-attr]
        user.emails.extend(UserEmail(**row) for row in _email_rows(user.workspace_id, person))
    return [name for name in changed if name != "user_name_key" and name != "email_key"]


def create_person(
    session: Session,
    *,
    workspace_id: int,
    person: PersonRecord,
    source: UserSource,
    actor: Actor,
    check_delay: timedelta,
) -> User:
    """Add a person to the directory, or bring back one the identity provider removed earlier.

    A removed person keeps their row (and the app accounts matched to it), so provisioning the
    same userName again revives that row rather than starting a new history.
    """
    person = clean_person(person)
    tenant = Tenant(session, workspace_id)
    existing = session.execute(
        _SAME_USER_NAME, {"workspace": workspace_id, "key": email_key(person.user_name)}
    ).one_or_none()
    if existing is not None and existing.removed_at is not None:
        tenant.get(User, existing.id).removed_at = None
        return update_person(
            session,
            workspace_id=workspace_id,
            user_id=existing.id,
            person=person,
            source=source,
            actor=actor,
            check_delay=check_delay,
        )
    if existing is not None:
        raise Conflict(f"userName {person.user_name!r} is already taken in this directory")
    now = utcnow()
    user = _insert_person(
        session,
        {
            "workspace_id": workspace_id,
            "scim_attributes": {},
            **_person_fields(person),
            "source": source,
            "status": UserStatus.DEPROVISIONED if person.active is False else UserStatus.ACTIVE,
            "status_changed_at": now,
            "status_changed_by": _status_source(source, actor),
            "role": WorkspaceRole.MEMBER,
            "password_hash": None,
            "must_change_password": False,
            "removed_at": None,
            "created_at": now,
            "updated_at": now,
        },
        _email_rows(workspace_id, person),
    )
    record(
        session,
        workspace_id=workspace_id,
        actor=actor.label,
        action=AuditAction.USER_CREATED,
        target=f"user:{user.id}",
        details={"email": user.email, "role": user.role.value, "source": source.value},
        request_id=actor.request_id,
    )
    return user


def _insert_person(session: Session, columns: dict[str, Any], emails: list[dict[str, Any]]) -> User:
    """Insert a new person's rows with prebuilt statements and return the User, as if loaded.

    An identity provider's first sync creates thousands of people one request at a time; the
    unit of work's bookkeeping for these two inserts cost more than the rest of the request.
    The objects join the session as persistent rows, so later changes flush as usual (a column
    left out here is simply loaded on first use). Unlike objects the unit of work inserted, they
    stay in the session if the transaction rolls back, as loaded rows do.
    """
    connection = session.connection()
    user_id = connection.execute(_INSERT_USER, columns).scalar_one()
    _forget_rolled_back(session, User, user_id)
    rows = []
    for email in emails:
        email = {**email, "user_id": user_id}
        email_id = connection.execute(_INSERT_EMAIL, email).scalar_one()
        _forget_rolled_back(session, UserEmail, email_id)
        row = UserEmail(id=email_id, **email)
        make_transient_to_detached(row)
        rows.append(row)
    user = User(id=user_id, **columns)
    make_transient_to_detached(user)
    set_committed_value(user, "emails", rows)
    session.add(user)
    return user


def _forget_rolled_back(session: Session, model: type[User] | type[UserEmail], row_id: int) -> None:
    """Drop an object left in the session by a rolled-back insert whose id SQLite reused."""
    stale = session.identity_map.get(session.identity_key(model, row_id))
    if stale is not None:
        session.expunge(stale)


def create_people(
    session: Session,
    *,
    workspace_id: int,
    people: Sequence[PersonRecord],
    source: UserSource,
    actor: Actor,
) -> list[int]:
    """Add people new to the directory in one go (a CSV import's batch); return their ids.

    The rows and audit events are those ``create_person`` writes for each, in a handful of
    statements for the whole batch. A person the identity provider removed earlier comes back
    through ``create_person``, which revives their row; here that is a conflict.
    """
    people = [clean_person(person) for person in people]
    keys = [email_key(person.user_name) for person in people]
    if not people:
        return []
    if len(set(keys)) < len(keys):
        raise Conflict("the same userName is given twice")
    taken = session.scalar(
        select(User.id)
        .where(User.workspace_id == workspace_id, User.user_name_key.in_(keys))
        .limit(1)
    )
    if taken is not None:
        raise Conflict("a userName is already taken in this directory (was it just added?)")
    now = utcnow()
    connection = session.connection()
    columns = [
        {
            "workspace_id": workspace_id,
            "scim_attributes": {},
            **_person_fields(person),
            "source": source,
            "status": UserStatus.DEPROVISIONED if person.active is False else UserStatus.ACTIVE,
            "status_changed_at": now,
            "status_changed_by": _status_source(source, actor),
            "role": WorkspaceRole.MEMBER,
            "password_hash": None,
            "must_change_password": False,
            "removed_at": None,
            "created_at": now,
            "updated_at": now,
        }
        for person in people
    ]
    connection.execute(_INSERT_USERS, columns)
    found = connection.execute(
        select(User.user_name_key, User.id).where(
            User.workspace_id == workspace_id, User.user_name_key.in_(keys)
        )
    )
    id_of = {row.user_name_key: row.id for row in found}
    user_ids = [id_of[key] for key in keys]
    emails = [
        {**row, "user_id": user_id}
        for user_id, person in zip(user_ids, people, strict=True)
        for row in _email_rows(workspace_id, person)
    ]
    if emails:
        connection.execute(_INSERT_EMAILS, emails)
    for user_id in user_ids:
        _forget_rolled_back(session, User, user_id)
    record_many(
        session,
        workspace_id=workspace_id,
        actor=actor.label,
        entries=[
            AuditEntry(
                AuditAction.USER_CREATED,
                f"user:{user_id}",
                {"email": row["email"], "role": WorkspaceRole.MEMBER.value, "source": source.value},
            )
            for user_id, row in zip(user_ids, columns, strict=True)
        ],
        request_id=actor.request_id,
    )
    return user_ids


def update_person(
    session: Session,
    *,
    workspace_id: int,
    user_id: int,
    person: PersonRecord,
    source: UserSource,
    actor: Actor,
    check_delay: timedelta,
) -> User:
    """Replace what the directory says about a person; an ``active`` change runs the lifecycle."""
    person = clean_person(person)
    tenant = Tenant(session, workspace_id)
    user = tenant.get(User, user_id)
    _ensure_user_name_free(tenant, person.user_name, user.id)
    changed = _write_person(user, person)
    if changed:
        user.updated_at = utcnow()
        session.flush()
        record(
            session,
            workspace_id=workspace_id,
            actor=actor.label,
            action=AuditAction.USER_UPDATED,
            target=f"user:{user.id}",
            details={"fields": sorted(changed), "source": source.value},
            request_id=actor.request_id,
        )
    if person.active is True and user.status == UserStatus.DEPROVISIONED:
        reactivate_user(
            session, workspace_id=workspace_id, user_id=user.id, source=source, actor=actor
        )
    elif person.active is False and user.status != UserStatus.DEPROVISIONED:
        deprovision_user(
            session,
            workspace_id=workspace_id,
            user_id=user.id,
            source=source,
            actor=actor,
            check_delay=check_delay,
        )
    return user


def _status_source(source: UserSource, actor: Actor) -> str:
    return f"{source.value}:{actor.label}"[:100]


def _set_status(
    session: Session, user: User, status: UserStatus, source: UserSource, actor: Actor
) -> None:
    before = user.status
    now = utcnow()
    user.status = status
    user.status_changed_at = now
    user.status_changed_by = _status_source(source, actor)
    user.updated_at = now
    record(
        session,
        workspace_id=user.workspace_id,
        actor=actor.label,
        action=AuditAction.USER_STATUS_CHANGED,
        target=f"user:{user.id}",
        details={"before": before.value, "after": status.value, "source": source.value},
        request_id=actor.request_id,
    )


def deprovision_user(
    session: Session,
    *,
    workspace_id: int,
    user_id: int,
    source: UserSource,
    actor: Actor,
    check_delay: timedelta,
) -> User:
    """Mark a person as gone from the company, ask every app holding their seats to check, and
    destroy the logins they saved in Bastion (whatever their status was, so none outlives them)."""
    user = Tenant(session, workspace_id).get(User, user_id)
    if user.status != UserStatus.DEPROVISIONED:
        _set_status(session, user, UserStatus.DEPROVISIONED, source, actor)
        request_app_checks(
            session, workspace_id=workspace_id, user_id=user.id, actor=actor, delay=check_delay
        )
    destroy_credentials(
        session, workspace_id=workspace_id, user_id=user.id, actor=actor, reason="deprovisioned"
    )
    return user


def reactivate_user(
    session: Session, *, workspace_id: int, user_id: int, source: UserSource, actor: Actor
) -> User:
    user = Tenant(session, workspace_id).get(User, user_id)
    if user.status == UserStatus.DEPROVISIONED:
        _set_status(session, user, UserStatus.ACTIVE, source, actor)
    return user


def request_app_checks(
    session: Session, *, workspace_id: int, user_id: int, actor: Actor, delay: timedelta
) -> list[App]:
    """Bring forward the check of every app where the person still holds a matched account.

    The check itself belongs to the check-for-updates job; this records the request on the app
    (status ``requires_check``, ``next_check_at`` no later than ``now + delay``) so the
    deprovisioning report does not wait for the daily check. A restricted app keeps its status,
    which carries when Meta lets us manage users again.
    """
    tenant = Tenant(session, workspace_id)
    holding = select(Account.app_id).where(
        Account.workspace_id == workspace_id,
        Account.matched_user_id == user_id,
        Account.present.is_(True),
    )
    # Locked, in id order, and so read once a check finishing on one of them has committed
    # (it locks its app before reading the directory: ``execute_check``), so that the time
    # brought forward is decided on what that check left and not overwritten by it.
    apps = list(
        session.scalars(
            tenant.select(App, App.id.in_(holding), App.disconnected_at.is_(None))
            .order_by(App.id)
            .with_for_update()
        )
    )
    due = utcnow() + delay
    for app in apps:
        if app.status != AppStatus.RESTRICTED:
            app.status = AppStatus.REQUIRES_CHECK
            app.status_reason = "a person holding a seat was deprovisioned in the directory"
        if app.next_check_at is None or app.next_check_at > due:
            app.next_check_at = due
        record(
            session,
            workspace_id=workspace_id,
            actor=actor.label,
            action=AuditAction.APP_CHECK_REQUESTED,
            target=f"app:{app.id}",
            details={"user": user_id, "next_check_at": app.next_check_at.isoformat()},
            request_id=actor.request_id,
        )
    return apps


def remove_person(
    session: Session,
    *,
    workspace_id: int,
    user_id: int,
    source: UserSource,
    actor: Actor,
    check_delay: timedelta,
) -> User:
    """The identity provider deleted the person: deprovision them and hide them from SCIM.

    The row is never deleted: reports need the history, and app accounts matched to the person
    must keep pointing at someone (see docs/directory.md).
    """
    user = Tenant(session, workspace_id).get(User, user_id)
    if user.removed_at is not None:
        return user
    deprovision_user(
        session,
        workspace_id=workspace_id,
        user_id=user.id,
        source=source,
        actor=actor,
        check_delay=check_delay,
    )
    user.removed_at = utcnow()
    session.execute(
        delete(TeamMember).where(
            TeamMember.workspace_id == workspace_id, TeamMember.user_id == user.id
        )
    )
    linked = session.scalar(
        select(Account.id)
        .where(Account.workspace_id == workspace_id, Account.matched_user_id == user.id)
        .limit(1)
    )
    record(
        session,
        workspace_id=workspace_id,
        actor=actor.label,
        action=AuditAction.USER_REMOVED,
        target=f"user:{user.id}",
        details={"source": source.value, "linked_accounts": linked is not None},
        request_id=actor.request_id,
    )
    return user
