"""Who may do what: one table of roles, asked by every action before it writes and by every
API route and web page before it reads.

    workspace admin      everything
    app owner            every action on that app and its report
    app collaborator     sees the app and their own account; changes nothing
    workspace member     sees their own accounts across apps
    guest                sees their own accounts only (a local partner's guests too)

Three reads of an app, from least to most, and two of the workspace:

    view_app        the app's name, status and settings, and one's own accounts in it
    view_details    the app's assets, partner businesses and check runs (collaborators up)
    view_people     everyone's accounts, who holds what, what a check changed, the report and
                    the operations (owners and admins)
    read_directory  the directory's people and teams (admins, and owners of an app, who match
                    accounts to people)
    read_email      the e-mail Bastion queued, bodies included (admins only: the bodies hold
                    sign-in and set-password links); manage_email retries one

Webhooks (``manage_webhooks``): an endpoint for one app is its owners' (and admins'); one for
every app of the workspace is the admins' alone.

One thing is nobody's but its person's: what they saved for their own account (the login of
a password app, ``actions/credentials.py``). ``require_own_account`` lets only the account's
active matched person through — not its owners, not an admin, not the command line.

Actions call ``require`` themselves, so the API, the CLI and the web pages cannot forget a
check; an API route and the web page showing the same thing ask for the same read here. A
refusal names the role that would have been enough. A guest's role on an app never counts for
more than their own accounts.
"""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.orm import Session

from bastion.actions.actors import Actor
from bastion.errors import PermissionDenied
from bastion.storage.models import Account, App, AppMember, LocalPartnerMember, User
from bastion.storage.models.enums import AppRole, UserStatus, WorkspaceRole

VIEW_APP = "view_app"
VIEW_DETAILS = "view_details"
VIEW_PEOPLE = "view_people"
CHECK = "check"
MANAGE_MEMBERS = "manage_members"
APPLY_REPORT = "apply_report"
# Ending a partnership with its residue (actions/partner_removal.py).
REMOVE_PARTNER = "remove_partner"
MANAGE_OPERATIONS = "manage_operations"
MANAGE_APP = "manage_app"
MANAGE_DIRECTORY = "manage_directory"
READ_DIRECTORY = "read_directory"
READ_EMAIL = "read_email"
MANAGE_EMAIL = "manage_email"
# Webhook endpoints: an app's own for its owners, the workspace's (every app's) for admins.
MANAGE_WEBHOOKS = "manage_webhooks"
# Workspace-wide, and for workspace admins alone.
ADMIN_ACTIONS = frozenset({MANAGE_DIRECTORY, READ_EMAIL, MANAGE_EMAIL})

APP_OWNER_ACTIONS = frozenset(
    {
        VIEW_APP,
        VIEW_DETAILS,
        VIEW_PEOPLE,
        CHECK,
        MANAGE_MEMBERS,
        APPLY_REPORT,
        REMOVE_PARTNER,
        MANAGE_OPERATIONS,
        MANAGE_APP,
        MANAGE_WEBHOOKS,
    }
)
ACTIONS = APP_OWNER_ACTIONS | ADMIN_ACTIONS | {READ_DIRECTORY}

_WHAT = {
    VIEW_APP: "Seeing this app",
    VIEW_DETAILS: "Seeing this app's assets, partners and checks",
    VIEW_PEOPLE: "Seeing everyone's accounts in this app, what they hold and what changed",
    CHECK: "Checking this app for updates",
    MANAGE_MEMBERS: "Changing this app's accounts",
    APPLY_REPORT: "Applying this app's report",
    REMOVE_PARTNER: "Removing this app's partners",
    MANAGE_OPERATIONS: "Managing this app's operations",
    MANAGE_APP: "Changing this app's settings",
    MANAGE_DIRECTORY: "Managing the directory and workspace",
    READ_DIRECTORY: "Reading the directory",
    READ_EMAIL: "Reading the workspace's e-mail",
    MANAGE_EMAIL: "Retrying e-mail",
    MANAGE_WEBHOOKS: "Managing webhooks",
}


