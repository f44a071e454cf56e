"""What may be known about saved logins without opening one: that a login is saved, whether it
has two-factor, and where its rotation stands. Owners and admins read this for their apps (the
Members tab, ``GET /api/v1/apps/{id}/credentials``, ``bastion credentials list``); a person
reads it for their own cards. No value is ever read here.

A rotation is due when the app's schedule says so (``password_set_at + rotation_days``) or, where
the app rotates after reveals, once the password was handed out after it was set:

    not_scheduled   the app's policy asks for no rotation (or none is due yet by it)
    scheduled       due later, at ``rotation_due_at``
    due             due now: the person sees the rotation on their card
    overdue         due for more than ``OVERDUE_AFTER``: shown in Members, the person e-mailed,
                    then ``OWNERS_AFTER`` later the app's owners
    started         a new password was generated; waiting for the person to confirm they set it
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum

from sqlalchemy import select
from sqlalchemy.orm import Session

from bastion.actions.actors import Actor
from bastion.actions.permissions import VIEW_PEOPLE, require
from bastion.storage.models import Account, App, Credential, User, utcnow

OVERDUE_AFTER = timedelta(days=1)
OWNERS_AFTER = timedelta(days=3)


class RotationState(StrEnum):
    NOT_SCHEDULED = "not_scheduled"
    SCHEDULED = "scheduled"
    DUE = "due"
    OVERDUE = "overdue"
    STARTED = "started"


def due_date(credential: Credential, app: App) -> datetime | None:
    """When the app's policy wants this password changed next; None for never."""
    dates = []
    if app.rotation_days:
        dates.append(credential.password_set_at + timedelta(days=app.rotation_days))
    revealed = credential.last_revealed_at
    if app.rotate_after_reveal and revealed is not None and revealed >= credential.password_set_at:
        dates.append(revealed)
    return min(dates) if dates else None


def rotation_state(credential: Credential, now: datetime | None = None) -> RotationState:
    now = now or utcnow()
    due = credential.rotation_due_at
    if credential.pending_password_secret_id is not None:
        return RotationState.STARTED
    if due is None:
        return RotationState.NOT_SCHEDULED
    if now >= due + OVERDUE_AFTER:
        return RotationState.OVERDUE
    if now >= due:
        return RotationState.DUE
    return RotationState.SCHEDULED


@dataclass(frozen=True)
class CredentialStatus:
    account_id: int
    account_name: str
    user_id: int
    person_name: str
    saved_at: datetime
    two_factor: bool
    # The app requires two-factor and this login has none: saved, but flagged.
    two_factor_missing: bool
    password_set_at: datetime
    last_revealed_at: datetime | None
    rotation: RotationState
    rotation_due_at: datetime | None

    @property
    def summary(self) -> str:
        """A few words for a table cell."""
        words = ["Login saved", "two-factor" if self.two_factor else "no two-factor"]
        if self.rotation in (RotationState.DUE, RotationState.OVERDUE, RotationState.STARTED):
            words.append(f"rotation {self.rotation.value}")
        return " · ".join(words)


def _status(credential: Credential, account: Account, app: App, user: User) -> CredentialStatus:
    two_factor = credential.totp_secret_id is not None
    return CredentialStatus(
        account_id=account.id,
        account_name=account.name or account.email or account.external_id,
        user_id=user.id,
        person_name=user.display_name or user.email or "",
        saved_at=credential.created_at,
        two_factor=two_factor,
        two_factor_missing=app.require_two_factor and not two_factor,
        password_set_at=credential.password_set_at,
        last_revealed_at=credential.last_revealed_at,
        rotation=rotation_state(credential),
        rotation_due_at=credential.rotation_due_at,
    )


def credential_statuses(
    session: Session, *, actor: Actor, app: App, account_ids: list[int] | None = None
) -> dict[int, CredentialStatus]:
    """The app's saved logins by account (only these accounts when given), for its owners."""
    require(session, actor=actor, app=app, action=VIEW_PEOPLE)
    query = (
        select(Credential, Account, User)
        .join(Account, Account.id == Credential.account_id)
        .join(User, User.id == Credential.user_id)
        .where(Account.app_id == app.id)
        .order_by(Account.id)
    )
    if account_ids is not None:
        if not account_ids:
            return {}
        query = query.where(Account.id.in_(account_ids))
    return {
        account.id: _status(credential, account, app, user)
        for credential, account, user in session.execute(query)
    }


def statuses_of_person(
    session: Session, *, user: User, account_ids: list[int]
) -> dict[int, CredentialStatus]:
    """The logins a person saved among these accounts (their All accounts cards)."""
    if not account_ids:
        return {}
    rows = session.execute(
        select(Credential, Account, App)
        .join(Account, Account.id == Credential.account_id)
        .join(App, App.id == Account.app_id)
        .where(Credential.user_id == user.id, Account.id.in_(account_ids))
    )
    return {
        account.id: _status(credential, account, app, user) for credential, account, app in rows
    }
