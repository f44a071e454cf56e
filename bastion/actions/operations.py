"""The operations outbox: every outbound change is a row first, performed at most once.

    queued ──claim──▶ running ──▶ succeeded | failed | deferred | manual
       ▲                 │ (worker died: stays running; re-claimed once its lease ran out and
       └── deferred ◀────┘  performed with ``resumed=True``, which checks the app first)

Claiming is a compare-and-set UPDATE (``WHERE state IN …``), so two workers never both take one
operation, on SQLite or PostgreSQL. The claim is committed before the app is called, with a lease
the worker renews while it waits for the app (``operation_leases``); a crash after the call leaves
the row ``running`` and its lease lapses within seconds, and the resumed attempt asks the
connector to verify the app's state before acting again, so nothing is performed twice.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import and_, or_, select, update
from sqlalchemy.orm import Session

from bastion.actions.actors import Actor
from bastion.actions.apps import connector_for
from bastion.actions.operation_leases import LeaseKeeper, hold_lease, lease_expired, lease_length
from bastion.actions.permissions import MANAGE_OPERATIONS, require
from bastion.actions.restrictions import settle_restriction
from bastion.audit import AuditAction, record
from bastion.concurrency import run_sync
from bastion.connectors.base import AssetType as ConnectorAssetType
from bastion.connectors.base import (
    ConnectorError,
    ManualOnly,
    OperationRequest,
    OperationResult,
    RateLimited,
    Restricted,
)
from bastion.errors import Conflict, InvalidInput
from bastion.logs import get_logger
from bastion.runtime import Runtime
from bastion.storage.models import (
    Account,
    App,
    Asset,
    Grant,
    Operation,
    Partner,
    PartnerGrant,
    Report,
    ReportItem,
    utcnow,
)
from bastion.storage.models.enums import (
    AppStatus,
    OperationKind,
    OperationState,
    ReportItemState,
    ReportState,
)
from bastion.storage.tenancy import Tenant
from bastion.webhook_events import emit_operation_outcome

log = get_logger(__name__)
MAX_TRANSIENT_ATTEMPTS = 8


def queue_operation(
    session: Session,
    *,
    app: App,
    kind: OperationKind,
    actor: Actor,
    target_external_id: str | None = None,
    parameters: dict[str, Any] | None = None,
    account_id: int | None = None,
    asset_id: int | None = None,
    idempotency_key: str | None = None,
) -> Operation:
    """Write the operation; with an idempotency key, a repeat returns the first one."""
    parameters = dict(parameters or {})
    if idempotency_key is not None:
        existing = Tenant(session, app.workspace_id).find(
            Operation, Operation.idempotency_key == idempotency_key
        )
        if existing is not None:
            if (existing.kind, existing.target_external_id, existing.app_id) != (
                kind,
                target_external_id,
                app.id,
            ):
                raise Conflict("this Idempotency-Key was already used for another operation")
            return existing
    operation = Operation(
        workspace_id=app.workspace_id,
        app_id=app.id,
        kind=kind,
        target_external_id=target_external_id,
        parameters=parameters,
        account_id=account_id,
        asset_id=asset_id,
        idempotency_key=idempotency_key,
        requested_by_id=actor.user_id,
        next_attempt_at=utcnow(),
    )
    session.add(operation)
    session.flush()
    record(
        session,
        workspace_id=app.workspace_id,
        actor=actor.label,
        action=AuditAction.OPERATION_QUEUED,
        target=f"app:{app.id}",
        details={
            "operation_id": operation.id,
            "kind": kind.value,
            "target": target_external_id,
            "parameters": {k: v for k, v in parameters.items() if k != "token"},
        },
        request_id=actor.request_id,
    )
    return operation


def operation_request(
    operation: Operation, *, asset_type: ConnectorAssetType | None = None
) -> OperationRequest:
    """The connector-level request for a stored operation; ``asset_type`` is the type of the
    asset a task operation acts on, when known."""
    params = operation.parameters
    target = operation.target_external_id or ""
    match operation.kind:
        case OperationKind.INVITE:
            return OperationRequest.invite(
                email=params["email"],
                role=params["role"],
                asset_tasks={k: tuple(v) for k, v in params.get("asset_tasks", {}).items()},
            )
        case OperationKind.CANCEL_INVITATION:
            return OperationRequest.cancel_invitation(invitation_id=target)
        case OperationKind.REMOVE:
            return OperationRequest.remove(account_id=target)
        case OperationKind.SET_ROLE:
            return OperationRequest.set_role(account_id=target, role=params["role"])
        case OperationKind.GRANT_TASKS:
            return OperationRequest.grant_tasks(
                account_id=target,
                asset_id=params["asset_external_id"],
                tasks=params["tasks"],
                asset_type=asset_type,
            )
        case OperationKind.REVOKE_TASKS:
            return OperationRequest.revoke_tasks(
                account_id=target,
                asset_id=params["asset_external_id"],
                tasks=params.get("tasks", []),
                asset_type=asset_type,
            )
        case OperationKind.REMOVE_PARTNER:
            return OperationRequest.remove_partner(partner_id=target, relation=params["relation"])
        case OperationKind.REMOVE_PARTNER_ACCESS:
            return OperationRequest.remove_partner_access(
                partner_id=target, asset_id=params["asset_external_id"], asset_type=asset_type
            )
    raise InvalidInput("kind", f"unknown operation kind {operation.kind}")  # pragma: no cover


def _asset_type(session: Session, operation: Operation) -> ConnectorAssetType | None:
    """The type of the asset a task operation acts on, from the app's last check: some changes
    cannot be made through the app's API on every type (Meta: a person's last pixel task)."""
    external_id = operation.parameters.get("asset_external_id")
    if not external_id:
        return None
    found = session.scalar(
        select(Asset.type).where(Asset.app_id == operation.app_id, Asset.external_id == external_id)
    )
    return found.value if found is not None else None


def _claimable(now: datetime) -> Any:
    return or_(
        and_(
            Operation.state.in_([OperationState.QUEUED, OperationState.DEFERRED]),
            or_(Operation.next_attempt_at.is_(None), Operation.next_attempt_at <= now),
        ),
        lease_expired(now),
    )


def due_operation_ids(session: Session, *, limit: int = 100) -> list[int]:
    return list(
        session.scalars(
            select(Operation.id).where(_claimable(utcnow())).order_by(Operation.id).limit(limit)
        )
    )


def claim_operation(
    session: Session, operation_id: int, *, lease: timedelta
) -> tuple[Operation, bool] | None:
    """Take the operation for this worker, leased for ``lease``; None if another worker has it
    or it is not due.

    Returns the operation and whether it is resumed after a crash (its outcome unknown). The
    claim's attempt number (``operation.attempts``) fences the lease's renewals and the outcome.
    """
    now = utcnow()
    resumed = session.scalar(
        select(Operation.state == OperationState.RUNNING).where(Operation.id == operation_id)
    )
    claimed = session.execute(
        update(Operation)
        .where(Operation.id == operation_id, _claimable(now))
        .values(
            state=OperationState.RUNNING,
            attempts=Operation.attempts + 1,
            started_at=now,
            lease_expires_at=now + lease,
            updated_at=now,
        )
        .execution_options(synchronize_session=False)
    )
    if claimed.rowcount != 1:  # type: ignore[attr-defined]
        return None
    operation = session.get_one(Operation, operation_id, populate_existing=True)
    return operation, bool(resumed)


def execute_operation(runtime: Runtime, operation_id: int) -> Operation | None:
    """Claim, perform and record one operation; None when someone else has it."""
    ring = runtime.require_key_ring()
    lease = lease_length(runtime)
    with runtime.sessions.begin() as session:
        claim = claim_operation(session, operation_id, lease=lease)
        if claim is None:
            return None
        operation, resumed = claim
        attempt = operation.attempts
        app = session.get_one(App, operation.app_id)
        request = operation_request(operation, asset_type=_asset_type(session, operation))
        connector = connector_for(session, ring, runtime.connector_options, app)
        _mark_items(session, operation, ReportItemState.APPLYING, None)

    async def perform() -> OperationResult:
        try:
            return await connector.perform(request, resumed=resumed)
        finally:
            await connector.aclose()

    with LeaseKeeper(runtime, operation_id=operation_id, attempt=attempt):
        try:
            result: OperationResult | ConnectorError = run_sync(perform())
        except ConnectorError as exc:
            result = exc
    with runtime.sessions.begin() as session:
        # The fenced renewal locks the row: a worker that took the operation over after this
        # one's lease ran out records the outcome instead, having checked the app first.
        if not hold_lease(session, operation_id=operation_id, attempt=attempt, lease=lease):
            log.warning(
                "operation taken over; its outcome is left to the new claim",
                operation_id=operation_id,
            )
            return session.get_one(Operation, operation_id)
        operation = session.get_one(Operation, operation_id, populate_existing=True)
        _record_outcome(session, operation, result)
        return operation


def _record_outcome(
    session: Session, operation: Operation, result: OperationResult | ConnectorError
) -> None:
    now = utcnow()
    operation.finished_at, operation.lease_expires_at = now, None
    error: str | None = None
    operation.last_error_code = None if isinstance(result, OperationResult) else result.code
    if isinstance(result, OperationResult):
        operation.state = OperationState.SUCCEEDED
        operation.result = {
            "outcome": result.outcome,
            "external_id": result.external_id,
            "detail": result.detail,
            "tasks": list(result.tasks),
        }
        operation.last_error = None
        _apply_locally(session, operation)
        app = session.get_one(App, operation.app_id)
        if app.status == AppStatus.RESTRICTED:
            settle_restriction(session, app, now)
        summary = "done" if result.outcome == "applied" else "already done in the app"
        _mark_items(session, operation, ReportItemState.APPLIED, f"Removed: {summary}.")
    else:
        error = result.message
        operation.last_error = error[:1000]
        if isinstance(result, ManualOnly):
            operation.state = OperationState.MANUAL
            operation.manual_steps = result.manual_step
            _mark_items(session, operation, ReportItemState.APPLYING, result.manual_step)
        elif result.disposition == "retry_later" and (
            not _is_transient(result) or operation.attempts < MAX_TRANSIENT_ATTEMPTS
        ):
            operation.state = OperationState.DEFERRED
            operation.next_attempt_at = _retry_at(result, operation.attempts, now)
            if isinstance(result, Restricted):
                app = session.get_one(App, operation.app_id)
                app.status, app.restricted_until = AppStatus.RESTRICTED, result.until
                app.status_reason = result.message
            _mark_items(
                session,
                operation,
                ReportItemState.APPLYING,
                f"Deferred until {operation.next_attempt_at:%Y-%m-%d %H:%M} UTC: {error}",
            )
        else:
            operation.state = OperationState.FAILED
            _mark_items(session, operation, ReportItemState.FAILED, error)
    record(
        session,
        workspace_id=operation.workspace_id,
        actor="system:operations",
        action=AuditAction.OPERATION_FINISHED,
        target=f"app:{operation.app_id}",
        details={
            "operation_id": operation.id,
            "kind": operation.kind.value,
            "state": operation.state.value,
            "error": error,
        },
    )
    emit_operation_outcome(session, operation)


def _is_transient(error: ConnectorError) -> bool:
    return not isinstance(error, RateLimited | Restricted)


def _retry_at(error: ConnectorError, attempts: int, now: datetime) -> datetime:
    if isinstance(error, RateLimited):
        return now + timedelta(seconds=max(error.retry_after_seconds, 1.0))
    if isinstance(error, Restricted) and error.until is not None:
        return max(error.until, now + timedelta(minutes=1))
    if isinstance(error, Restricted):
        return now + timedelta(hours=6)
    return now + timedelta(seconds=min(30 * 2 ** (attempts - 1), 3600))


def _apply_locally(session: Session, operation: Operation) -> None:
    """Mirror a succeeded removal locally at once; the next check confirms it either way."""
    if operation.kind == OperationKind.REMOVE_PARTNER_ACCESS:
        grant = _partner_grant(session, operation)
        if grant is not None:
            grant.present, grant.gone_at = False, utcnow()
        return
    if operation.kind in (OperationKind.REMOVE, OperationKind.CANCEL_INVITATION):
        account = session.scalars(
            select(Account).where(
                Account.app_id == operation.app_id,
                Account.external_id == operation.target_external_id,
            )
        ).first()
        if account is not None and account.present:
            account.present, account.gone_at = False, utcnow()
            session.execute(
                update(Grant)
                .where(Grant.account_id == account.id, Grant.present.is_(True))
                .values(present=False, gone_at=utcnow())
            )


def _mark_items(
    session: Session, operation: Operation, state: ReportItemState, result: str | None
) -> None:
    items = session.scalars(select(ReportItem).where(ReportItem.operation_id == operation.id))
    for item in items:
        item.state = state
        item.result = result[:1000] if result else None
        report = session.get_one(Report, item.report_id)
        session.flush()
        close_report_if_done(session, report)


def close_report_if_done(session: Session, report: Report) -> None:
    open_items = session.scalar(
        select(ReportItem.id)
        .where(
            ReportItem.report_id == report.id,
            ReportItem.state.in_(
                [ReportItemState.PENDING, ReportItemState.APPLYING, ReportItemState.FAILED]
            ),
        )
        .limit(1)
    )
    if open_items is None and report.state == ReportState.OPEN:
        report.state, report.closed_at = ReportState.CLOSED, utcnow()


def run_due_operations(runtime: Runtime, *, limit: int = 100) -> dict[str, int]:
    """Perform every due operation once; return how many ended in each state."""
    with runtime.sessions() as session:
        ids = due_operation_ids(session, limit=limit)
    counts: dict[str, int] = {}
    for operation_id in ids:
        operation = execute_operation(runtime, operation_id)
        if operation is not None:
            counts[operation.state.value] = counts.get(operation.state.value, 0) + 1
    return counts


def retry_operation(
    session: Session, *, workspace_id: int, operation_id: int, actor: Actor
) -> Operation:
    tenant = Tenant(session, workspace_id)
    operation = tenant.get(Operation, operation_id)
    require(session, actor=actor, app=tenant.get(App, operation.app_id), action=MANAGE_OPERATIONS)
    if operation.state not in (OperationState.FAILED, OperationState.DEFERRED):
        raise Conflict(
            f"operation {operation_id} is {operation.state.value}; only failed or deferred "
            "operations can be retried"
        )
    operation.state, operation.next_attempt_at = OperationState.QUEUED, utcnow()
    _mark_items(session, operation, ReportItemState.APPLYING, "Retry queued.")
    record(
        session,
        workspace_id=workspace_id,
        actor=actor.label,
        action=AuditAction.OPERATION_RETRIED,
        target=f"app:{operation.app_id}",
        details={"operation_id": operation.id, "kind": operation.kind.value},
        request_id=actor.request_id,
    )
    return operation


def confirm_manual_operations(session: Session, app: App) -> int:
    """After a check: manual steps a person did in the app are confirmed and closed."""
    manual = session.scalars(
        select(Operation).where(
            Operation.app_id == app.id, Operation.state == OperationState.MANUAL
        )
    ).all()
    confirmed = 0
    for operation in manual:
        if _holds(session, operation):
            operation.state, operation.finished_at = OperationState.SUCCEEDED, utcnow()
            operation.result = {"outcome": "confirmed_by_check"}
            _mark_items(session, operation, ReportItemState.APPLIED, "Done by hand; confirmed.")
            confirmed += 1
    return confirmed


def _holds(session: Session, operation: Operation) -> bool:
    account = session.scalars(
        select(Account).where(
            Account.app_id == operation.app_id,
            Account.external_id == operation.target_external_id,
        )
    ).first()
    present = account is not None and account.present
    match operation.kind:
        case OperationKind.REMOVE_PARTNER:
            partner = session.scalar(
                select(Partner.id).where(
                    Partner.app_id == operation.app_id,
                    Partner.external_id == operation.target_external_id,
                    Partner.present.is_(True),
                )
            )
            return partner is None
        case OperationKind.REMOVE_PARTNER_ACCESS:
            return _partner_grant(session, operation) is None
        case OperationKind.REMOVE | OperationKind.CANCEL_INVITATION:
            return not present
        case OperationKind.SET_ROLE:
            return (
                present
                and account is not None
                and (account.app_role == operation.parameters.get("role"))
            )
        case OperationKind.INVITE:
            email = str(operation.parameters.get("email", "")).strip().lower()
            return (
                session.scalar(
                    select(Account.id).where(
                        Account.app_id == operation.app_id,
                        Account.email_key == email,
                        Account.present.is_(True),
                    )
                )
                is not None
            )
        case OperationKind.GRANT_TASKS | OperationKind.REVOKE_TASKS:
            if account is None:
                return operation.kind == OperationKind.REVOKE_TASKS
            held = _held_tasks(session, account.id, operation.parameters["asset_external_id"])
            wanted = set(operation.parameters.get("tasks", []))
            if operation.kind == OperationKind.GRANT_TASKS:
                return wanted <= held
            return not (held & wanted) if wanted else not held
    return False  # pragma: no cover


def _partner_grant(session: Session, operation: Operation) -> PartnerGrant | None:
    """The partner's present access to the asset a partner-access removal names."""
    return session.scalars(
        select(PartnerGrant)
        .join(Partner, Partner.id == PartnerGrant.partner_id)
        .join(Asset, Asset.id == PartnerGrant.asset_id)
        .where(
            Partner.app_id == operation.app_id,
            Partner.external_id == operation.target_external_id,
            Asset.external_id == operation.parameters.get("asset_external_id"),
            PartnerGrant.present.is_(True),
        )
    ).first()


def _held_tasks(session: Session, account_id: int, asset_external_id: str) -> set[str]:
    tasks = session.scalar(
        select(Grant.tasks)
        .join(Asset, Asset.id == Grant.asset_id)
        .where(
            Grant.account_id == account_id,
            Grant.present.is_(True),
            Asset.external_id == asset_external_id,
        )
    )
    return set(tasks or [])
