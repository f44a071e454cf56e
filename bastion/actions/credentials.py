"""A person's saved login for an app whose login method is "Username and password": saving it,
revealing it, the app's credential policy, and destroying it when the person leaves.

The login name, the password and the two-factor secret are vault Secrets (purposes
``credential_login``, ``credential_password``, ``credential_totp``); the ``Credential`` row holds
their ids and the dates the policy is checked against. Only the account's own person saves or
reads one (``permissions.require_own_account``): not an owner, not an admin, not the command
line. Reading needs a fresh sign-in (``REVEAL_WINDOW``) of the browser session asking, so a
session left open on a desk does not hand the password out. Every save, refusal, reveal and copy
is audited by what happened and which account, never with a value. Rotation is in
``credential_rotation.py``; what owners see in ``bastion/credential_status.py``.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import timedelta
from enum import StrEnum

from sqlalchemy import delete, select
from sqlalchemy.orm import Session

from bastion.actions.account_steps import audit_event
from bastion.actions.actors import Actor
from bastion.actions.permissions import MANAGE_APP, require, require_own_account
from bastion.actions.secrets import read_secret, store_secret
from bastion.actions.users import validate_email
from bastion.audit import AuditAction, record
from bastion.credential_status import due_date
from bastion.errors import Conflict, InvalidInput, NotFound, PermissionDenied
from bastion.onboarding import account_connected
from bastion.security.totp import CurrentCode, code_is_current, current_code, parse_totp
from bastion.security.vault import KeyRing
from bastion.storage.models import (
    Account,
    App,
    AppMember,
    Credential,
    Secret,
    User,
    WebSession,
    utcnow,
)
from bastion.storage.models.enums import AccountState, LoginMethod
from bastion.storage.tenancy import Tenant

LOGIN_PURPOSE = "credential_login"
PASSWORD_PURPOSE = "credential_password"  # noqa: S105 - a vault purpose's name
TOTP_PURPOSE = "credential_totp"
PENDING_PASSWORD_PURPOSE = "credential_pending_password"  # noqa: S105 - a vault purpose's name
MAX_LOGIN = 320
MAX_PASSWORD = 1000
# A reveal needs the person to have signed in this recently in the session asking.
REVEAL_WINDOW = timedelta(minutes=5)
# Facebook takes a phone number as a login: 7 to 15 digits (E.164's most), with the usual
# separators and a leading +. The API's schema uses the same pattern.
PHONE_PATTERN = r"\+?\(?[0-9](?:[ ().-]*[0-9]){6,14}"
_PHONE = re.compile(f"^{PHONE_PATTERN}$")


class ReauthenticationRequired(PermissionDenied):
    """The session's sign-in is older than ``REVEAL_WINDOW``: sign in again, then reveal."""

    code = "reauthentication_required"


class Reveal(StrEnum):
    """What a reveal hands out."""

    LOGIN = "login"  # the login name and the current code (the card's Log in)
    PASSWORD = "password"  # noqa: S105 - and the password (Copy password, the API)
    NEW_PASSWORD = "new_password"  # noqa: S105 - the password a rotation generated


@dataclass(frozen=True)
class RevealedCredential:
    login: str
    password: str | None
    code: CurrentCode | None


def own_account(
    session: Session, actor: Actor, account_id: int, what: str
) -> tuple[Account, App, User]:
    if actor.user_id is None:
        raise PermissionDenied(f"{what} is for the account's own person only")
    user = session.get(User, actor.user_id)
    if user is None:
        raise PermissionDenied(f"{what} is for the account's own person only")
    account = Tenant(session, user.workspace_id).get(Account, account_id)
    require_own_account(session, actor=actor, account=account, what=what)
    app = session.get_one(App, account.app_id)
    if app.disconnected_at is not None or not account.present:
        raise NotFound(f"Account {account_id} is no longer in a connected app")
    return account, app, user


def credential_of(session: Session, account_id: int) -> Credential | None:
    return session.scalar(select(Credential).where(Credential.account_id == account_id))


# --- saving -----------------------------------------------------------------------------------


def clean_login(value: str) -> str:
    login = (value or "").strip()
    if not login:
        raise InvalidInput("login", "is required: the e-mail or phone number you log in with")
    if len(login) > MAX_LOGIN:
        raise InvalidInput("login", f"must be at most {MAX_LOGIN} characters")
    if "@" in login:
        return validate_email(login, "login")
    if not _PHONE.match(login):
        raise InvalidInput("login", "must be an e-mail address or a phone number")
    return login


def clean_password(value: str) -> str:
    # Kept exactly as typed: spaces at either end may be part of a password.
    if not value:
        raise InvalidInput("password", "is required")
    if len(value) > MAX_PASSWORD:
        raise InvalidInput("password", f"must be at most {MAX_PASSWORD} characters")
    if "\x00" in value:
        raise InvalidInput("password", "must not contain NUL characters")
    return value


