"""Small read-only queries the interfaces share (CLI, API, pages). Nothing here writes."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.orm import Session

from bastion.errors import NotFound
from bastion.storage.models import (
    Account,
    App,
    Change,
    CheckRun,
    Operation,
    Report,
    ReportItem,
    User,
    Workspace,
)
from bastion.storage.models.enums import AccountState, OperationState, ReportState


def workspace_by_slug(session: Session, slug: str) -> Workspace:
    workspace = session.scalars(select(Workspace).where(Workspace.slug == slug)).first()
    if workspace is None:
        raise NotFound(f"no workspace {slug!r}")
    return workspace


def find_app(session: Session, workspace_id: int, ref: str) -> App:
    """An app by id or by its label (case-insensitive)."""
    query = select(App).where(App.workspace_id == workspace_id, App.disconnected_at.is_(None))
    if ref.isdigit():
        app = session.scalars(query.where(App.id == int(ref))).first()
    else:
        matches = [a for a in session.scalars(query) if a.label.lower() == ref.strip().lower()]
        if len(matches) > 1:
            raise NotFound(f"several apps are labelled {ref!r}; use the app's id")
        app = matches[0] if matches else None
    if app is None:
        raise NotFound(f"no app {ref!r} in this workspace (see `bastion apps list`)")
    return app


def list_apps(session: Session, workspace_id: int) -> list[App]:
    return list(
        session.scalars(
            select(App)
            .where(App.workspace_id == workspace_id, App.disconnected_at.is_(None))
            .order_by(App.id)
        )
    )


def list_runs(session: Session, app_id: int, limit: int = 20) -> list[CheckRun]:
    return list(
        session.scalars(
            select(CheckRun)
            .where(CheckRun.app_id == app_id)
            .order_by(CheckRun.id.desc())
            .limit(limit)
        )
    )


def list_changes(session: Session, app_id: int, run_id: int | None = None) -> list[Change]:
    if run_id is None:
        run_id = session.scalar(
            select(Change.run_id).where(Change.app_id == app_id).order_by(Change.id.desc()).limit(1)
        )
        if run_id is None:
            return []
    return list(
        session.scalars(
            select(Change)
            .where(Change.app_id == app_id, Change.run_id == run_id)
            .order_by(Change.id)
        )
    )


def accounts_by_state(
    session: Session, app_id: int, state: AccountState | None = None
) -> list[Account]:
    query = select(Account).where(Account.app_id == app_id, Account.present.is_(True))
    if state is not None:
        query = query.where(Account.state == state)
    return list(session.scalars(query.order_by(Account.name, Account.id)))


def current_report(
    session: Session, app_id: int, report_id: int | None = None
) -> tuple[Report, list[tuple[ReportItem, Account, User | None]]] | None:
    query = select(Report).where(Report.app_id == app_id)
    if report_id is not None:
        query = query.where(Report.id == report_id)
    else:
        query = query.order_by((Report.state == ReportState.OPEN).desc(), Report.id.desc())
    report = session.scalars(query.limit(1)).first()
    if report is None:
        return None
    rows = session.execute(
        select(ReportItem, Account, User)
        .join(Account, Account.id == ReportItem.account_id)
        .outerjoin(User, User.id == ReportItem.user_id)
        .where(ReportItem.report_id == report.id)
        .order_by(ReportItem.id)
    )
    return report, list(rows)


def list_operations(
    session: Session, app_id: int, states: list[OperationState] | None = None
) -> list[Operation]:
    query = select(Operation).where(Operation.app_id == app_id)
    if states:
        query = query.where(Operation.state.in_(states))
    return list(session.scalars(query.order_by(Operation.id.desc()).limit(500)))
