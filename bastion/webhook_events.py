"""Webhook events: queued as WebhookDelivery rows inside the caller's transaction.

``emit_event`` is the one call every part of Bastion makes when something happens that a
receiver may want to know about: it writes one delivery per enabled endpoint subscribed to the
event (the workspace's endpoints for every app, and the app's own), so a delivery exists exactly
when the change that caused it was committed. ``bastion.webhook_delivery`` sends them.

A payload follows the Standard Webhooks shape ``{"type", "timestamp", "data"}``; ``data`` names
ids and what changed, never a secret (a token, a password, a signing secret).
"""

from __future__ import annotations

import secrets
from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import ColumnElement, or_, select
from sqlalchemy.orm import Session

from bastion.storage.models import (
    Account,
    App,
    Change,
    CheckRun,
    Operation,
    Report,
    ReportItem,
    WebhookDelivery,
    WebhookEndpoint,
    utcnow,
)
from bastion.storage.models.enums import OperationState, RunState

EVENT_TYPES: dict[str, str] = {
    "check.succeeded": "A check for updates finished",
    "check.failed": "A check for updates failed",
    "check.stopped_by_safeguard": "The safeguard stopped a check; nothing was applied",
    "change.outside_bastion": "A check found changes made in the app, not through Bastion",
    "report.opened": "A deprovisioning report was opened",
    "report.applied": "An owner applied a deprovisioning report",
    "operation.failed": "A change sent to the app failed",
    "operation.manual": "A change has to be made by hand in the app",
    "account.deprovisioned_still_seated": "A person who left still holds a seat",
    "token.expiring": "An app's access token expires soon",
    "review.opened": "A risky change opened a review",
    "review.decided": "A review was kept or reverted",
}
# A check's state → the event it sends.
CHECK_EVENTS = {
    RunState.SUCCEEDED: "check.succeeded",
    RunState.FAILED: "check.failed",
    RunState.STOPPED_BY_SAFEGUARD: "check.stopped_by_safeguard",
}
# How many changes one change.outside_bastion event lists (``count`` says how many there were).
CHANGES_PER_EVENT = 200


def new_message_id() -> str:
    return f"msg_{secrets.token_urlsafe(18)}"


def emit_event(
    session: Session,
    *,
    workspace_id: int,
    app_id: int | None,
    event_type: str,
    data: Mapping[str, Any],
) -> list[WebhookDelivery]:
    """Queue ``event_type`` for every endpoint subscribed to it; return the deliveries."""
    return emit_events(
        session, workspace_id=workspace_id, app_id=app_id, event_type=event_type, data=[data]
    )


def emit_events(
    session: Session,
    *,
    workspace_id: int,
    app_id: int | None,
    event_type: str,
    data: Sequence[Mapping[str, Any]],
) -> list[WebhookDelivery]:
    """``emit_event`` once per item of ``data`` (events of one type and scope, in that order),
    with one look-up of the subscribed endpoints for them all."""
    if event_type not in EVENT_TYPES:
        raise ValueError(f"unknown webhook event {event_type!r}")
    if not data:
        return []
    scope: ColumnElement[bool] = WebhookEndpoint.app_id.is_(None)
    if app_id is not None:
        scope = or_(scope, WebhookEndpoint.app_id == app_id)
    endpoints = [
        endpoint
        for endpoint in session.scalars(
            select(WebhookEndpoint)
            .where(
                WebhookEndpoint.workspace_id == workspace_id,
                WebhookEndpoint.enabled.is_(True),
                scope,
            )
            .order_by(WebhookEndpoint.id)
        ).all()
        if event_type in endpoint.events
    ]
    now = utcnow()
    timestamp = now.isoformat().replace("+00:00", "Z")
    deliveries = [
        WebhookDelivery(
            workspace_id=workspace_id,
            endpoint_id=endpoint.id,
            message_id=new_message_id(),
            event_type=event_type,
            payload={
                "type": event_type,
                "timestamp": timestamp,
                "data": {"workspace_id": workspace_id, "app_id": app_id, **item},
            },
            next_attempt_at=now,
        )
        for item in data
        for endpoint in endpoints
    ]
    session.add_all(deliveries)
    return deliveries


