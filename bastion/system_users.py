"""An app's system users, apart from its people, and the token hygiene an owner looks at.

A system user is a token holder, not a person: nobody is matched to it, so the Members tabs of
people never count it. What matters about one is what it may do (Full control, the assets it
holds), who created it and whether that person has since left, and, for Bastion's own (the
identity its token acts as), when the token lapses. The creator is tied to the directory the way
accounts are (``bastion/matching.py``: by e-mail), and by a name only one directory person has
when the app gives no e-mail. Read-only: nothing here writes.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from bastion.actions.account_steps import is_bastions_own
from bastion.checks.classify import directory_people
from bastion.matching import DirectoryIndex, Identity
from bastion.storage.models import Account, App, Asset, Grant, User
from bastion.storage.models.enums import AccountKind, UserStatus

FULL_CONTROL_ROLE = "ADMIN"


@dataclass(frozen=True)
class SystemUserRow:
    account: Account
    holdings: list[tuple[Asset, list[str]]]
    created_at: datetime | None
    # The creator as the app names them, and the directory person that is, when one matches.
    created_by: str | None
    creator: User | None
    is_bastion: bool

    @property
    def full_control(self) -> bool:
        return (self.account.app_role or "").upper() == FULL_CONTROL_ROLE

    @property
    def creator_left(self) -> bool:
        return self.creator is not None and self.creator.status == UserStatus.DEPROVISIONED


@dataclass(frozen=True)
class TokenHygiene:
    full_control: int
    creator_left: int
    bastion: SystemUserRow | None
    token_expires_at: datetime | None
    # Without the App secret the app tells nobody when a token lapses.
    token_expiry_known: bool


@dataclass(frozen=True)
class SystemUsers:
    rows: list[SystemUserRow]
    hygiene: TokenHygiene


def system_users(session: Session, app: App, q: str = "") -> SystemUsers:
    """Every present system user of the app (Bastion's own first), those whose name contains
    ``q`` in ``rows``; the hygiene counts are over all of them."""
    accounts = list(
        session.scalars(
            select(Account)
            .where(
                Account.app_id == app.id,
                Account.present.is_(True),
                Account.kind == AccountKind.SYSTEM_USER,
            )
            .order_by(Account.name, Account.id)
        )
    )
    holdings = _holdings(session, [a.id for a in accounts])
    creators = _creators(session, app.workspace_id, accounts)
    every = sorted(
        (
            SystemUserRow(
                account=account,
                holdings=holdings.get(account.id, []),
                created_at=_time(account.details.get("created_at")),
                created_by=account.details.get("created_by_name")
                or account.details.get("created_by_email"),
                creator=creators.get(account.id),
                is_bastion=is_bastions_own(app, account),
            )
            for account in accounts
        ),
        key=lambda row: not row.is_bastion,
    )
    hygiene = TokenHygiene(
        full_control=sum(1 for row in every if row.full_control),
        creator_left=sum(1 for row in every if row.creator_left),
        bastion=next((row for row in every if row.is_bastion), None),
        token_expires_at=app.token_expires_at,
        token_expiry_known=app.app_secret_id is not None,
    )
    wanted = q.strip().lower()
    rows = [row for row in every if wanted in row.account.name.lower()] if wanted else every
    return SystemUsers(rows, hygiene)


def _holdings(session: Session, ids: list[int]) -> dict[int, list[tuple[Asset, list[str]]]]:
    found: dict[int, list[tuple[Asset, list[str]]]] = {}
    if not ids:
        return found
    for account_id, tasks, asset in session.execute(
        select(Grant.account_id, Grant.tasks, Asset)
        .join(Asset, Asset.id == Grant.asset_id)
        .where(Grant.account_id.in_(ids), Grant.present.is_(True), Asset.present.is_(True))
        .order_by(Asset.type, Asset.name)
    ):
        found.setdefault(account_id, []).append((asset, list(tasks)))
    return found


def _creators(session: Session, workspace_id: int, accounts: list[Account]) -> dict[int, User]:
    """Each system user's creator in the directory: by e-mail with the matching rules, else by
    a name exactly one directory person has (the app may give only the creator's name)."""
    wanted = [
        (a.id, a.details.get("created_by_email"), a.details.get("created_by_name") or "")
        for a in accounts
        if a.details.get("created_by_email") or a.details.get("created_by_name")
    ]
    if not wanted:
        return {}
    people, users = directory_people(session, workspace_id)
    index = DirectoryIndex(people)
    by_name: dict[str, list[User]] = {}
    for user in users.values():
        by_name.setdefault(_name_key(user.display_name), []).append(user)
    found: dict[int, User] = {}
    for account_id, email, name in wanted:
        match = index.match(Identity(account_id, email, name))
        if match is not None:
            found[account_id] = users[match.user_id]
            continue
        named = by_name.get(_name_key(name), []) if name.strip() else []
        if len(named) == 1:
            found[account_id] = named[0]
    return found


def _name_key(name: str) -> str:
    return " ".join(name.lower().split())


def _time(value: object) -> datetime | None:
    if not isinstance(value, str) or not value:
        return None
    try:
        return datetime.fromisoformat(value)
    except ValueError:
        return None