def app_role(session: Session, *, user: User, app: App) -> AppRole | None:
    """The user's Bastion role on the app, if they are one of its members."""
    return session.scalar(
        select(AppMember.role).where(AppMember.app_id == app.id, AppMember.user_id == user.id)
    )


def holds_account(session: Session, *, user: User, app: App) -> bool:
    """Whether one of the app's present accounts is matched to this person."""
    return (
        session.scalar(
            select(Account.id)
            .where(
                Account.app_id == app.id,
                Account.matched_user_id == user.id,
                Account.present.is_(True),
            )
            .limit(1)
        )
        is not None
    )


def owns_an_app(session: Session, *, user: User) -> bool:
    return (
        session.scalar(
            select(AppMember.id)
            .where(AppMember.user_id == user.id, AppMember.role == AppRole.OWNER)
            .limit(1)
        )
        is not None
    )


def can(session: Session, *, user: User, app: App | None, action: str) -> bool:
    """Whether this person may do ``action`` (on ``app``, or workspace-wide when None)."""
    if action not in ACTIONS:
        raise ValueError(f"unknown action {action!r}")
    if user.status != UserStatus.ACTIVE or user.removed_at is not None:
        return False
    if app is not None and app.workspace_id != user.workspace_id:
        return False
    if user.role == WorkspaceRole.ADMIN:
        return True
    if action == READ_DIRECTORY:
        # Owners match accounts to directory people, so they read the directory too.
        return user.role != WorkspaceRole.GUEST and owns_an_app(session, user=user)
    if app is None or action in ADMIN_ACTIONS:
        return False
    role = app_role(session, user=user, app=app)
    if role == AppRole.OWNER and user.role != WorkspaceRole.GUEST:
        return True
    if action == VIEW_APP:
        return role == AppRole.COLLABORATOR or holds_account(session, user=user, app=app)
    if action == VIEW_DETAILS:
        return role == AppRole.COLLABORATOR and user.role != WorkspaceRole.GUEST
    return False


def sees_every_account(session: Session, *, user: User, app: App) -> bool:
    """Owners and admins see every account of the app; everyone else only their own."""
    return can(session, user=user, app=app, action=VIEW_PEOPLE)


def visible_local_partners(session: Session, *, user: User) -> set[int] | None:
    """The local partners this person may see: every one for admins (None), else their own."""
    if can(session, user=user, app=None, action=MANAGE_DIRECTORY):
        return None
    return set(
        session.scalars(
            select(LocalPartnerMember.partner_id).where(LocalPartnerMember.user_id == user.id)
        )
    )


def role_needed(app: App | None, action: str) -> str:
    if action == READ_DIRECTORY:
        return "the workspace admin role or the owner role on an app"
    if app is None or action in ADMIN_ACTIONS:
        return "the workspace admin role"
    if action == VIEW_APP:
        return "a role on this app or an account in it"
    if action == VIEW_DETAILS:
        return "the collaborator or owner role on this app (guests see only their own accounts)"
    return "the app owner role (or workspace admin)"


def require(session: Session, *, actor: Actor, app: App | None, action: str) -> None:
    """Raise PermissionDenied unless the actor may do ``action``.

    Actors without a user (the CLI run by the operator, Bastion's own jobs) act with the
    installation's authority.
    """
    if actor.user_id is None:
        if action not in ACTIONS:
            raise ValueError(f"unknown action {action!r}")
        return
    user = session.get(User, actor.user_id)
    if user is None or not can(session, user=user, app=app, action=action):
        raise PermissionDenied(f"{_WHAT[action]} needs {role_needed(app, action)}")


def require_own_account(session: Session, *, actor: Actor, account: Account, what: str) -> User:
    """Raise PermissionDenied unless the actor is the account's own active person."""
    user = session.get(User, actor.user_id) if actor.user_id is not None else None
    if (
        user is None
        or user.status != UserStatus.ACTIVE
        or user.removed_at is not None
        or user.workspace_id != account.workspace_id
        or account.matched_user_id != user.id
    ):
        raise PermissionDenied(f"{what} is for the account's own person only")
    return user
