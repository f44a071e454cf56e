"""What checks and admins do to an app: runs, the changes they find, reports and operations."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import Boolean, ForeignKey, Index, Integer, String, Text, UniqueConstraint, text
from sqlalchemy.orm import Mapped, mapped_column

from bastion.storage.models.base import Base, TenantMixin, TimestampMixin, enum_column, utcnow
from bastion.storage.models.enums import (
    ChangeKind,
    OperationKind,
    OperationState,
    ReportItemState,
    ReportState,
    RunState,
    RunTrigger,
)


class CheckRun(TenantMixin, Base):
    """One check for updates of one app."""

    __tablename__ = "check_runs"
    __table_args__ = (
        # At most one running check per app, enforced by the database itself.
        Index(
            "uq_check_runs_one_running_per_app",
            "app_id",
            unique=True,
            sqlite_where=text("state = 'running'"),
            postgresql_where=text("state = 'running'"),
        ),
        Index("ix_check_runs_app_started", "app_id", "started_at"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    app_id: Mapped[int] = mapped_column(ForeignKey("apps.id", ondelete="CASCADE"))
    trigger: Mapped[RunTrigger] = mapped_column(enum_column(RunTrigger, "run_trigger"))
    state: Mapped[RunState] = mapped_column(
        enum_column(RunState, "run_state"), default=RunState.RUNNING
    )
    requested_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    safeguard_overridden: Mapped[bool] = mapped_column(Boolean, default=False)
    started_at: Mapped[datetime] = mapped_column(default=utcnow)
    heartbeat_at: Mapped[datetime] = mapped_column(default=utcnow)
    finished_at: Mapped[datetime | None]
    counts: Mapped[dict[str, Any]] = mapped_column(default=dict)
    error: Mapped[str | None] = mapped_column(Text)
    graph_operations: Mapped[int] = mapped_column(Integer, default=0)
    http_requests: Mapped[int] = mapped_column(Integer, default=0)


class Change(TenantMixin, Base):
    """One difference a run found, with the state before and after."""

    __tablename__ = "changes"
    __table_args__ = (Index("ix_changes_app_run", "app_id", "run_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    app_id: Mapped[int] = mapped_column(ForeignKey("apps.id", ondelete="CASCADE"))
    run_id: Mapped[int] = mapped_column(ForeignKey("check_runs.id", ondelete="CASCADE"))
    kind: Mapped[ChangeKind] = mapped_column(enum_column(ChangeKind, "change_kind"))
    account_id: Mapped[int | None] = mapped_column(ForeignKey("accounts.id", ondelete="SET NULL"))
    asset_id: Mapped[int | None] = mapped_column(ForeignKey("assets.id", ondelete="SET NULL"))
    partner_id: Mapped[int | None] = mapped_column(ForeignKey("partners.id", ondelete="SET NULL"))
    summary: Mapped[str] = mapped_column(String(500), default="")
    before: Mapped[dict[str, Any] | None] = mapped_column()
    after: Mapped[dict[str, Any] | None] = mapped_column()
    # True when no Operation of Bastion's explains the change: someone acted in the app itself.
    outside_bastion: Mapped[bool] = mapped_column(Boolean, default=True)
    operation_id: Mapped[int | None] = mapped_column(
        ForeignKey("operations.id", ondelete="SET NULL")
    )
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class Report(TenantMixin, TimestampMixin, Base):
    """A deprovisioning report: accounts of people who left that still hold a seat."""

    __tablename__ = "reports"
    __table_args__ = (
        Index(
            "uq_reports_one_open_per_app",
            "app_id",
            unique=True,
            sqlite_where=text("state = 'open'"),
            postgresql_where=text("state = 'open'"),
        ),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    app_id: Mapped[int] = mapped_column(ForeignKey("apps.id", ondelete="CASCADE"), index=True)
    state: Mapped[ReportState] = mapped_column(
        enum_column(ReportState, "report_state"), default=ReportState.OPEN
    )
    closed_at: Mapped[datetime | None]


class ReportItem(TenantMixin, TimestampMixin, Base):
    __tablename__ = "report_items"
    __table_args__ = (UniqueConstraint("report_id", "account_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    report_id: Mapped[int] = mapped_column(ForeignKey("reports.id", ondelete="CASCADE"))
    account_id: Mapped[int] = mapped_column(ForeignKey("accounts.id", ondelete="CASCADE"))
    user_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    reason: Mapped[str] = mapped_column(String(500))
    proposed_action: Mapped[str] = mapped_column(String(32), default="remove")
    state: Mapped[ReportItemState] = mapped_column(
        enum_column(ReportItemState, "report_item_state"), default=ReportItemState.PENDING
    )
    result: Mapped[str | None] = mapped_column(String(1000))
    dismissed_reason: Mapped[str | None] = mapped_column(String(500))
    decided_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    operation_id: Mapped[int | None] = mapped_column(
        ForeignKey("operations.id", ondelete="SET NULL")
    )


class Operation(TenantMixin, TimestampMixin, Base):
    """An outbound change to an app (the outbox). Written before anything is sent."""

    __tablename__ = "operations"
    __table_args__ = (
        UniqueConstraint("workspace_id", "idempotency_key"),
        Index("ix_operations_due", "state", "next_attempt_at"),
        Index("ix_operations_app_state", "app_id", "state"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    app_id: Mapped[int] = mapped_column(ForeignKey("apps.id", ondelete="CASCADE"))
    kind: Mapped[OperationKind] = mapped_column(enum_column(OperationKind, "operation_kind"))
    account_id: Mapped[int | None] = mapped_column(ForeignKey("accounts.id", ondelete="SET NULL"))
    asset_id: Mapped[int | None] = mapped_column(ForeignKey("assets.id", ondelete="SET NULL"))
    # The app-side id the operation acts on, kept even if the local row goes away.
    target_external_id: Mapped[str | None] = mapped_column(String(64))
    parameters: Mapped[dict[str, Any]] = mapped_column(default=dict)
    state: Mapped[OperationState] = mapped_column(
        enum_column(OperationState, "operation_state"), default=OperationState.QUEUED
    )
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    next_attempt_at: Mapped[datetime | None]
    last_error: Mapped[str | None] = mapped_column(String(1000))
    # The connector's error code of the last failure (``restricted``, ``rate_limited`` …).
    last_error_code: Mapped[str | None] = mapped_column(String(32))
    manual_steps: Mapped[str | None] = mapped_column(Text)
    result: Mapped[dict[str, Any] | None] = mapped_column()
    idempotency_key: Mapped[str | None] = mapped_column(String(200))
    requested_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    started_at: Mapped[datetime | None]
    # While running: until when the claiming worker holds it (renewed by its heartbeat).
    lease_expires_at: Mapped[datetime | None]
    finished_at: Mapped[datetime | None]