def emit_check_finished(session: Session, run: CheckRun) -> None:
    """A finished check's event, and the changes it found that Bastion did not make."""
    event_type = CHECK_EVENTS.get(run.state)
    if event_type is None:
        return
    started, finished = run.started_at, run.finished_at
    emit_event(
        session,
        workspace_id=run.workspace_id,
        app_id=run.app_id,
        event_type=event_type,
        data={
            "run_id": run.id,
            "state": run.state.value,
            "trigger": run.trigger.value,
            "started_at": started.isoformat() if started else None,
            "finished_at": finished.isoformat() if finished else None,
            "counts": dict(run.counts or {}),
            "error": run.error,
        },
    )
    if run.state != RunState.SUCCEEDED:
        return
    session.flush()
    outside = session.scalars(
        select(Change)
        .where(Change.run_id == run.id, Change.outside_bastion.is_(True))
        .order_by(Change.id)
    ).all()
    if outside:
        emit_event(
            session,
            workspace_id=run.workspace_id,
            app_id=run.app_id,
            event_type="change.outside_bastion",
            data={
                "run_id": run.id,
                "count": len(outside),
                "changes": [_change(change) for change in outside[:CHANGES_PER_EVENT]],
            },
        )


def _change(change: Change) -> dict[str, Any]:
    return {
        "change_id": change.id,
        "kind": change.kind.value,
        "summary": change.summary,
        "account_id": change.account_id,
        "asset_id": change.asset_id,
        "partner_id": change.partner_id,
        "before": change.before,
        "after": change.after,
    }


def emit_report_opened(session: Session, report: Report) -> None:
    emit_event(
        session,
        workspace_id=report.workspace_id,
        app_id=report.app_id,
        event_type="report.opened",
        data={"report_id": report.id},
    )


def emit_still_seated(session: Session, seated: Sequence[tuple[ReportItem, Account, int]]) -> None:
    """People the directory deprovisioned still hold these accounts (new report items, each
    with its account and asset count), all of one app."""
    if not seated:
        return
    first, account, _count = seated[0]
    emit_events(
        session,
        workspace_id=first.workspace_id,
        app_id=account.app_id,
        event_type="account.deprovisioned_still_seated",
        data=[
            {
                "report_id": item.report_id,
                "report_item_id": item.id,
                "account_id": account.id,
                "user_id": item.user_id,
                "app_role": account.app_role,
                "asset_count": asset_count,
                "reason": item.reason,
            }
            for item, account, asset_count in seated
        ],
    )


def emit_report_applied(session: Session, report: Report, items: Sequence[ReportItem]) -> None:
    emit_event(
        session,
        workspace_id=report.workspace_id,
        app_id=report.app_id,
        event_type="report.applied",
        data={
            "report_id": report.id,
            "items": [
                {"report_item_id": i.id, "account_id": i.account_id, "operation_id": i.operation_id}
                for i in items
            ],
        },
    )


def emit_operation_outcome(session: Session, operation: Operation) -> None:
    """``operation.failed`` or ``operation.manual``; nothing for any other outcome."""
    event_type = {
        OperationState.FAILED: "operation.failed",
        OperationState.MANUAL: "operation.manual",
    }.get(operation.state)
    if event_type is None:
        return
    emit_event(
        session,
        workspace_id=operation.workspace_id,
        app_id=operation.app_id,
        event_type=event_type,
        data={
            "operation_id": operation.id,
            "kind": operation.kind.value,
            "state": operation.state.value,
            "account_id": operation.account_id,
            "asset_id": operation.asset_id,
            "attempts": operation.attempts,
            "error": operation.last_error,
            "manual_steps": operation.manual_steps,
        },
    )


def emit_token_expiring(session: Session, app: App, *, expires_at: datetime, days: int) -> None:
    emit_event(
        session,
        workspace_id=app.workspace_id,
        app_id=app.id,
        event_type="token.expiring",
        data={"expires_at": expires_at.isoformat(), "reminder_days": days},
    )
