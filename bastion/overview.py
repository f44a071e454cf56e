"""The security overview: across apps, what needs a person, each line with where it is fixed.

Read-only, like ``queries.py``. An app's lines are shown to whoever sees its people (its owners
and the workspace admins, ``permissions.VIEW_PEOPLE``); the command line sees every app.

    review              an open review of a risky change
    report              an open deprovisioning report with items pending
    operation           a failed or manual operation of the last 7 days
    app_status          an app needing its configuration reviewed, or restricted by the app
    token_expiring      an access token expiring within 30 days
    asset_uncontrolled  an asset no person has full control of (system users do not count)
    unmatched_account   an account nobody vouches for, seen for more than 14 days
    stale_invitation    an invitation pending longer than the app's limit (30 days by default)
    two_factor_off      a person whose two-factor authentication is off in the app
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from urllib.parse import urlencode

from sqlalchemy import select
from sqlalchemy.orm import Session

from bastion.actions.actors import Actor
from bastion.actions.permissions import VIEW_PEOPLE, can
from bastion.storage.models import (
    Account,
    App,
    Asset,
    Grant,
    Operation,
    Report,
    ReportItem,
    Review,
    User,
)
from bastion.storage.models.enums import (
    AccountKind,
    AccountState,
    AppStatus,
    OperationState,
    ReportItemState,
    ReportState,
    ReviewState,
)

OPERATIONS_WITHIN = timedelta(days=7)
TOKEN_EXPIRES_WITHIN = timedelta(days=30)
UNMATCHED_FOR = timedelta(days=14)
STALE_INVITATION_DAYS = 30
FULL_CONTROL_TASK = "MANAGE"
# The value the app reports for a person whose two-factor is on (Meta: BusinessUser
# ``two_fac_status``); any other reported value counts as off, which is the safe reading.
TWO_FACTOR_ON = "enabled"

KINDS: dict[str, str] = {
    "review": "Open reviews",
    "report": "Open reports",
    "operation": "Failed and manual operations (7 days)",
    "app_status": "Apps to reconfigure or restricted",
    "token_expiring": "Tokens expiring within 30 days",
    "asset_uncontrolled": "Assets with no person in full control",
    "unmatched_account": "Unmatched accounts older than 14 days",
    "stale_invitation": "Stale invitations",
    "two_factor_off": "Two-factor off in the app",
}


@dataclass(frozen=True)
class OverviewItem:
    kind: str
    app_id: int
    app_label: str
    title: str
    detail: str
    # Where it is fixed: a page path of the web interface.
    link: str
    since: datetime | None = None


def visible_apps(session: Session, *, workspace_id: int, actor: Actor) -> list[App]:
    apps = session.scalars(
        select(App)
        .where(App.workspace_id == workspace_id, App.disconnected_at.is_(None))
        .order_by(App.label, App.id)
    ).all()
    if actor.user_id is None:
        return list(apps)
    user = session.get(User, actor.user_id)
    if user is None or user.workspace_id != workspace_id:
        return []
    return [app for app in apps if can(session, user=user, app=app, action=VIEW_PEOPLE)]


def security_overview(
    session: Session, *, workspace_id: int, actor: Actor, now: datetime
) -> list[OverviewItem]:
    """Every line of the overview for the apps this actor may see, grouped by kind."""
    items: list[OverviewItem] = []
    for app in visible_apps(session, workspace_id=workspace_id, actor=actor):
        items += _reviews(session, app)
        items += _reports(session, app)
        items += _operations(session, app, now)
        items += _app_status(app, now)
        items += _assets_uncontrolled(session, app)
        items += _accounts(session, app, now)
    order = list(KINDS)
    return sorted(items, key=lambda i: (order.index(i.kind), i.app_label, i.app_id))


def _reviews(session: Session, app: App) -> list[OverviewItem]:
    rows = session.scalars(
        select(Review)
        .where(Review.app_id == app.id, Review.state == ReviewState.OPEN)
        .order_by(Review.created_at, Review.id)
    )
    return [
        OverviewItem(
            "review",
            app.id,
            app.label,
            r.summary,
            "made outside Bastion" if r.outside_bastion else "made through Bastion",
            f"/apps/{app.id}/reviews/{r.id}",
            r.created_at,
        )
        for r in rows
    ]


def _reports(session: Session, app: App) -> list[OverviewItem]:
    found = []
    for report in session.scalars(
        select(Report).where(Report.app_id == app.id, Report.state == ReportState.OPEN)
    ):
        pending = len(
            session.scalars(
                select(ReportItem.id).where(
                    ReportItem.report_id == report.id,
                    ReportItem.state.in_((ReportItemState.PENDING, ReportItemState.FAILED)),
                )
            ).all()
        )
        if pending:
            found.append(
                OverviewItem(
                    "report",
                    app.id,
                    app.label,
                    f"{pending} {'person' if pending == 1 else 'people'} who left still "
                    "hold a seat",
                    "apply or dismiss the report",
                    f"/apps/{app.id}/report",
                    report.created_at,
                )
            )
    return found


def _operations(session: Session, app: App, now: datetime) -> list[OverviewItem]:
    rows = session.scalars(
        select(Operation)
        .where(
            Operation.app_id == app.id,
            Operation.state.in_((OperationState.FAILED, OperationState.MANUAL)),
            Operation.updated_at >= now - OPERATIONS_WITHIN,
        )
        .order_by(Operation.updated_at.desc(), Operation.id)
    )
    return [
        OverviewItem(
            "operation",
            app.id,
            app.label,
            f"{op.kind.value.replace('_', ' ')} {op.state.value}",
            (op.manual_steps if op.state == OperationState.MANUAL else op.last_error) or "",
            f"/apps/{app.id}/operations",
            op.updated_at,
        )
        for op in rows
    ]


def _app_status(app: App, now: datetime) -> list[OverviewItem]:
    found = []
    if app.status in (AppStatus.REVIEW_CONFIGURATION, AppStatus.RESTRICTED):
        title = (
            "Its configuration needs reviewing"
            if app.status == AppStatus.REVIEW_CONFIGURATION
            else f"Restricted by the app until {app.restricted_until:%Y-%m-%d %H:%M} UTC"
            if app.restricted_until
            else "Restricted by the app"
        )
        found.append(
            OverviewItem(
                "app_status",
                app.id,
                app.label,
                title,
                app.status_reason or "",
                f"/apps/{app.id}/settings",
                app.updated_at,
            )
        )
    expires = app.token_expires_at
    if expires is not None and expires <= now + TOKEN_EXPIRES_WITHIN:
        found.append(
            OverviewItem(
                "token_expiring",
                app.id,
                app.label,
                f"The access token expires on {expires:%Y-%m-%d %H:%M} UTC"
                if expires > now
                else f"The access token expired on {expires:%Y-%m-%d %H:%M} UTC",
                "replace the token in the app's settings",
                f"/apps/{app.id}/settings",
                expires,
            )
        )
    return found


def _assets_uncontrolled(session: Session, app: App) -> list[OverviewItem]:
    controlled = {
        asset_id
        for asset_id, tasks in session.execute(
            select(Grant.asset_id, Grant.tasks)
            .join(Account, Account.id == Grant.account_id)
            .where(
                Grant.app_id == app.id,
                Grant.present.is_(True),
                Account.present.is_(True),
                Account.kind == AccountKind.PERSON,
            )
        )
        if FULL_CONTROL_TASK in tasks
    }
    assets = session.scalars(
        select(Asset)
        .where(Asset.app_id == app.id, Asset.present.is_(True))
        .order_by(Asset.name, Asset.id)
    )
    return [
        OverviewItem(
            "asset_uncontrolled",
            app.id,
            app.label,
            f"{asset.type.value.replace('_', ' ')} {asset.name or asset.external_id}",
            "no person has full control (MANAGE) of it",
            f"/apps/{app.id}/assets/{asset.id}",
            None,
        )
        for asset in assets
        if asset.id not in controlled
    ]


def _members_link(app: App, account: Account) -> str:
    query = urlencode({"tab": account.state.value, "q": account.email or account.name})
    return f"/apps/{app.id}/members?{query}"


def _accounts(session: Session, app: App, now: datetime) -> list[OverviewItem]:
    accounts = session.scalars(
        select(Account)
        .where(
            Account.app_id == app.id,
            Account.present.is_(True),
            Account.kind.in_((AccountKind.PERSON, AccountKind.INVITATION)),
        )
        .order_by(Account.created_at, Account.id)
    ).all()
    stale_days = app.auto_cancel_invitations_days or STALE_INVITATION_DAYS
    found = []
    for account in accounts:
        label = account.name or account.email or account.external_id
        age = (now - account.created_at).days
        if account.kind == AccountKind.INVITATION:
            if account.created_at <= now - timedelta(days=stale_days):
                found.append(
                    OverviewItem(
                        "stale_invitation",
                        app.id,
                        app.label,
                        f"Invitation to {account.email or label}",
                        f"pending for {age} days",
                        f"/apps/{app.id}/members/invitations",
                        account.created_at,
                    )
                )
            continue
        if account.state == AccountState.UNMATCHED and account.created_at <= now - UNMATCHED_FOR:
            found.append(
                OverviewItem(
                    "unmatched_account",
                    app.id,
                    app.label,
                    label,
                    f"unmatched for {age} days: match, exempt or remove",
                    _members_link(app, account),
                    account.created_at,
                )
            )
        if two_factor_off(account):
            found.append(
                OverviewItem(
                    "two_factor_off",
                    app.id,
                    app.label,
                    label,
                    f"two-factor authentication is off in the app "
                    f"({account.details.get('two_factor_status')})",
                    _members_link(app, account),
                    None,
                )
            )
    return found


def two_factor_off(account: Account) -> bool:
    """Whether the app reported this person's two-factor as anything but on (unknown: no)."""
    status = (account.details or {}).get("two_factor_status")
    return status is not None and status != TWO_FACTOR_ON
