"""Reviews: one risky change a check found, waiting for an owner to keep or revert it."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, Boolean, ForeignKey, Index, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from bastion.storage.models.base import Base, TenantMixin, TimestampMixin, enum_column
from bastion.storage.models.enums import ReviewKind, ReviewState


class Review(TenantMixin, TimestampMixin, Base):
    """A new full-control holder, system user, partner or asset shared with a partner.

    ``subject_key`` names what the review is about within its run (``account:12``,
    ``grant:12/7``, ``partner:3``, ``partner_asset:3/7``), so a run opens each review once.
    ``undo`` holds what reverting goes back to (the role or tasks held before).
    """

    __tablename__ = "reviews"
    __table_args__ = (
        UniqueConstraint("run_id", "subject_key"),
        Index("ix_reviews_app_state", "app_id", "state"),
        Index("ix_reviews_state_created", "state", "created_at"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    app_id: Mapped[int] = mapped_column(ForeignKey("apps.id", ondelete="CASCADE"))
    run_id: Mapped[int | None] = mapped_column(ForeignKey("check_runs.id", ondelete="SET NULL"))
    change_id: Mapped[int | None] = mapped_column(ForeignKey("changes.id", ondelete="SET NULL"))
    kind: Mapped[ReviewKind] = mapped_column(enum_column(ReviewKind, "review_kind"))
    state: Mapped[ReviewState] = mapped_column(
        enum_column(ReviewState, "review_state"), default=ReviewState.OPEN
    )
    subject_key: Mapped[str] = mapped_column(String(100))
    account_id: Mapped[int | None] = mapped_column(ForeignKey("accounts.id", ondelete="SET NULL"))
    asset_id: Mapped[int | None] = mapped_column(ForeignKey("assets.id", ondelete="SET NULL"))
    partner_id: Mapped[int | None] = mapped_column(ForeignKey("partners.id", ondelete="SET NULL"))
    summary: Mapped[str] = mapped_column(String(500))
    # False only when one of Bastion's own operations explains the change.
    outside_bastion: Mapped[bool] = mapped_column(Boolean, default=True)
    undo: Mapped[dict[str, Any]] = mapped_column(default=dict)
    decided_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    decided_by: Mapped[str | None] = mapped_column(String(200))
    decided_at: Mapped[datetime | None]
    reason: Mapped[str | None] = mapped_column(String(500))
    operation_ids: Mapped[list[int]] = mapped_column(JSON, default=list)
    escalated_at: Mapped[datetime | None]
