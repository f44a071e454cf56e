"""Match every present account to a directory person and sort it into its tab.

Onboarded: matched to a directory person. Guest: matched to a guest user. Exempted: an admin
exempted it (until the exemption's expiry, when it returns to the other tabs and the owners are
told). Unmatched: nobody vouches for it. Accounts matched to a deprovisioned person stay linked,
which is how the deprovisioning report finds them. System users are not people: they sit in a
tab of their own, never matched, so no count of people includes them. A partner's person
(imported with the partner's own token) is vouched for by a guest or local partner it is matched
to, or else sits under its partner (state ``partner``), never among our own people.
"""

from __future__ import annotations

from collections.abc import Collection, Generator, Iterator, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, NamedTuple

from sqlalchemy import Connection, select
from sqlalchemy.orm import Session

from bastion.checks.steps import ROWS_PER_STEP, drained
from bastion.matching import DirectoryIndex, Identity, MatchingOptions, MatchRule, Person
from bastion.onboarding import Seated, Seats, settle_check_members
from bastion.storage.bulk import update_rows
from bastion.storage.models import Account, App, AppMember, User, UserEmail, table_of, utcnow
from bastion.storage.models.enums import (
    AccountKind,
    AccountState,
    UserSource,
    UserStatus,
    WorkspaceRole,
)


@dataclass
class ClassifyResult:
    states: dict[str, int] = field(default_factory=dict)
    # The names of the accounts whose exemption expired in this check.
    expired_exemptions: list[str] = field(default_factory=list)
    invited: int = 0


@dataclass(frozen=True)
class _DirectoryPerson:
    """What a check needs of a directory person beyond matching."""

    email: str | None
    active: bool  # may be invited: active and not removed by the identity provider
    guest: bool
    signed_in_at: datetime | None


def directory_people(session: Session, workspace_id: int) -> tuple[list[Person], dict[int, User]]:
    users = {
        u.id: u for u in session.scalars(select(User).where(User.workspace_id == workspace_id))
    }
    people = [
        Person(
            user_id=user.id,
            email=user.email,
            other_emails=tuple(e.email for e in user.emails if not e.primary),
            name=user.display_name,
            active=user.status == UserStatus.ACTIVE,
        )
        for user in users.values()
    ]
    return people, users


DirectoryRows = tuple[list[Person], dict[int, _DirectoryPerson]]


def read_directory(
    connection: Connection, workspace_id: int
) -> Generator[None, None, DirectoryRows]:
    """``directory_people`` as plain rows, in two queries (a check reads the whole directory),
    a step every ``ROWS_PER_STEP`` rows; run it whole with ``drained``."""
    others: dict[int, list[str]] = {}
    for user_id, email in connection.execute(
        select(UserEmail.user_id, UserEmail.email)
        .where(UserEmail.workspace_id == workspace_id, UserEmail.primary.is_not(True))
        .order_by(UserEmail.id)
    ):
        others.setdefault(user_id, []).append(email)
    yield
    people: list[Person] = []
    facts: dict[int, _DirectoryPerson] = {}
    result = connection.execute(
        select(
            User.id,
            User.email,
            User.display_name,
            User.status,
            User.removed_at,
            User.role,
            User.source,
            User.signed_in_at,
        ).where(User.workspace_id == workspace_id)
    )
    for rows in result.partitions(ROWS_PER_STEP):
        for row in rows:
            active = row.status == UserStatus.ACTIVE
            people.append(
                Person(
                    user_id=row.id,
                    email=row.email,
                    other_emails=tuple(others.get(row.id, ())),
                    name=row.display_name,
                    active=active,
                )
            )
            facts[row.id] = _DirectoryPerson(
                email=row.email,
                active=active and row.removed_at is None,
                guest=_guest(row.role, row.source),
                signed_in_at=row.signed_in_at,
            )
        yield
    return people, facts


def is_guest(user: User) -> bool:
    return _guest(user.role, user.source)


def _guest(role: WorkspaceRole, source: UserSource) -> bool:
    return role == WorkspaceRole.GUEST or source in (UserSource.GUEST, UserSource.PARTNER)


_ACCOUNT_COLUMNS = (
    Account.id,
    Account.kind,
    Account.name,
    Account.email,
    Account.external_id,
    Account.state,
    Account.matched_user_id,
    Account.match_rule,
    Account.match_confidence,
    Account.matched_at,
    Account.matched_by_id,
    Account.exemption_reason,
    Account.exempted_at,
    Account.exempted_by_id,
    Account.exemption_expires_at,
)
_NO_MATCH = {"matched_user_id": None, "match_rule": None, "match_confidence": None}
_NO_EXEMPTION = {
    "exemption_reason": None,
    "exempted_at": None,
    "exempted_by_id": None,
    "exemption_expires_at": None,
}


