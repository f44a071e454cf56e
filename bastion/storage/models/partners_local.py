"""Bastion-managed outsiders: local partners (named organisations of guests) and the one-time
links guests use to set their password."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Boolean, ForeignKey, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from bastion.storage.models.base import Base, TenantMixin, TimestampMixin, utcnow


class LocalPartner(TenantMixin, TimestampMixin, Base):
    """A partner organisation kept in Bastion (not a Meta partner): it groups guest users."""

    __tablename__ = "local_partners"
    __table_args__ = (UniqueConstraint("workspace_id", "name_key"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(200))
    name_key: Mapped[str] = mapped_column(String(200))
    created_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))


class LocalPartnerMember(TenantMixin, Base):
    """A guest user of a local partner; a partner admin may invite the partner's other guests."""

    __tablename__ = "local_partner_members"

    partner_id: Mapped[int] = mapped_column(
        ForeignKey("local_partners.id", ondelete="CASCADE"), primary_key=True
    )
    user_id: Mapped[int] = mapped_column(
        ForeignKey("users.id", ondelete="CASCADE"), primary_key=True, index=True
    )
    is_admin: Mapped[bool] = mapped_column(Boolean, default=False)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class GuestInvitation(TenantMixin, Base):
    """A one-time set-password link sent to a guest. Only the token's hash is kept."""

    __tablename__ = "guest_invitations"

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    partner_id: Mapped[int | None] = mapped_column(
        ForeignKey("local_partners.id", ondelete="CASCADE")
    )
    account_id: Mapped[int | None] = mapped_column(ForeignKey("accounts.id", ondelete="SET NULL"))
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    invited_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    expires_at: Mapped[datetime]
    used_at: Mapped[datetime | None]
