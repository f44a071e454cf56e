"""Connecting a person's own profile to their account in an app, through the app's login.

``start_profile_link`` checks the account is the caller's own (their matched account, whether
they are a member, a directory person or a guest), records an attempt bound to the browser by a
cookie whose hash is kept, and gives the app's login URL. The app sends the browser back to
``CALLBACK_PATH``; ``finish_profile_link`` checks the attempt (known, this browser's and this
person's, unused, not expired; used up whatever happens), has the app turn the answer into an
identity, and links the profile **only** when the seat the identity holds in the business is
this account. Anything else is refused, audited (``account.profile_link_refused``) and nothing
is linked; a link is audited (``account.profile_linked``) and counts the person's member as
onboarded, whatever the app's login method.

What the login hands over (a code, then the app's token for the person) stays inside the
connector and is dropped there: nothing of it is stored or shown. Connecting needs the secret
of the app people log in to (the App secret in the app's settings): without it the person is
told so before anything is sent.

An account that is only an invitation to the business carries the invitation's id, not a
seat's, so no profile can be checked against it: it is refused before the login, and the
person connects once a check sees the invitation accepted.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from datetime import timedelta

from sqlalchemy import delete, select
from sqlalchemy.orm import Session

from bastion.actions.account_steps import audit_event
from bastion.actions.actors import Actor
from bastion.actions.apps import app_secret_of
from bastion.audit import AuditAction
from bastion.concurrency import run_sync
from bastion.connectors.base import (
    ConnectorError,
    LoginRefused,
    ProfileIdentity,
    ProfileLogin,
    RateLimited,
    Transient,
)
from bastion.connectors.registry import ConnectorOptions, open_profile_login
from bastion.errors import BastionError, NotFound
from bastion.onboarding import account_connected
from bastion.security.tokens import hash_token
from bastion.security.vault import KeyRing
from bastion.storage.models import Account, App, AppMember, ProfileLinkAttempt, utcnow
from bastion.storage.models.enums import AccountKind, AccountState
from bastion.storage.tenancy import Tenant

CALLBACK_PATH = "/me/accounts/connect/callback"
ATTEMPT_VALID_FOR = timedelta(minutes=10)
# The person's answer was "no" (the login's own words are matched on ``error``, not its text).
CANCELLED = "access_denied"


class ProfileLinkRefused(BastionError):
    """Nothing was linked; ``problem`` names why and the message says it plainly.

    ``connected_as`` is set when the account turned out to be connected already (a second
    click on the login's answer): the profile's name, or "" when it has none.
    """

    code = "profile_link_refused"

    def __init__(
        self,
        problem: str,
        message: str,
        *,
        connected_as: str | None = None,
        retry_later: bool = False,
    ) -> None:
        super().__init__(message)
        self.problem = problem
        self.connected_as = connected_as
        self.retry_later = retry_later


@dataclass(frozen=True)
class ProfileLinkStart:
    url: str
    browser_token: str


@dataclass(frozen=True)
class ProfileLinked:
    account: Account
    app: App
    profile_name: str | None


def redirect_uri(base_url: str) -> str:
    """The one return address for every account (listed among the login app's redirect URIs)."""
    return base_url.rstrip("/") + CALLBACK_PATH


def _own_account(session: Session, actor: Actor, account_id: int) -> tuple[Account, App]:
    """The caller's own present account in a connected app; any other reads as not found."""
    if actor.user_id is None:
        raise NotFound(f"Account {account_id} is not one of your accounts")
    account = session.get(Account, account_id)
    app = session.get(App, account.app_id) if account is not None else None
    if (
        account is None
        or app is None
        or account.matched_user_id != actor.user_id
        or not account.present
        or app.disconnected_at is not None
    ):
        raise NotFound(f"Account {account_id} is not one of your accounts")
    return account, app


def connect_problem(account: Account, app: App) -> ProfileLinkRefused | None:
    """Why this account cannot be connected now, before anything is sent; None if it can."""
    if account.state == AccountState.EXEMPTED:
        return ProfileLinkRefused(
            "exempted",
            "This account is exempted: its access is managed outside Bastion, so there is "
            "nothing to connect.",
        )
    if account.kind == AccountKind.INVITATION:
        return ProfileLinkRefused(
            "invitation",
            f"This account is still an invitation to the business in {app.label}, not a seat: "
            f"accept it from the e-mail sent to {account.email or 'you'}, and connect once "
            "Bastion's next check sees you in the business.",
        )
    if account.kind != AccountKind.PERSON:
        return ProfileLinkRefused(
            "not_a_person", "This account is not a person's own login: there is nothing to connect."
        )
    if app.app_secret_id is None:
        return ProfileLinkRefused(
            "no_app_secret",
            f"Connecting needs {app.label}'s App secret, which Bastion does not hold yet: an "
            "owner of the app adds it in the app's settings. Until then nothing can be "
            "connected.",
        )
    return None


def _profile_login(
    session: Session, ring: KeyRing, options: ConnectorOptions, app: App
) -> ProfileLogin:
    app_secret = app_secret_of(session, ring, app)
    if app_secret is None:  # connect_problem said so before
        raise ProfileLinkRefused("no_app_secret", "Connecting needs the app's App secret.")
    return open_profile_login(app.kind.value, app.settings, options, app_secret=app_secret)


def start_profile_link(
    session: Session,
    ring: KeyRing,
    options: ConnectorOptions,
    *,
    actor: Actor,
    account_id: int,
    base_url: str,
) -> ProfileLinkStart:
    """Record an attempt; return the app's login URL and the cookie that binds the browser."""
    account, app = _own_account(session, actor, account_id)
    problem = connect_problem(account, app)
    if problem is not None:
        raise problem
    login = _profile_login(session, ring, options, app)
    now = utcnow()
    session.execute(delete(ProfileLinkAttempt).where(ProfileLinkAttempt.expires_at < now))
    state, browser = secrets.token_urlsafe(32), secrets.token_urlsafe(32)
    session.add(
        ProfileLinkAttempt(
            workspace_id=account.workspace_id,
            account_id=account.id,
            user_id=actor.user_id,
            state_hash=hash_token(state),
            browser_hash=hash_token(browser),
            created_at=now,
            expires_at=now + ATTEMPT_VALID_FOR,
        )
    )
    session.flush()
    url = login.login_url(redirect_uri=redirect_uri(base_url), state=state)
    return ProfileLinkStart(url=url, browser_token=browser)


def finish_profile_link(
    session: Session,
    ring: KeyRing,
    options: ConnectorOptions,
    *,
    actor: Actor,
    params: dict[str, str],
    browser_token: str | None,
    base_url: str,
) -> ProfileLinked:
    """The app's login sent the browser back: check everything, then link the profile.

    The caller commits in both outcomes: a refusal's audit event, and the attempt used up, are
    worth keeping.
    """
    state = params.get("state") or ""
    attempt = (
        session.scalar(
            select(ProfileLinkAttempt)
            .where(ProfileLinkAttempt.state_hash == hash_token(state))
            .with_for_update()
        )
        if state
        else None
    )
    if attempt is None:
        raise ProfileLinkRefused(
            "unknown_attempt",
            "This answer is not one to a connection Bastion started. Start again from the "
            "account's card.",
        )
    account = Tenant(session, attempt.workspace_id).get(Account, attempt.account_id)
    app = session.get_one(App, account.app_id)
    refusal = _Refusals(session, actor, app, account)
    if attempt.used_at is not None:
        raise refusal.connected_meanwhile(
            refusal("replayed", "This connection was already finished. Start again from the card.")
        )
    attempt.used_at = utcnow()
    if browser_token is None or hash_token(browser_token) != attempt.browser_hash:
        raise refusal(
            "other_browser",
            "This connection was started in another browser (or its cookie is gone). Start "
            "again from the account's card, in this browser.",
        )
    if attempt.user_id != actor.user_id:
        raise refusal(
            "other_person",
            "This connection was started by someone else signed in to this browser. Start "
            "again from your account's card.",
        )
    if attempt.expires_at <= utcnow():
        raise refusal("expired_attempt", "Logging in took too long. Start again from the card.")
    if "error" in params:
        if params["error"] == CANCELLED:
            raise refusal("cancelled", "You did not log in, so nothing was connected.")
        error = params["error"][:100]
        description = (params.get("error_description") or "")[:200]
        raise refusal(
            "login_error",
            f"The login did not finish ({error}"
            + (f": {description}" if description else "")
            + "). Nothing was connected; start again from the card.",
        )
    try:
        _own_account(session, actor, account.id)
    except NotFound:
        raise refusal(
            "account_gone", "This account is no longer one of yours, so nothing was connected."
        ) from None
    problem = connect_problem(account, app)
    if problem is not None:
        raise refusal(problem.problem, problem.message)
    code = params.get("code") or ""
    if not code:
        raise refusal("no_code", "The login's answer carries no code. Start again from the card.")
    login = _profile_login(session, ring, options, app)
    try:
        identity = run_sync(login.identify(code=code, redirect_uri=redirect_uri(base_url)))
    except LoginRefused as exc:
        refused = refusal(exc.problem, exc.message)
        raise (
            refusal.connected_meanwhile(refused) if exc.problem == "code_used" else refused
        ) from None
    except (Transient, RateLimited) as exc:
        raise refusal(
            "unavailable",
            f"The app's login could not be finished now ({exc.message}). Nothing was "
            "connected; try again in a few minutes.",
            retry_later=True,
        ) from None
    except ConnectorError as exc:
        raise refusal("login_error", exc.message) from None
    return _link(session, actor, account, app, identity, refusal)


@dataclass(frozen=True)
class _Refusals:
    """Refusals of one answer: each audited against its account, nothing else written."""

    session: Session
    actor: Actor
    app: App
    account: Account

    def __call__(
        self,
        problem: str,
        message: str,
        *,
        identity: ProfileIdentity | None = None,
        other_account: int | None = None,
        retry_later: bool = False,
    ) -> ProfileLinkRefused:
        details: dict[str, object] = {"account": self.account.id, "problem": problem}
        if identity is not None:
            details["profile_name"] = identity.name
        if other_account is not None:
            details["other_account"] = other_account
        audit_event(
            self.session,
            self.app,
            self.actor,
            AuditAction.ACCOUNT_PROFILE_LINK_REFUSED,
            f"account:{self.account.id}",
            details,
        )
        return ProfileLinkRefused(problem, message, retry_later=retry_later)

    def connected_meanwhile(self, refusal: ProfileLinkRefused) -> ProfileLinkRefused:
        """A second answer to one login: the first may have connected the account meanwhile."""
        self.session.refresh(self.account)
        if self.account.profile_linked_at is None:
            return refusal
        name = self.account.profile_name or ""
        return ProfileLinkRefused(
            refusal.problem,
            "That answer was already used (a second click, or the page reloaded); your "
            f"account is connected{f' as {name}' if name else ''}.",
            connected_as=name,
        )


def _link(
    session: Session,
    actor: Actor,
    account: Account,
    app: App,
    identity: ProfileIdentity,
    refusal: _Refusals,
) -> ProfileLinked:
    who = identity.name or "this profile"
    seat = identity.account_external_id
    if seat is None:
        raise refusal(
            "no_seat",
            f"The profile you logged in with ({who}) has no seat in the business {app.label} "
            "manages. Log in with the profile you use for the business; nothing was connected.",
            identity=identity,
        )
    if seat != account.external_id:
        other = session.scalar(
            select(Account).where(Account.app_id == app.id, Account.external_id == seat)
        )
        if other is not None and other.matched_user_id == account.matched_user_id:
            message = (
                f"The profile you logged in with ({who}) holds your other account in "
                f"{app.label} ({other.email or other.name}), not this one: connect it from "
                "that account's card. Nothing was connected."
            )
        else:
            message = (
                f"The profile you logged in with ({who}) is not the one that holds this account "
                f"({account.email or account.name}). Log out of it, log in with the profile "
                "that holds this account and start again; nothing was connected."
            )
        raise refusal(
            "other_profile",
            message,
            identity=identity,
            other_account=other.id if other is not None else None,
        )
    account.profile_name = identity.name
    account.profile_linked_at = utcnow()
    account.profile_linked_by_id = actor.user_id
    audit_event(
        session,
        app,
        actor,
        AuditAction.ACCOUNT_PROFILE_LINKED,
        f"account:{account.id}",
        {"account": account.id, "user_id": account.matched_user_id, "profile_name": identity.name},
    )
    member = session.scalar(
        select(AppMember).where(
            AppMember.app_id == app.id, AppMember.user_id == account.matched_user_id
        )
    )
    if member is not None:
        account_connected(session, member, actor=actor.label)
    return ProfileLinked(account=account, app=app, profile_name=identity.name)
