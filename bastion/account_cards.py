"""A person's app accounts as their All accounts page shows them: one card per account, with a
status that says what to do next. The page, the directory's view of a person and the API read the
same cards here, so they cannot disagree.

The card's status comes from the member's onboarding status (``bastion/onboarding.py``) and the
account's state:

    exempted_outside   the account is exempted, or all of theirs in the app are: nothing to do
    connected          they connected their profile to it (any login method), or connected
                       their account to Bastion (a password app)
    sso                the app is signed in to with single sign-on (connecting the profile is
                       offered, not needed)
    connect_account    a password app, not connected yet: the next step is theirs

``connect_problem`` says why the profile cannot be connected yet (bastion/actions/profiles.py),
so the card says it before anyone is sent to log in.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum

from sqlalchemy import select
from sqlalchemy.orm import Session

from bastion.actions.actors import Actor
from bastion.actions.permissions import READ_DIRECTORY, require, sees_every_account
from bastion.actions.profiles import connect_problem
from bastion.credential_status import CredentialStatus, statuses_of_person
from bastion.storage.models import Account, App, AppMember, Asset, Grant, User
from bastion.storage.models.enums import AccountState, LoginMethod, OnboardingStatus
from bastion.storage.tenancy import Tenant


class CardStatus(StrEnum):
    CONNECT_ACCOUNT = "connect_account"
    CONNECTED = "connected"
    SSO = "sso"
    EXEMPTED = "exempted_outside"


@dataclass(frozen=True)
class AccountCard:
    account: Account
    app: App
    member: AppMember | None
    status: CardStatus
    next_step: str
    holdings: list[tuple[Asset, list[str]]] = field(default_factory=list)
    # The login the person saved for it (a password app), as owners may see it: no value.
    saved_login: CredentialStatus | None = None

    @property
    def profile_connected(self) -> bool:
        return self.account.profile_linked_at is not None

    @property
    def connect_problem(self) -> str | None:
        """Why connecting the profile is not possible now; None when it is (or is done)."""
        if self.profile_connected or self.status == CardStatus.EXEMPTED:
            return None
        problem = connect_problem(self.account, self.app)
        return problem.message if problem is not None else None


def card_status(app: App, account: Account, member: AppMember | None) -> tuple[CardStatus, str]:
    """The card's status and its next step, in words the account's person reads."""
    if account.state == AccountState.EXEMPTED or (
        member is not None and member.onboarding_status == OnboardingStatus.MANAGED_OUTSIDE
    ):
        return (
            CardStatus.EXEMPTED,
            "Nothing to do: this account is exempted, so its access is managed outside Bastion.",
        )
    if account.profile_linked_at is not None:
        return CardStatus.CONNECTED, (
            f"Connected as {account.profile_name}." if account.profile_name else "Connected."
        )
    if app.login_method == LoginMethod.SSO:
        return (
            CardStatus.SSO,
            f"You sign in to {app.label} with your company's single sign-on.",
        )
    if member is not None and member.onboarding_status == OnboardingStatus.ONBOARDED:
        return CardStatus.CONNECTED, "Nothing to do: this account is connected to Bastion."
    return (
        CardStatus.CONNECT_ACCOUNT,
        "Connect the Facebook profile you use for Meta Business Manager to this account.",
    )


def person_for_cards(session: Session, *, actor: Actor, viewer: User, person_id: int) -> User:
    """The person whose cards are asked for: oneself, or anyone for a directory reader (checked
    before the look-up, so an id is not confirmed to someone who may not read the directory)."""
    if person_id != viewer.id:
        require(session, actor=actor, app=None, action=READ_DIRECTORY)
    return Tenant(session, viewer.workspace_id).get(User, person_id)


def account_cards(
    session: Session, *, actor: Actor, viewer: User, person: User
) -> list[AccountCard]:
    """The person's present accounts in connected apps, one card each, as ``viewer`` may see them.

    One's own accounts are always shown. Another person's need the directory read, and then only
    their accounts in apps where the viewer sees everyone's accounts (the apps they own; every
    app for admins).
    """
    if person.id != viewer.id:
        require(session, actor=actor, app=None, action=READ_DIRECTORY)
    rows = session.execute(
        select(Account, App, AppMember)
        .join(App, App.id == Account.app_id)
        .outerjoin(AppMember, (AppMember.app_id == App.id) & (AppMember.user_id == person.id))
        .where(
            Account.workspace_id == person.workspace_id,
            Account.matched_user_id == person.id,
            Account.present.is_(True),
            App.disconnected_at.is_(None),
        )
        .order_by(App.label, App.id, Account.name, Account.id)
    ).all()
    if person.id != viewer.id:
        apps = {app.id: app for _a, app, _m in rows}
        shown = {i for i, app in apps.items() if sees_every_account(session, user=viewer, app=app)}
        rows = [row for row in rows if row[1].id in shown]
    held = _holdings(session, [account.id for account, _app, _member in rows])
    saved = statuses_of_person(session, user=person, account_ids=list(held))
    return [
        AccountCard(
            account,
            app,
            member,
            *card_status(app, account, member),
            held[account.id],
            saved.get(account.id),
        )
        for account, app, member in rows
    ]


def _holdings(session: Session, account_ids: list[int]) -> dict[int, list[tuple[Asset, list[str]]]]:
    found: dict[int, list[tuple[Asset, list[str]]]] = {i: [] for i in account_ids}
    if not account_ids:
        return found
    for grant, asset in session.execute(
        select(Grant, Asset)
        .join(Asset, Asset.id == Grant.asset_id)
        .where(Grant.account_id.in_(account_ids), Grant.present.is_(True))
        .order_by(Asset.name, Asset.id)
    ):
        found[grant.account_id].append((asset, grant.tasks))
    return found
