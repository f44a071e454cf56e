"""Applying a deprovisioning report, or dismissing its items."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.orm import Session

from bastion.actions.actors import Actor
from bastion.actions.operations import close_report_if_done, queue_operation
from bastion.actions.permissions import APPLY_REPORT, require
from bastion.audit import AuditAction, record
from bastion.errors import Conflict, InvalidInput, NotFound
from bastion.storage.models import Account, App, Operation, Report, ReportItem, utcnow
from bastion.storage.models.enums import (
    AccountKind,
    OperationKind,
    ReportItemState,
    ReportState,
)
from bastion.storage.tenancy import Tenant
from bastion.webhook_events import emit_report_applied


def _items(session: Session, report: Report, item_ids: Iterable[int] | None) -> list[ReportItem]:
    items = list(
        session.scalars(
            select(ReportItem).where(ReportItem.report_id == report.id).order_by(ReportItem.id)
        )
    )
    if item_ids is None:
        return items
    wanted = set(item_ids)
    found = [item for item in items if item.id in wanted]
    missing = wanted - {item.id for item in found}
    if missing:
        raise NotFound(f"report {report.id} has no item {', '.join(map(str, sorted(missing)))}")
    return found


@dataclass(frozen=True)
class ApplyPreview:
    """What applying would remove, for the confirmation every interface asks for."""

    report_id: int
    item_ids: tuple[int, ...]
    # Directory people behind the items (an item whose person is unknown counts as one).
    people: int
    # Seats in the app (people's accounts) and pending invitations, each removed once.
    seats: int
    invitations: int

    @property
    def confirmation(self) -> str:
        """Names exactly the items confirmed: a report that changed since asks again."""
        return "-".join(map(str, self.item_ids))

    @property
    def summary(self) -> str:
        parts = [_count(self.seats, "seat")]
        if self.invitations:
            parts.append(_count(self.invitations, "pending invitation"))
        return f"{_count(self.people, 'person', 'people')}: {' and '.join(parts)}"


def _count(n: int, one: str, many: str | None = None) -> str:
    return f"{n} {one if n == 1 else many or one + 's'}"


def preview_apply(
    session: Session,
    *,
    workspace_id: int,
    report_id: int,
    actor: Actor,
    item_ids: Iterable[int] | None = None,
) -> ApplyPreview:
    """What ``apply_report`` would queue now: the pending and failed items, counted."""
    tenant = Tenant(session, workspace_id)
    report = tenant.get(Report, report_id)
    require(session, actor=actor, app=tenant.get(App, report.app_id), action=APPLY_REPORT)
    if report.state != ReportState.OPEN:
        raise Conflict(f"report {report_id} is closed")
    due = [
        item
        for item in _items(session, report, item_ids)
        if item.state in (ReportItemState.PENDING, ReportItemState.FAILED)
    ]
    kinds = {
        account.id: account.kind
        for account in tenant.all(Account, Account.id.in_([i.account_id for i in due]))
    }
    invitations = sum(1 for item in due if kinds.get(item.account_id) == AccountKind.INVITATION)
    people = {item.user_id if item.user_id is not None else f"item:{item.id}" for item in due}
    return ApplyPreview(
        report_id=report.id,
        item_ids=tuple(item.id for item in due),
        people=len(people),
        seats=len(due) - invitations,
        invitations=invitations,
    )


def apply_report(
    session: Session,
    *,
    workspace_id: int,
    report_id: int,
    actor: Actor,
    item_ids: Iterable[int] | None = None,
) -> list[ReportItem]:
    """Turn each pending (or failed) item into one removal operation; returns those items.

    Each item's operation carries the idempotency key ``report-item:<id>``, so applying twice,
    or from two browser tabs, queues one removal per person.
    """
    tenant = Tenant(session, workspace_id)
    report = tenant.get(Report, report_id)
    app = tenant.get(App, report.app_id)
    require(session, actor=actor, app=app, action=APPLY_REPORT)
    if report.state != ReportState.OPEN:
        raise Conflict(f"report {report_id} is closed")
    applied: list[ReportItem] = []
    for item in _items(session, report, item_ids):
        if item.state not in (ReportItemState.PENDING, ReportItemState.FAILED):
            continue
        account = tenant.get(Account, item.account_id)
        kind = (
            OperationKind.CANCEL_INVITATION
            if account.kind == AccountKind.INVITATION
            else OperationKind.REMOVE
        )
        attempt = 1 if item.operation_id is None else _attempt(session, item) + 1
        operation = queue_operation(
            session,
            app=app,
            kind=kind,
            actor=actor,
            target_external_id=account.external_id,
            parameters={"email": account.email} if account.email else {},
            account_id=account.id,
            idempotency_key=f"report-item:{item.id}:{attempt}",
        )
        item.operation_id = operation.id
        item.state = ReportItemState.APPLYING
        item.result = "Removal queued."
        item.decided_by_id = actor.user_id
        applied.append(item)
    record(
        session,
        workspace_id=workspace_id,
        actor=actor.label,
        action=AuditAction.REPORT_APPLIED,
        target=f"report:{report.id}",
        details={
            "report_id": report.id,
            "items": [item.id for item in applied],
            "operations": [item.operation_id for item in applied],
        },
        request_id=actor.request_id,
    )
    session.flush()
    if applied:
        emit_report_applied(session, report, applied)
    return applied


def _attempt(session: Session, item: ReportItem) -> int:
    key = session.scalar(select(Operation.idempotency_key).where(Operation.id == item.operation_id))
    try:
        return int((key or "").rsplit(":", 1)[-1])
    except ValueError:
        return 1


def dismiss_items(
    session: Session,
    *,
    workspace_id: int,
    report_id: int,
    item_ids: Iterable[int],
    reason: str,
    actor: Actor,
) -> list[ReportItem]:
    """Keep these accounts: the items close without any change in the app."""
    reason = reason.strip()
    if not reason:
        raise InvalidInput("reason", "say why these accounts stay")
    if len(reason) > 500:
        raise InvalidInput("reason", "must be at most 500 characters")
    tenant = Tenant(session, workspace_id)
    report = tenant.get(Report, report_id)
    require(session, actor=actor, app=tenant.get(App, report.app_id), action=APPLY_REPORT)
    dismissed = []
    for item in _items(session, report, item_ids):
        if item.state not in (ReportItemState.PENDING, ReportItemState.FAILED):
            raise Conflict(f"item {item.id} is {item.state.value} and cannot be dismissed")
        item.state, item.dismissed_reason = ReportItemState.DISMISSED, reason
        item.decided_by_id, item.updated_at = actor.user_id, utcnow()
        dismissed.append(item)
        record(
            session,
            workspace_id=workspace_id,
            actor=actor.label,
            action=AuditAction.REPORT_ITEM_DISMISSED,
            target=f"report:{report.id}",
            details={
                "report_id": report.id,
                "item_id": item.id,
                "account": item.account_id,
                "reason": reason,
            },
            request_id=actor.request_id,
        )
    session.flush()
    close_report_if_done(session, report)
    return dismissed