def clean_totp(value: str | None, code: str | None) -> str | None:
    """The canonical two-factor secret, checked against the code the person read from their
    authenticator app now; None without a secret."""
    if not (value or "").strip():
        if (code or "").strip():
            raise InvalidInput("totp", "is required with a code: paste the two-factor key too")
        return None
    uri = parse_totp(value or "", "totp")
    if not (code or "").strip():
        raise InvalidInput(
            "totp_code", "is required: type the code your authenticator app shows now"
        )
    if not code_is_current(uri, code or ""):
        raise InvalidInput(
            "totp_code",
            "does not match the key: check the key and type the code your authenticator app "
            "shows now",
        )
    return uri


def save_credentials(
    session: Session,
    ring: KeyRing,
    *,
    account_id: int,
    actor: Actor,
    login: str,
    password: str,
    totp: str | None,
    totp_code: str | None = None,
) -> Credential:
    """Keep the person's login for their own account, replacing any saved before.

    A bad field raises InvalidInput naming it, after recording the refusal in the session (the
    caller commits it alone); nothing is stored then. Saving counts as connecting the account.
    """
    what = "Saving a login"
    account, app, user = own_account(session, actor, account_id, what)
    if app.login_method != LoginMethod.PASSWORD:
        raise Conflict(
            f"{app.label} is signed in to with single sign-on: there is no login to save"
        )
    if account.state == AccountState.EXEMPTED:
        raise Conflict("This account is exempted: its access is managed outside Bastion")
    try:
        clean = (clean_login(login), clean_password(password), clean_totp(totp, totp_code))
    except InvalidInput as exc:
        audit_event(
            session,
            app,
            actor,
            AuditAction.CREDENTIAL_SAVE_REFUSED,
            f"account:{account.id}",
            {"account": account.id, "field": exc.field},
        )
        raise
    login_value, password_value, totp_value = clean
    now = utcnow()
    existing = credential_of(session, account.id)
    if existing is not None:
        _delete_credentials(session, [existing])
    workspace = account.workspace_id

    def vault(purpose: str, value: str) -> str:
        return store_secret(session, ring, workspace_id=workspace, purpose=purpose, value=value).id

    credential = Credential(
        workspace_id=workspace,
        account_id=account.id,
        user_id=user.id,
        login_secret_id=vault(LOGIN_PURPOSE, login_value),
        password_secret_id=vault(PASSWORD_PURPOSE, password_value),
        totp_secret_id=vault(TOTP_PURPOSE, totp_value) if totp_value else None,
        password_set_at=now,
    )
    credential.rotation_due_at = due_date(credential, app)
    session.add(credential)
    session.flush()
    audit_event(
        session,
        app,
        actor,
        AuditAction.CREDENTIAL_SAVED,
        f"account:{account.id}",
        {
            "account": account.id,
            "two_factor": totp_value is not None,
            "two_factor_missing": totp_value is None and app.require_two_factor,
            "replaced": existing is not None,
        },
    )
    member = session.scalar(
        select(AppMember).where(AppMember.app_id == app.id, AppMember.user_id == user.id)
    )
    # Linking the profile may have connected the account already.
    if member is not None and member.connected_at is None:
        account_connected(session, member, actor=actor.label)
    return credential


# --- revealing --------------------------------------------------------------------------------


def is_fresh(web_session: WebSession | None, user_id: int) -> bool:
    """Whether this browser session's person signed in within ``REVEAL_WINDOW``."""
    return (
        web_session is not None
        and web_session.user_id == user_id
        and web_session.ended_at is None
        and web_session.authenticated_at is not None
        and utcnow() - web_session.authenticated_at <= REVEAL_WINDOW
    )


