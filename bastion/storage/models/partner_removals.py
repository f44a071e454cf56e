"""Removing a partner business with its residue: one batch an owner reviews, trims and applies.

The residue is what came into the business with the partner and would stay once it is gone:
people added one by one from its e-mail domain (or matched to guests of the local partner the
owner links to it), their asset tasks, and pending invitations to that domain.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Boolean, ForeignKey, Index, String
from sqlalchemy.orm import Mapped, mapped_column

from bastion.storage.models.base import Base, TenantMixin, TimestampMixin, enum_column
from bastion.storage.models.enums import PartnerRemovalItemKind


class PartnerRemoval(TenantMixin, TimestampMixin, Base):
    """One gathered batch for one partner; applied once (``applied_at``), then read-only."""

    __tablename__ = "partner_removals"
    __table_args__ = (Index("ix_partner_removals_partner", "partner_id", "applied_at"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    app_id: Mapped[int] = mapped_column(ForeignKey("apps.id", ondelete="CASCADE"), index=True)
    partner_id: Mapped[int] = mapped_column(ForeignKey("partners.id", ondelete="CASCADE"))
    local_partner_id: Mapped[int | None] = mapped_column(
        ForeignKey("local_partners.id", ondelete="SET NULL")
    )
    # The e-mail domains the residue was gathered by, lower case.
    domains: Mapped[list[str]] = mapped_column(default=list)
    created_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    applied_at: Mapped[datetime | None]
    applied_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    forced: Mapped[bool] = mapped_column(Boolean, default=False)


class PartnerRemovalItem(TenantMixin, TimestampMixin, Base):
    """One thing the batch removes. Its progress is its operation's state; a trimmed item is
    kept in the app and never becomes an operation."""

    __tablename__ = "partner_removal_items"

    id: Mapped[int] = mapped_column(primary_key=True)
    removal_id: Mapped[int] = mapped_column(
        ForeignKey("partner_removals.id", ondelete="CASCADE"), index=True
    )
    kind: Mapped[PartnerRemovalItemKind] = mapped_column(
        enum_column(PartnerRemovalItemKind, "partner_removal_item_kind")
    )
    account_id: Mapped[int | None] = mapped_column(ForeignKey("accounts.id", ondelete="SET NULL"))
    asset_id: Mapped[int | None] = mapped_column(ForeignKey("assets.id", ondelete="SET NULL"))
    # The app-side id the item acts on (partner, asset, person or invitation), kept as gathered.
    target_external_id: Mapped[str] = mapped_column(String(64))
    label: Mapped[str] = mapped_column(String(400))
    reason: Mapped[str] = mapped_column(String(500))
    trimmed: Mapped[bool] = mapped_column(Boolean, default=False)
    operation_id: Mapped[int | None] = mapped_column(
        ForeignKey("operations.id", ondelete="SET NULL")
    )