class Classifier:
    """The directory as one check matches against it, read once, and the rule that puts an
    account in its tab. The load asks it for the accounts it adds, which are so written
    already classified (a first check adds every account, and updating each of them again
    right after cost as much as the insert); ``classify_accounts`` then settles the rest."""

    def __init__(self, directory: DirectoryRows, options: MatchingOptions | None) -> None:
        """``directory``: as ``read_directory`` reads it."""
        people, self.directory = directory
        self.index = DirectoryIndex(people, options)
        # The app's present accounts as read before the load, each with its decision where
        # one could be made then: the ones the load leaves as they were are sorted with it
        # (``decide_stored``).
        self.decided: dict[int, tuple[Any, _Decision | None]] | None = None

    @classmethod
    def read(cls, session: Session, app: App, options: MatchingOptions | None) -> Classifier:
        """A classifier for the directory as ``session``'s transaction sees it."""
        return cls(drained(read_directory(session.connection(), app.workspace_id)), options)

    def nothing_present(self) -> None:
        """The app had no present account before the load: every one is decided already."""
        if self.decided is None:
            self.decided = {}

    def added(self, account_id: int, columns: Mapping[str, Any]) -> bool:
        """An account the load inserted with ``new_account``'s columns (and the rest of its
        row): decided as ``classify_accounts`` would decide that row, which writes nothing,
        where the app's other accounts were decided before the load. Returns whether it was."""
        if self.decided is None:
            return False
        row = _AccountRow(account_id, *(columns.get(name) for name in _AccountRow._fields[1:]))
        self.decided[account_id] = (row, _Decision(row.state, {}, row.matched_user_id, False))
        return True

    def decide_stored(self, connection: Connection, app_id: int) -> Generator[None, None, None]:
        """Read the app's present accounts and decide each, a step every ``ROWS_PER_STEP``
        rows (``decided``). Only a decision that writes nothing and depends on no exemption's
        expiry is kept: the rest are decided at the time of the check."""
        now = utcnow()
        decided: dict[int, tuple[Any, _Decision | None]] = {}
        result = connection.execute(
            select(*_ACCOUNT_COLUMNS).where(Account.app_id == app_id, Account.present.is_(True))
        )
        for rows in result.partitions(ROWS_PER_STEP):
            for row in rows:
                # A plain tuple: the sort after the load reads each account's fields again,
                # several times faster than a row's.
                account = _AccountRow._make(row)
                decision = None if account.exemption_expires_at else self.decide(account, now)
                decided[account.id] = (
                    account,
                    decision if decision and not decision.changes else None,
                )
            yield
        self.decided = decided

    def new_account(self, kind: str, email: str | None, name: str, now: datetime) -> dict[str, Any]:
        """The tab and match of an account the load adds (no manual link, no exemption), as
        the columns ``classify_accounts`` would write for it."""
        decision = self.decide(_NEW_ACCOUNT._replace(kind=kind, email=email, name=name), now)
        return {**_NEW_ACCOUNT_COLUMNS, **decision.changes, "state": decision.state}

    def decide(self, row: Any, now: datetime) -> _Decision:
        """``row``: the account's ``_ACCOUNT_COLUMNS``. What to write is in ``changes``; the
        state is there too only once the caller compares it with the stored one."""
        changes: dict[str, Any] = {}
        if row.kind == AccountKind.SYSTEM_USER:
            # A system user is nobody's seat: never matched, exempted or counted among people.
            if row.matched_user_id is not None or row.match_rule is not None:
                changes.update(_NO_MATCH, matched_by_id=None, matched_at=None)
            if row.exemption_reason is not None:
                changes.update(_NO_EXEMPTION)
            return _Decision(AccountState.SYSTEM_USER, changes, None, False)
        manual = row.matched_user_id if row.match_rule == MatchRule.MANUAL else None
        match = self.index.match(Identity(row.id, row.email, row.name, manual))
        matched_user_id = match.user_id if match is not None else None
        if match is None:
            if row.matched_user_id is not None:
                changes.update(_NO_MATCH, matched_at=None)
        elif (row.matched_user_id, row.match_rule) != (match.user_id, match.rule.value):
            changes.update(
                matched_user_id=match.user_id,
                match_rule=match.rule.value,
                match_confidence=match.confidence,
                matched_at=now,
            )
            if match.rule != MatchRule.MANUAL:
                changes["matched_by_id"] = None
        exemption = row.exemption_reason
        expiry = row.exemption_expires_at
        expired = bool(exemption and expiry is not None and expiry <= now)
        if expired:
            changes.update(_NO_EXEMPTION)
            exemption = None
        person = self.directory.get(matched_user_id) if matched_user_id is not None else None
        if exemption:
            state = AccountState.EXEMPTED
        elif row.kind == AccountKind.PARTNER_PERSON and not (person and person.guest):
            # Only a guest or a local partner of ours vouches for a partner's person.
            state = AccountState.PARTNER
        elif person is None:
            state = AccountState.UNMATCHED
        elif person.guest:
            state = AccountState.GUEST
        else:
            state = AccountState.ONBOARDED
        return _Decision(state, changes, matched_user_id, expired)


@dataclass(frozen=True)
class _Decision:
    state: AccountState
    changes: dict[str, Any]
    matched_user_id: int | None
    exemption_expired: bool