def reveal(
    session: Session,
    ring: KeyRing,
    *,
    account_id: int,
    actor: Actor,
    web_session: WebSession | None,
    fields: Reveal = Reveal.PASSWORD,
    copied: bool = False,
) -> RevealedCredential:
    """The person's own saved login, for a session signed in within ``REVEAL_WINDOW``.

    ``copied``: the password goes to the browser's clipboard (audited as a copy, else as a
    reveal). A password handed out makes a rotation due where the app rotates after reveals.
    A stale session raises ReauthenticationRequired (recorded; the caller commits it).
    """
    account, app, user = own_account(session, actor, account_id, "Revealing a login")
    credential = credential_of(session, account.id)
    if credential is None or credential.user_id != user.id:
        raise NotFound("You have not saved a login for this account")
    if not is_fresh(web_session, user.id):
        audit_event(
            session,
            app,
            actor,
            AuditAction.CREDENTIAL_REVEAL_REFUSED,
            f"account:{account.id}",
            {"account": account.id, "fields": fields.value, "problem": "stale_sign_in"},
        )
        minutes = int(REVEAL_WINDOW.total_seconds() // 60)
        raise ReauthenticationRequired(
            f"Sign in again to reveal your saved login: it needs a sign-in within the last "
            f"{minutes} minutes"
        )
    workspace = account.workspace_id

    def opened(secret_id: str) -> str:
        return read_secret(session, ring, workspace_id=workspace, secret_id=secret_id)

    password: str | None = None
    if fields == Reveal.PASSWORD:
        password = opened(credential.password_secret_id)
    elif fields == Reveal.NEW_PASSWORD:
        if credential.pending_password_secret_id is None:
            raise Conflict("No rotation is under way: there is no new password to copy")
        password = opened(credential.pending_password_secret_id)
    code = current_code(opened(credential.totp_secret_id)) if credential.totp_secret_id else None
    if fields == Reveal.PASSWORD:
        credential.last_revealed_at = utcnow()
        credential.rotation_due_at = due_date(credential, app)
    audit_event(
        session,
        app,
        actor,
        AuditAction.CREDENTIAL_COPIED if copied else AuditAction.CREDENTIAL_REVEALED,
        f"account:{account.id}",
        {"account": account.id, "fields": fields.value},
    )
    return RevealedCredential(opened(credential.login_secret_id), password, code)


# --- the app's policy -------------------------------------------------------------------------


@dataclass(frozen=True)
class CredentialPolicy:
    require_two_factor: bool
    rotation_days: int | None
    rotate_after_reveal: bool

    @classmethod
    def of(cls, app: App) -> CredentialPolicy:
        return cls(app.require_two_factor, app.rotation_days, app.rotate_after_reveal)


def set_credential_policy(
    session: Session,
    *,
    app_id: int,
    actor: Actor,
    workspace_id: int,
    require_two_factor: bool,
    rotation_days: int | None,
    rotate_after_reveal: bool,
) -> App:
    """What the app asks of saved logins: two-factor, a rotation schedule, rotation after each
    reveal. Every saved login's due date follows at once."""
    app = Tenant(session, workspace_id).get(App, app_id)
    require(session, actor=actor, app=app, action=MANAGE_APP)
    if app.disconnected_at is not None:
        raise NotFound(f"App {app_id} was disconnected")
    if rotation_days is not None and not 1 <= rotation_days <= 365:
        raise InvalidInput("rotation_days", "must be from 1 to 365 days, or empty for none")
    before = CredentialPolicy.of(app)
    app.require_two_factor = require_two_factor
    app.rotation_days = rotation_days
    app.rotate_after_reveal = rotate_after_reveal
    after = CredentialPolicy.of(app)
    now = utcnow()
    for credential in session.scalars(
        select(Credential)
        .join(Account, Account.id == Credential.account_id)
        .where(Account.app_id == app.id)
    ):
        credential.rotation_due_at = due_date(credential, app)
        if credential.rotation_due_at is None or credential.rotation_due_at > now:
            # No longer overdue: a later overdue rotation tells people afresh.
            credential.overdue_notified_at = credential.owners_notified_at = None
    if after != before:
        audit_event(
            session,
            app,
            actor,
            AuditAction.CREDENTIAL_POLICY_CHANGED,
            f"app:{app.id}",
            {"before": before.__dict__, "after": after.__dict__},
        )
    session.flush()
    return app


# --- destroying -------------------------------------------------------------------------------


def _delete_credentials(session: Session, rows: list[Credential]) -> None:
    """Delete the rows, then their secrets (a secret is kept while a row points at it)."""
    secret_ids = [
        secret_id
        for row in rows
        for secret_id in (
            row.login_secret_id,
            row.password_secret_id,
            row.totp_secret_id,
            row.pending_password_secret_id,
        )
        if secret_id is not None
    ]
    for row in rows:
        session.delete(row)
    session.flush()
    if secret_ids:
        session.execute(delete(Secret).where(Secret.id.in_(secret_ids)))


def destroy_credentials(
    session: Session, *, workspace_id: int, user_id: int, actor: Actor, reason: str
) -> int:
    """Delete every login the person saved, and its secrets, now (they left the company)."""
    rows = list(
        session.scalars(
            select(Credential)
            .where(Credential.workspace_id == workspace_id, Credential.user_id == user_id)
            .order_by(Credential.id)
        )
    )
    if not rows:
        return 0
    accounts = [row.account_id for row in rows]
    _delete_credentials(session, rows)
    record(
        session,
        workspace_id=workspace_id,
        actor=actor.label,
        action=AuditAction.CREDENTIALS_DESTROYED,
        target=f"user:{user_id}",
        details={"count": len(rows), "accounts": accounts, "reason": reason},
        request_id=actor.request_id,
    )
    return len(rows)
