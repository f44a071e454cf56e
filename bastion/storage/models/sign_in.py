"""How people sign in besides a password: the workspace's identity provider, e-mailed links."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Boolean, ForeignKey, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from bastion.storage.models.base import Base, TenantMixin, TimestampMixin, utcnow


class SsoConfig(TenantMixin, TimestampMixin, Base):
    """A workspace's OpenID Provider (Okta, Entra ID …). The client secret lives in the vault."""

    __tablename__ = "sso_configs"
    __table_args__ = (UniqueConstraint("workspace_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    # Shown on the sign-in button: "Sign in with <display_name>".
    display_name: Mapped[str] = mapped_column(String(100))
    issuer: Mapped[str] = mapped_column(String(500))
    client_id: Mapped[str] = mapped_column(String(300))
    client_secret_id: Mapped[str] = mapped_column(ForeignKey("secrets.id", ondelete="RESTRICT"))
    # Lower-cased domains an e-mail must end in; empty = any domain of the directory's people.
    allowed_domains: Mapped[list[str]] = mapped_column(default=list)
    enabled: Mapped[bool] = mapped_column(Boolean, default=True)
    updated_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))


class SsoAttempt(TenantMixin, Base):
    """One sign-in sent to the identity provider, waiting for it to come back (once).

    Bound to the browser that started it by a cookie whose hash is kept, so a callback replayed
    elsewhere or a second time finds nothing to finish.
    """

    __tablename__ = "sso_attempts"

    id: Mapped[int] = mapped_column(primary_key=True)
    state_hash: Mapped[str] = mapped_column(String(64), unique=True)
    browser_hash: Mapped[str] = mapped_column(String(64))
    nonce: Mapped[str] = mapped_column(String(100))
    code_verifier: Mapped[str] = mapped_column(String(128))
    next_path: Mapped[str] = mapped_column(String(500), default="/me/accounts")
    # The person must sign in at the provider again now (to reveal a secret): auth_time checked.
    reauthenticate: Mapped[bool] = mapped_column(Boolean, default=False)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    expires_at: Mapped[datetime] = mapped_column(index=True)
    used_at: Mapped[datetime | None]


class SignInLink(TenantMixin, Base):
    """A single-use sign-in link e-mailed to a directory person. Only the token's hash is kept."""

    __tablename__ = "sign_in_links"

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    expires_at: Mapped[datetime]
    used_at: Mapped[datetime | None]
