"""Connected apps and what a check finds inside them: accounts, assets, grants, partners."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import (
    Boolean,
    CheckConstraint,
    ForeignKey,
    Index,
    Integer,
    String,
    UniqueConstraint,
)
from sqlalchemy.orm import Mapped, mapped_column

from bastion.storage.models.base import Base, TenantMixin, TimestampMixin, enum_column
from bastion.storage.models.enums import (
    AccountKind,
    AccountState,
    AppKind,
    AppRole,
    AppStatus,
    AssetType,
    LoginMethod,
    OnboardingStatus,
    Ownership,
    PartnerPeopleStatus,
    PartnerRelation,
)


class App(TenantMixin, TimestampMixin, Base):
    """One connected integration, e.g. one Meta Business Manager."""

    __tablename__ = "apps"
    __table_args__ = (
        CheckConstraint(
            "safeguard_threshold_percent BETWEEN 0 AND 100", name="safeguard_threshold_range"
        ),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    kind: Mapped[AppKind] = mapped_column(enum_column(AppKind, "app_kind"))
    label: Mapped[str] = mapped_column(String(200))
    # Connector settings that are not secret (for Meta: business id and app id).
    settings: Mapped[dict[str, Any]] = mapped_column(default=dict)
    token_secret_id: Mapped[str | None] = mapped_column(
        ForeignKey("secrets.id", ondelete="SET NULL")
    )
    token_set_at: Mapped[datetime | None]
    token_set_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    # The secret of the app the token was made for (Meta: optional; with it every request
    # carries a proof and the token's type, expiry and permissions can be read).
    app_secret_id: Mapped[str | None] = mapped_column(ForeignKey("secrets.id", ondelete="SET NULL"))
    # What the last connection check found (connect, a new token or App secret). The expiry is
    # known only with the App secret; None then means the token never expires.
    token_expires_at: Mapped[datetime | None]
    # The app's id of the identity the token acts as (Meta: its system user), which Bastion
    # never removes or demotes; None until a connection check or a check has read it.
    token_identity: Mapped[str | None] = mapped_column(String(64))
    # The smallest "days before expiry" reminder already e-mailed for this expiry (14, then 3).
    token_expiry_reminded_days: Mapped[int | None] = mapped_column(Integer)
    business_verification_status: Mapped[str | None] = mapped_column(String(64))
    connection_checked_at: Mapped[datetime | None]
    connection_warnings: Mapped[list[str]] = mapped_column(default=list)
    login_method: Mapped[LoginMethod] = mapped_column(enum_column(LoginMethod, "login_method"))
    status: Mapped[AppStatus] = mapped_column(
        enum_column(AppStatus, "app_status"), default=AppStatus.VALIDATING
    )
    status_reason: Mapped[str | None] = mapped_column(String(1000))
    restricted_until: Mapped[datetime | None]
    safeguard_threshold_percent: Mapped[int] = mapped_column(Integer, default=20)
    # Minute of the UTC day the daily check runs at (plus jitter); None = on demand only.
    daily_check_minute: Mapped[int | None] = mapped_column(Integer, default=6 * 60)
    last_check_at: Mapped[datetime | None]
    next_check_at: Mapped[datetime | None] = mapped_column(index=True)
    disconnected_at: Mapped[datetime | None]
    # Credential policy for apps people log in to with a username and password.
    require_two_factor: Mapped[bool] = mapped_column(Boolean, default=True)
    # Rotate a saved password every N days (None: no schedule) and/or after each reveal.
    rotation_days: Mapped[int | None] = mapped_column(Integer)
    rotate_after_reveal: Mapped[bool] = mapped_column(Boolean, default=False)
    # Each check cancels the pending invitations first seen more than this many days ago
    # (None: only an admin cancels them).
    auto_cancel_invitations_days: Mapped[int | None] = mapped_column(Integer)


class AppMember(TenantMixin, TimestampMixin, Base):
    """A directory person's Bastion role on one app."""

    __tablename__ = "app_members"
    __table_args__ = (UniqueConstraint("app_id", "user_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    app_id: Mapped[int] = mapped_column(ForeignKey("apps.id", ondelete="CASCADE"))
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    role: Mapped[AppRole] = mapped_column(enum_column(AppRole, "app_role"))
    onboarding_status: Mapped[OnboardingStatus] = mapped_column(
        enum_column(OnboardingStatus, "onboarding_status"),
        default=OnboardingStatus.PENDING_ONBOARDING,
    )
    # The facts the status is settled from (bastion/onboarding.py).
    invited_at: Mapped[datetime | None]
    invite_error: Mapped[str | None] = mapped_column(String(300))
    connected_at: Mapped[datetime | None]


class SeenMixin:
    """Run stamps: what a check saw, so what it did not see can be marked gone.

    ``last_seen_run_id`` is the last check that saw the row on accounts (the Members page shows
    it) and partners. On assets, grants and partners' grants it is the last check that wrote the
    row (added, changed, back): a present one was seen by the app's latest check too, and
    stamping every unchanged row would rewrite every grant of a business on every check.
    """

    present: Mapped[bool] = mapped_column(Boolean, default=True)
    first_seen_run_id: Mapped[int | None] = mapped_column(
        ForeignKey("check_runs.id", ondelete="SET NULL")
    )
    last_seen_run_id: Mapped[int | None] = mapped_column(
        ForeignKey("check_runs.id", ondelete="SET NULL")
    )
    gone_at: Mapped[datetime | None]


class Account(TenantMixin, SeenMixin, TimestampMixin, Base):
    """One identity inside an app: a person, a pending invitation, a system user."""

    __tablename__ = "accounts"
    __table_args__ = (
        UniqueConstraint("app_id", "external_id"),
        Index("ix_accounts_app_state", "app_id", "state"),
        Index("ix_accounts_workspace_email", "workspace_id", "email_key"),
        CheckConstraint(
            "match_confidence IS NULL OR (match_confidence >= 0 AND match_confidence <= 1)",
            name="match_confidence_range",
        ),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    app_id: Mapped[int] = mapped_column(ForeignKey("apps.id", ondelete="CASCADE"))
    kind: Mapped[AccountKind] = mapped_column(enum_column(AccountKind, "account_kind"))
    external_id: Mapped[str] = mapped_column(String(64))
    name: Mapped[str] = mapped_column(String(200), default="")
    email: Mapped[str | None] = mapped_column(String(320))
    email_key: Mapped[str | None] = mapped_column(String(320))
    app_role: Mapped[str | None] = mapped_column(String(64))
    # App-specific extras as imported (two-factor status, invitation expiry …).
    details: Mapped[dict[str, Any]] = mapped_column(default=dict)
    state: Mapped[AccountState] = mapped_column(
        enum_column(AccountState, "account_state"), default=AccountState.UNMATCHED
    )
    matched_user_id: Mapped[int | None] = mapped_column(
        ForeignKey("users.id", ondelete="SET NULL"), index=True
    )
    match_rule: Mapped[str | None] = mapped_column(String(64))
    match_confidence: Mapped[float | None]
    matched_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    matched_at: Mapped[datetime | None]
    exemption_reason: Mapped[str | None] = mapped_column(String(500))
    exempted_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    exempted_at: Mapped[datetime | None]
    exemption_expires_at: Mapped[datetime | None]
    # The person's own profile in the app, linked through its login (bastion/actions/profiles.py):
    # its name as the app shows it, and when and by whom it was linked.
    profile_name: Mapped[str | None] = mapped_column(String(200))
    profile_linked_at: Mapped[datetime | None]
    profile_linked_by_id: Mapped[int | None] = mapped_column(
        ForeignKey("users.id", ondelete="SET NULL")
    )


class Asset(TenantMixin, SeenMixin, TimestampMixin, Base):
    """A Page, ad account, catalog, pixel or Instagram asset the app's business reaches."""

    __tablename__ = "assets"
    __table_args__ = (
        UniqueConstraint("app_id", "external_id"),
        Index("ix_assets_app_type", "app_id", "type"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    app_id: Mapped[int] = mapped_column(ForeignKey("apps.id", ondelete="CASCADE"))
    external_id: Mapped[str] = mapped_column(String(64))
    name: Mapped[str] = mapped_column(String(300), default="")
    type: Mapped[AssetType] = mapped_column(enum_column(AssetType, "asset_type"))
    ownership: Mapped[Ownership] = mapped_column(enum_column(Ownership, "ownership"))
    owner_business_id: Mapped[str | None] = mapped_column(String(64))
    details: Mapped[dict[str, Any]] = mapped_column(default=dict)


class Grant(TenantMixin, SeenMixin, TimestampMixin, Base):
    """The tasks one account holds on one asset (a sorted list of task names).

    Grants are the rows a check writes by the tens of thousands, so they carry no foreign key:
    each key of each inserted row costs a look-up of its own (on PostgreSQL, 50,000 grants took
    0.33 s with their indexes and 0.86 s with the account's and the asset's keys besides). Only
    the check's load inserts grants, in the transaction that wrote or read the app's accounts
    and assets whose ids they take; the workspace and the app are the account's, and the run
    stamps name check runs, which are kept. Nothing deletes a workspace, an app, an account or
    an asset: whatever comes to delete one deletes its grants first (``app_id`` and
    ``asset_id`` are indexed, and the unique pair leads with ``account_id``).
    """

    __tablename__ = "grants"
    __table_args__ = (UniqueConstraint("account_id", "asset_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    workspace_id: Mapped[int] = mapped_column(Integer, nullable=False, index=True)
    app_id: Mapped[int] = mapped_column(index=True)
    account_id: Mapped[int] = mapped_column(Integer)
    asset_id: Mapped[int] = mapped_column(Integer, index=True)
    tasks: Mapped[list[str]] = mapped_column(default=list)
    first_seen_run_id: Mapped[int | None] = mapped_column(Integer)
    last_seen_run_id: Mapped[int | None] = mapped_column(Integer)


class Partner(TenantMixin, SeenMixin, TimestampMixin, Base):
    """An agency (reaches our assets) or client (shares its assets with us) business."""

    __tablename__ = "partners"
    __table_args__ = (UniqueConstraint("app_id", "external_id", "relation"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    app_id: Mapped[int] = mapped_column(ForeignKey("apps.id", ondelete="CASCADE"))
    external_id: Mapped[str] = mapped_column(String(64))
    name: Mapped[str] = mapped_column(String(300), default="")
    relation: Mapped[PartnerRelation] = mapped_column(
        enum_column(PartnerRelation, "partner_relation")
    )
    # A native partner's own system-user token (a vault secret), with which each check reads
    # the partner's people on our assets; the status says whether the last read worked.
    token_secret_id: Mapped[str | None] = mapped_column(
        ForeignKey("secrets.id", ondelete="SET NULL")
    )
    token_set_at: Mapped[datetime | None]
    token_set_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    token_identity: Mapped[str | None] = mapped_column(String(64))
    people_status: Mapped[PartnerPeopleStatus | None] = mapped_column(
        enum_column(PartnerPeopleStatus, "partner_people_status")
    )
    people_status_reason: Mapped[str | None] = mapped_column(String(1000))
    people_checked_at: Mapped[datetime | None]


class PartnerGrant(TenantMixin, SeenMixin, Base):
    """The tasks a partner business holds on one of our assets."""

    __tablename__ = "partner_grants"
    __table_args__ = (UniqueConstraint("partner_id", "asset_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    partner_id: Mapped[int] = mapped_column(ForeignKey("partners.id", ondelete="CASCADE"))
    asset_id: Mapped[int] = mapped_column(ForeignKey("assets.id", ondelete="CASCADE"), index=True)
    tasks: Mapped[list[str]] = mapped_column(default=list)
