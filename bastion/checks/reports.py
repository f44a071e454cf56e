"""The deprovisioning report: accounts of people who left that still hold a seat.

Each account matched to a deprovisioned person and still present in the app becomes an item of
the app's one open report, once. An item an owner dismissed after the person left is not raised
again; one whose removal failed is raised again by the next check.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from bastion.email_templates import render_email
from bastion.notify import queue_email
from bastion.settings import Settings
from bastion.storage.models import (
    Account,
    App,
    AppMember,
    Grant,
    Report,
    ReportItem,
    User,
)
from bastion.storage.models.enums import (
    AccountState,
    AppRole,
    ReportItemState,
    ReportState,
    UserStatus,
    WorkspaceRole,
)
from bastion.webhook_events import emit_report_opened, emit_still_seated


@dataclass(frozen=True)
class NewItem:
    item: ReportItem
    account: Account
    user: User
    asset_count: int


def open_report(session: Session, app: App) -> Report:
    report = session.scalars(
        select(Report).where(Report.app_id == app.id, Report.state == ReportState.OPEN)
    ).first()
    if report is None:
        report = Report(workspace_id=app.workspace_id, app_id=app.id)
        session.add(report)
        session.flush()
        emit_report_opened(session, report)
    return report


def update_deprovisioning_report(session: Session, app: App) -> list[NewItem]:
    """Raise an item for each present account of a deprovisioned person that no earlier item
    answers for. Which those are is decided on plain rows (a check that finds nothing new
    loads nothing more); only the accounts raised are loaded whole."""
    rows = session.execute(
        select(Account.id, User.status_changed_at)
        .join(User, User.id == Account.matched_user_id)
        .where(
            Account.app_id == app.id,
            Account.present.is_(True),
            Account.state != AccountState.EXEMPTED,
            User.status == UserStatus.DEPROVISIONED,
        )
        .order_by(Account.id)
    ).all()
    if not rows:
        return []
    previous: dict[int, list[tuple[ReportItemState, datetime]]] = {}
    for account_id, state, updated_at in session.execute(
        select(ReportItem.account_id, ReportItem.state, ReportItem.updated_at)
        .join(Account, Account.id == ReportItem.account_id)
        .where(Account.app_id == app.id)
    ):
        previous.setdefault(account_id, []).append((state, updated_at))
    raised = [
        account_id
        for account_id, left_at in rows
        if not any(_still_covers(state, at, left_at) for state, at in previous.get(account_id, []))
    ]
    if not raised:
        return []
    accounts: dict[int, tuple[Account, User]] = {}
    asset_counts: dict[int, int] = {}
    for start in range(0, len(raised), _IDS_PER_STATEMENT):
        chunk = raised[start : start + _IDS_PER_STATEMENT]
        for account, user in session.execute(
            select(Account, User)
            .join(User, User.id == Account.matched_user_id)
            .where(Account.id.in_(chunk))
        ):
            accounts[account.id] = (account, user)
        asset_counts.update(
            session.execute(
                select(Grant.account_id, func.count())
                .where(Grant.account_id.in_(chunk), Grant.present.is_(True))
                .group_by(Grant.account_id)
            ).all()
        )
    report = open_report(session, app)
    created: list[NewItem] = []
    for account_id in raised:
        account, user = accounts[account_id]
        since = user.status_changed_at.date().isoformat() if user.status_changed_at else "recently"
        item = ReportItem(
            workspace_id=app.workspace_id,
            report_id=report.id,
            account_id=account.id,
            user_id=user.id,
            reason=f"{user.display_name or user.email} was deprovisioned on {since}"
            + (f" ({user.status_changed_by})" if user.status_changed_by else ""),
        )
        session.add(item)
        created.append(NewItem(item, account, user, asset_counts.get(account.id, 0)))
    session.flush()
    emit_still_seated(session, [(new.item, new.account, new.asset_count) for new in created])
    return created


# Ids per ``IN (…)`` list, under SQLite's and PostgreSQL's limits on bound parameters.
_IDS_PER_STATEMENT = 500


def _still_covers(state: ReportItemState, updated_at: datetime, left_at: datetime | None) -> bool:
    """Whether an earlier item (its state, when it last changed) already answers for the
    deprovisioning of a person who left at ``left_at``."""
    if state in (ReportItemState.PENDING, ReportItemState.APPLYING):
        return True
    if state == ReportItemState.DISMISSED:
        return left_at is None or updated_at >= left_at
    return False


def owner_emails(session: Session, app: App) -> list[str]:
    owners = session.scalars(
        select(User.email)
        .join(AppMember, AppMember.user_id == User.id)
        .where(AppMember.app_id == app.id, AppMember.role == AppRole.OWNER)
        .where(User.status == UserStatus.ACTIVE)
    ).all()
    if not owners:
        owners = session.scalars(
            select(User.email).where(
                User.workspace_id == app.workspace_id,
                User.role == WorkspaceRole.ADMIN,
                User.status == UserStatus.ACTIVE,
            )
        ).all()
    return [email for email in owners if email]


def email_new_items(session: Session, app: App, items: list[NewItem], settings: Settings) -> None:
    report_id = items[0].item.report_id
    link = f"{settings.base_url}/apps/{app.id}/report"
    body = render_email(
        "deprovisioning_report",
        app=app.label,
        link=link,
        items=[
            {
                "person": i.user.display_name or i.user.email,
                "account": i.account.email or i.account.external_id,
                "role": i.account.app_role,
                "assets": i.asset_count,
                "reason": i.item.reason,
            }
            for i in items
        ],
    )
    queue_email(
        session,
        workspace_id=app.workspace_id,
        kind=f"report:{report_id}",
        recipients=owner_emails(session, app),
        subject=f"[Bastion] {app.label}: {len(items)} departed person(s) still have access",
        text=body.text,
        html=body.html,
    )
