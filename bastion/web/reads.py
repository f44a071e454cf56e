"""Read-only queries the pages need beyond ``bastion.queries``: summaries, lists with counts.

Each function answers one screen's question in a few queries (never one per row), so pages stay
fast on large apps.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from bastion.storage.models import (
    Account,
    App,
    Asset,
    CheckRun,
    Grant,
    Operation,
    Partner,
    PartnerGrant,
    Report,
    ReportItem,
    User,
)
from bastion.storage.models.enums import (
    OperationState,
    ReportItemState,
    ReportState,
    RunState,
)


@dataclass
class AppSummary:
    app: App
    states: dict[str, int] = field(default_factory=dict)
    last_run: CheckRun | None = None
    running: CheckRun | None = None
    open_report_items: int = 0
    open_report_id: int | None = None
    operations_attention: int = 0


def app_summaries(session: Session, apps: list[App]) -> list[AppSummary]:
    """Counts by state, the last and the running check, and the open report of each app."""
    ids = [app.id for app in apps]
    summaries = {app.id: AppSummary(app) for app in apps}
    if not ids:
        return []
    for app_id, state, count in session.execute(
        select(Account.app_id, Account.state, func.count())
        .where(Account.app_id.in_(ids), Account.present.is_(True))
        .group_by(Account.app_id, Account.state)
    ):
        summaries[app_id].states[state.value] = count
    latest = (
        select(CheckRun.app_id, func.max(CheckRun.id).label("id"))
        .where(CheckRun.app_id.in_(ids))
        .group_by(CheckRun.app_id)
        .subquery()
    )
    for run in session.scalars(select(CheckRun).join(latest, latest.c.id == CheckRun.id)):
        if run.state == RunState.RUNNING:
            summaries[run.app_id].running = run
        summaries[run.app_id].last_run = run
    for app_id, report_id, count in session.execute(
        select(Report.app_id, Report.id, func.count(ReportItem.id))
        .outerjoin(
            ReportItem,
            (ReportItem.report_id == Report.id)
            & ReportItem.state.in_([ReportItemState.PENDING, ReportItemState.FAILED]),
        )
        .where(Report.app_id.in_(ids), Report.state == ReportState.OPEN)
        .group_by(Report.app_id, Report.id)
    ):
        summaries[app_id].open_report_id = report_id
        summaries[app_id].open_report_items = count
    for app_id, count in session.execute(
        select(Operation.app_id, func.count())
        .where(
            Operation.app_id.in_(ids),
            Operation.state.in_([OperationState.FAILED, OperationState.MANUAL]),
        )
        .group_by(Operation.app_id)
    ):
        summaries[app_id].operations_attention = count
    return [summaries[i] for i in ids]


def latest_run(session: Session, app_id: int) -> CheckRun | None:
    return session.scalars(
        select(CheckRun).where(CheckRun.app_id == app_id).order_by(CheckRun.id.desc()).limit(1)
    ).first()


def user_names(session: Session, ids: set[int | None]) -> dict[int, User]:
    wanted = {i for i in ids if i is not None}
    if not wanted:
        return {}
    return {u.id: u for u in session.scalars(select(User).where(User.id.in_(wanted)))}


@dataclass(frozen=True)
class AssetRow:
    asset: Asset
    holders: int
    partners: int


def assets_with_counts(session: Session, app_id: int) -> list[AssetRow]:
    holders = dict(
        session.execute(
            select(Grant.asset_id, func.count())
            .where(Grant.app_id == app_id, Grant.present.is_(True))
            .group_by(Grant.asset_id)
        ).all()
    )
    partners = dict(
        session.execute(
            select(PartnerGrant.asset_id, func.count())
            .join(Asset, Asset.id == PartnerGrant.asset_id)
            .where(Asset.app_id == app_id, PartnerGrant.present.is_(True))
            .group_by(PartnerGrant.asset_id)
        ).all()
    )
    assets = session.scalars(
        select(Asset)
        .where(Asset.app_id == app_id, Asset.present.is_(True))
        .order_by(Asset.type, Asset.name)
    )
    return [AssetRow(a, holders.get(a.id, 0), partners.get(a.id, 0)) for a in assets]


def asset_holders(session: Session, asset_id: int) -> list[tuple[Grant, Account]]:
    return list(
        session.execute(
            select(Grant, Account)
            .join(Account, Account.id == Grant.account_id)
            .where(Grant.asset_id == asset_id, Grant.present.is_(True))
            .order_by(Account.name)
        )
    )


def asset_partners(session: Session, asset_id: int) -> list[tuple[PartnerGrant, Partner]]:
    return list(
        session.execute(
            select(PartnerGrant, Partner)
            .join(Partner, Partner.id == PartnerGrant.partner_id)
            .where(PartnerGrant.asset_id == asset_id, PartnerGrant.present.is_(True))
            .order_by(Partner.name)
        )
    )


@dataclass(frozen=True)
class PartnerRow:
    partner: Partner
    assets: list[tuple[Asset, list[str]]]


def partners_with_assets(session: Session, app_id: int) -> list[PartnerRow]:
    partners = list(
        session.scalars(
            select(Partner)
            .where(Partner.app_id == app_id, Partner.present.is_(True))
            .order_by(Partner.relation, Partner.name)
        )
    )
    held: dict[int, list[tuple[Asset, list[str]]]] = {p.id: [] for p in partners}
    for grant, asset in session.execute(
        select(PartnerGrant, Asset)
        .join(Asset, Asset.id == PartnerGrant.asset_id)
        .where(PartnerGrant.partner_id.in_(held), PartnerGrant.present.is_(True))
        .order_by(Asset.name)
    ):
        held[grant.partner_id].append((asset, grant.tasks))
    return [PartnerRow(p, held[p.id]) for p in partners]


def account_holdings(session: Session, account_id: int) -> list[tuple[Asset, list[str]]]:
    """What an account holds: each asset and its tasks (shown before a removal)."""
    return list(
        session.execute(
            select(Asset, Grant.tasks)
            .join(Grant, Grant.asset_id == Asset.id)
            .where(Grant.account_id == account_id, Grant.present.is_(True))
            .order_by(Asset.type, Asset.name)
        )
    )


def holdings_by_account(
    session: Session, account_ids: list[int]
) -> dict[int, list[tuple[Asset, list[str]]]]:
    found: dict[int, list[tuple[Asset, list[str]]]] = {i: [] for i in account_ids}
    if not account_ids:
        return found
    for grant, asset in session.execute(
        select(Grant, Asset)
        .join(Asset, Asset.id == Grant.asset_id)
        .where(Grant.account_id.in_(account_ids), Grant.present.is_(True))
        .order_by(Asset.name)
    ):
        found[grant.account_id].append((asset, grant.tasks))
    return found


def runs_page(session: Session, app_id: int, limit: int = 50) -> list[CheckRun]:
    return list(
        session.scalars(
            select(CheckRun)
            .where(CheckRun.app_id == app_id)
            .order_by(CheckRun.id.desc())
            .limit(limit)
        )
    )


def operations_by_state(session: Session, app_id: int) -> dict[str, list[Operation]]:
    grouped: dict[str, list[Operation]] = {s.value: [] for s in OperationState}
    for operation in session.scalars(
        select(Operation)
        .where(Operation.app_id == app_id)
        .order_by(Operation.id.desc())
        .limit(1000)
    ):
        grouped[operation.state.value].append(operation)
    return grouped


def accounts_by_id(session: Session, ids: set[int | None]) -> dict[int, Account]:
    wanted = {i for i in ids if i is not None}
    if not wanted:
        return {}
    return {a.id: a for a in session.scalars(select(Account).where(Account.id.in_(wanted)))}