class _Account(NamedTuple):
    """What ``Classifier.decide`` reads of an account, for one the load has not written yet."""

    id: int
    kind: str
    email: str | None
    name: str
    matched_user_id: int | None
    match_rule: str | None
    exemption_reason: str | None
    exemption_expires_at: datetime | None


_NEW_ACCOUNT = _Account(0, AccountKind.PERSON, None, "", None, None, None, None)


class _AccountRow(NamedTuple):
    """An account's ``_ACCOUNT_COLUMNS`` as a plain tuple: one read before the load
    (``Classifier.decide_stored``), or one the load inserted (``Classifier.added``)."""

    id: int
    kind: Any
    name: Any
    email: Any
    external_id: Any
    state: Any
    matched_user_id: Any
    match_rule: Any
    match_confidence: Any
    matched_at: Any
    matched_by_id: Any
    exemption_reason: Any
    exempted_at: Any
    exempted_by_id: Any
    exemption_expires_at: Any


# Accounts read by id at most this many at once (SQLite binds up to 32,766 parameters).
_IDS_PER_READ = 500


def _present_accounts(
    session: Session,
    app_id: int,
    decided: dict[int, tuple[Any, _Decision | None]] | None,
    written: Collection[int] | None,
) -> Iterator[tuple[Any, _Decision | None]]:
    """The app's present accounts by id (the first of a person's accounts is their seat),
    each with its decision if one was made before the load: those the load did not write are
    as they were read then, the others are read now."""
    query = select(*_ACCOUNT_COLUMNS).where(Account.app_id == app_id, Account.present.is_(True))
    if decided is None or written is None or len(written) > len(decided):
        # Nothing, or less than what the load wrote, was decided before: all are read now.
        for row in session.execute(query.order_by(Account.id)):
            yield row, None
        return
    ids = sorted(written)
    accounts: list[tuple[Any, _Decision | None]] = []
    for start in range(0, len(ids), _IDS_PER_READ):
        chunk = ids[start : start + _IDS_PER_READ]
        accounts += ((row, None) for row in session.execute(query.where(Account.id.in_(chunk))))
    # What was read before the load was present then; the load wrote every account that left.
    accounts += (item for account_id, item in decided.items() if account_id not in written)
    accounts.sort(key=lambda item: int(item[0].id))
    yield from accounts


# Every column ``new_account`` may set, so that every added account has the same ones.
_NEW_ACCOUNT_COLUMNS: dict[str, Any] = {**_NO_MATCH, "matched_at": None, "matched_by_id": None}


def classify_accounts(
    session: Session,
    app: App,
    classifier: Classifier,
    *,
    base_url: str,
    written: Collection[int] | None = None,
) -> ClassifyResult:
    """Match and sort every present account, then settle the app's members and send the
    invitations (``bastion.onboarding.settle_check_members``). Accounts are read and written as
    plain rows in bulk; only what changed is written. ``written``: the accounts the load
    inserted or updated, when the classifier decided the others before it (``decided``)."""
    session.flush()
    directory = classifier.directory
    now = utcnow()
    result = ClassifyResult()
    updates: dict[tuple[str, ...], list[list[Any]]] = {}
    # Each seated person's seats, and one of their accounts (an accepted one first).
    counts: dict[int, list[int]] = {}
    seat_of: dict[int, tuple[AccountKind, str | None]] = {}
    before, classifier.decided = classifier.decided, None
    for row, decided in _present_accounts(session, app.id, before, written):
        decision = decided or classifier.decide(row, now)
        state, changes, matched_user_id = decision.state, decision.changes, decision.matched_user_id
        if decision.exemption_expired:
            result.expired_exemptions.append(row.name or row.email or row.external_id)
        if row.state != state:
            changes["state"] = state
        result.states[state.value] = result.states.get(state.value, 0) + 1
        if changes:
            columns = tuple(changes)
            updates.setdefault(columns, []).append([*changes.values(), row.id])
        if matched_user_id is None or state == AccountState.PARTNER:
            continue
        managed_exempted = counts.setdefault(matched_user_id, [0, 0])
        if state == AccountState.EXEMPTED:
            managed_exempted[1] += 1
            continue
        managed_exempted[0] += 1
        seat = seat_of.get(matched_user_id)
        if seat is None or seat[0] == AccountKind.INVITATION:
            seat_of[matched_user_id] = (row.kind, row.email or row.name)
    connection = session.connection()
    for columns, values in updates.items():
        update_rows(connection, table_of(Account), columns, values)
    result.invited = settle_check_members(
        session,
        app,
        seated={
            user_id: Seated(
                user_id=user_id,
                email=directory[user_id].email,
                active=directory[user_id].active,
                seat=seat,
                seat_is_invitation=kind == AccountKind.INVITATION,
            )
            for user_id, (kind, seat) in seat_of.items()
            if user_id in directory
        },
        seats={
            user_id: Seats(managed, exempted) for user_id, (managed, exempted) in counts.items()
        },
        signed_in={user_id: person.signed_in_at for user_id, person in directory.items()},
        base_url=base_url,
    )
    # What the session loaded of accounts and members before is stale now.
    for instance in list(session.identity_map.values()):
        if isinstance(instance, Account | AppMember):
            session.expire(instance)
    return result
