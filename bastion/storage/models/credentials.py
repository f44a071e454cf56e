"""What a person keeps in Bastion for one app account: their linked profile in the app, and the
credentials they log in to it with (encrypted in the vault, see bastion/security/vault.py)."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import ForeignKey, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from bastion.storage.models.base import Base, TenantMixin, TimestampMixin, utcnow


class ProfileLinkAttempt(TenantMixin, Base):
    """One "connect your profile" sent to the app's login dialog, waiting for its answer (once).

    Bound to the browser that started it by a cookie whose hash is kept.
    """

    __tablename__ = "profile_link_attempts"

    id: Mapped[int] = mapped_column(primary_key=True)
    account_id: Mapped[int] = mapped_column(ForeignKey("accounts.id", ondelete="CASCADE"))
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))
    state_hash: Mapped[str] = mapped_column(String(64), unique=True)
    browser_hash: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    expires_at: Mapped[datetime] = mapped_column(index=True)
    used_at: Mapped[datetime | None]


class Credential(TenantMixin, TimestampMixin, Base):
    """The login name, password and two-factor secret a person saved for one account.

    Each value is a vault Secret (AES-256-GCM, bound to its row and purpose); this row only says
    which, and the dates the app's policy is checked against. Owners see that a credential
    exists, whether it has two-factor and its rotation status — never a value.
    """

    __tablename__ = "credentials"
    __table_args__ = (UniqueConstraint("account_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    account_id: Mapped[int] = mapped_column(ForeignKey("accounts.id", ondelete="CASCADE"))
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    login_secret_id: Mapped[str] = mapped_column(ForeignKey("secrets.id", ondelete="RESTRICT"))
    password_secret_id: Mapped[str] = mapped_column(ForeignKey("secrets.id", ondelete="RESTRICT"))
    totp_secret_id: Mapped[str | None] = mapped_column(
        ForeignKey("secrets.id", ondelete="RESTRICT")
    )
    # A password Bastion generated for a due rotation, until the person confirms they set it.
    pending_password_secret_id: Mapped[str | None] = mapped_column(
        ForeignKey("secrets.id", ondelete="RESTRICT")
    )
    password_set_at: Mapped[datetime] = mapped_column(default=utcnow)
    last_revealed_at: Mapped[datetime | None]
    rotation_due_at: Mapped[datetime | None] = mapped_column(index=True)
    # When the person, then the app's owners, were told a rotation is overdue.
    overdue_notified_at: Mapped[datetime | None]
    owners_notified_at: Mapped[datetime | None]
