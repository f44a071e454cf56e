"""The corporate directory: workspaces, people, their e-mails, teams and access tokens."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import Boolean, ForeignKey, Index, Integer, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship

from bastion.storage.models.base import Base, TenantMixin, TimestampMixin, enum_column, utcnow
from bastion.storage.models.enums import TokenKind, UserSource, UserStatus, WorkspaceRole


class Workspace(Base):
    __tablename__ = "workspaces"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(200))
    slug: Mapped[str] = mapped_column(String(64), unique=True)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    # Head of the workspace's audit chain (see bastion/audit.py).
    audit_seq: Mapped[int] = mapped_column(Integer, default=0)
    audit_head: Mapped[str] = mapped_column(String(64), default="0" * 64)


class User(TenantMixin, TimestampMixin, Base):
    """A person of the workspace: from SCIM, a CSV, or created locally (admins, guests)."""

    __tablename__ = "users"
    __table_args__ = (
        UniqueConstraint("workspace_id", "user_name_key"),
        Index("ix_users_workspace_email", "workspace_id", "email_key"),
        Index("ix_users_workspace_external_id", "workspace_id", "external_id"),
        Index("ix_users_workspace_status", "workspace_id", "status"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    user_name: Mapped[str] = mapped_column(String(320))
    # Lower-cased user_name: SCIM says userName is unique case-insensitively.
    user_name_key: Mapped[str] = mapped_column(String(320))
    email: Mapped[str | None] = mapped_column(String(320))
    email_key: Mapped[str | None] = mapped_column(String(320))
    display_name: Mapped[str] = mapped_column(String(200), default="")
    given_name: Mapped[str | None] = mapped_column(String(100))
    family_name: Mapped[str | None] = mapped_column(String(100))
    external_id: Mapped[str | None] = mapped_column(String(200))
    source: Mapped[UserSource] = mapped_column(enum_column(UserSource, "user_source"))
    status: Mapped[UserStatus] = mapped_column(
        enum_column(UserStatus, "user_status"), default=UserStatus.ACTIVE
    )
    status_changed_at: Mapped[datetime | None]
    status_changed_by: Mapped[str | None] = mapped_column(String(100))
    role: Mapped[WorkspaceRole] = mapped_column(
        enum_column(WorkspaceRole, "workspace_role"), default=WorkspaceRole.MEMBER
    )
    password_hash: Mapped[str | None] = mapped_column(String(200))
    must_change_password: Mapped[bool] = mapped_column(Boolean, default=False)
    # The SCIM resource's remaining attributes (enterprise extension, phone numbers …) as sent.
    scim_attributes: Mapped[dict[str, Any]] = mapped_column(default=dict)
    # Set when the identity provider deleted the person: the row stays (deprovisioned) for
    # reports and app accounts that still point at it, but SCIM no longer shows it.
    removed_at: Mapped[datetime | None]
    # The last time the person signed in to Bastion, whichever way.
    signed_in_at: Mapped[datetime | None]

    # In the order the directory listed them (SCIM returns them as sent).
    emails: Mapped[list[UserEmail]] = relationship(
        back_populates="user",
        cascade="all, delete-orphan",
        lazy="selectin",
        order_by="UserEmail.id",
    )


class UserEmail(TenantMixin, Base):
    """Every e-mail a person is known by (work, home, aliases), for SCIM filters and matching."""

    __tablename__ = "user_emails"
    __table_args__ = (
        UniqueConstraint("user_id", "email_key"),
        Index("ix_user_emails_workspace_email", "workspace_id", "email_key"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))
    email: Mapped[str] = mapped_column(String(320))
    email_key: Mapped[str] = mapped_column(String(320))
    type: Mapped[str | None] = mapped_column(String(32))
    # None when the directory did not say (SCIM keeps "not stated" apart from false).
    primary: Mapped[bool | None] = mapped_column(Boolean)
    # SCIM's human-readable label for the address, kept so a PUT reads back as sent.
    display: Mapped[str | None] = mapped_column(String(320))

    user: Mapped[User] = relationship(back_populates="emails")


class Team(TenantMixin, TimestampMixin, Base):
    """A directory group (SCIM Group)."""

    __tablename__ = "teams"
    __table_args__ = (Index("ix_teams_workspace_name", "workspace_id", "display_name_key"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    display_name: Mapped[str] = mapped_column(String(200))
    display_name_key: Mapped[str] = mapped_column(String(200))
    external_id: Mapped[str | None] = mapped_column(String(200))


class TeamMember(TenantMixin, Base):
    __tablename__ = "team_members"

    team_id: Mapped[int] = mapped_column(
        ForeignKey("teams.id", ondelete="CASCADE"), primary_key=True
    )
    user_id: Mapped[int] = mapped_column(
        ForeignKey("users.id", ondelete="CASCADE"), primary_key=True, index=True
    )
    # The member's label as the identity provider sent it.
    display: Mapped[str | None] = mapped_column(String(320))


class ApiToken(TenantMixin, Base):
    """A personal API token or a SCIM token. Only a hash of the token is kept."""

    __tablename__ = "api_tokens"

    id: Mapped[int] = mapped_column(primary_key=True)
    kind: Mapped[TokenKind] = mapped_column(enum_column(TokenKind, "token_kind"))
    name: Mapped[str] = mapped_column(String(200))
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    # The first characters of the token, so a person can tell their tokens apart.
    prefix: Mapped[str] = mapped_column(String(16))
    user_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))
    created_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    expires_at: Mapped[datetime | None]
    revoked_at: Mapped[datetime | None]
    last_used_at: Mapped[datetime | None]


class WebSession(TenantMixin, Base):
    """A signed-in browser. The cookie holds a random token; only its hash is kept here."""

    __tablename__ = "web_sessions"

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    last_seen_at: Mapped[datetime] = mapped_column(default=utcnow)
    # Absolute end, whatever the activity; the idle timeout is checked against last_seen_at.
    expires_at: Mapped[datetime]
    ended_at: Mapped[datetime | None]
    # When the person last proved who they are in this session (sign-in, or signing in again
    # to reveal a secret).
    authenticated_at: Mapped[datetime | None]
    ip: Mapped[str | None] = mapped_column(String(64))
    user_agent: Mapped[str | None] = mapped_column(String(300))
