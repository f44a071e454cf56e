"""Encrypted secrets (app tokens). See bastion/security/vault.py for the scheme."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import LargeBinary, String
from sqlalchemy.orm import Mapped, mapped_column

from bastion.storage.models.base import Base, TenantMixin, utcnow


class Secret(TenantMixin, Base):
    __tablename__ = "secrets"

    # A random id chosen before encryption, so the ciphertext can be bound to it.
    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    purpose: Mapped[str] = mapped_column(String(64))
    key_id: Mapped[str] = mapped_column(String(32), index=True)
    # 12-byte nonce followed by the AES-GCM ciphertext and tag.
    ciphertext: Mapped[bytes] = mapped_column(LargeBinary)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    rotated_at: Mapped[datetime | None]
