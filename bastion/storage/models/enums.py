"""Every enumerated state of the domain (DESIGN §3). Values are what the database stores.

The states a person reads about an account carry their words (``label``), the one place the
pages, the CSV export and the command line take them from.
"""

from __future__ import annotations

from enum import StrEnum


class UserSource(StrEnum):
    SCIM = "scim"
    CSV = "csv"
    LOCAL = "local"
    GUEST = "guest"
    PARTNER = "partner"


class UserStatus(StrEnum):
    ACTIVE = "active"
    SUSPENDED = "suspended"
    DEPROVISIONED = "deprovisioned"


class WorkspaceRole(StrEnum):
    ADMIN = "admin"
    MEMBER = "member"
    GUEST = "guest"


class TokenKind(StrEnum):
    API = "api"
    SCIM = "scim"


class AppKind(StrEnum):
    META_BUSINESS = "meta_business"


class LoginMethod(StrEnum):
    SSO = "sso"
    PASSWORD = "password"  # noqa: S105 - a login method's name, not a password


class AppStatus(StrEnum):
    VALIDATING = "validating"
    HEALTHY = "healthy"
    REQUIRES_CHECK = "requires_check"
    RESTRICTED = "restricted"
    REVIEW_CONFIGURATION = "review_configuration"
    ERROR = "error"


class AppRole(StrEnum):
    OWNER = "owner"
    COLLABORATOR = "collaborator"


class OnboardingStatus(StrEnum):
    PENDING_ONBOARDING = "pending_onboarding"
    INVITE_SENT = "invite_sent"
    INVITE_FAILED = "invite_failed"
    ONBOARDED = "onboarded"
    BASTION_ONLY = "bastion_only"
    SSO = "sso"
    MANAGED_OUTSIDE = "managed_outside"

    @property
    def label(self) -> str:
        return ONBOARDING_LABELS.get(self) or self.value.replace("_", " ").capitalize()


class AccountKind(StrEnum):
    PERSON = "person"
    INVITATION = "invitation"
    SYSTEM_USER = "system_user"
    PARTNER_PERSON = "partner_person"

    @property
    def label(self) -> str:
        return ACCOUNT_KIND_LABELS.get(self) or self.value.replace("_", " ").capitalize()


class AccountState(StrEnum):
    ONBOARDED = "onboarded"
    UNMATCHED = "unmatched"
    GUEST = "guest"
    EXEMPTED = "exempted"
    # Not a person: nobody is matched to it and no tab of people counts it.
    SYSTEM_USER = "system_user"
    # A partner's person nobody of ours vouches for: the partner does. Listed under the
    # partner, never among our own people.
    PARTNER = "partner"

    @property
    def label(self) -> str:
        return ACCOUNT_STATE_LABELS.get(self) or self.value.replace("_", " ").capitalize()


class PartnerPeopleStatus(StrEnum):
    """Whether a partner's token read its people at the last check."""

    OK = "ok"
    REVIEW_CONFIGURATION = "review_configuration"


# A member's onboarding is a status: "sso" says they signed in, not how the app is logged in to.
ONBOARDING_LABELS = {
    OnboardingStatus.PENDING_ONBOARDING: "Pending onboarding",
    OnboardingStatus.INVITE_SENT: "Invite sent",
    OnboardingStatus.INVITE_FAILED: "Invite failed",
    OnboardingStatus.ONBOARDED: "Onboarded",
    OnboardingStatus.BASTION_ONLY: "Bastion only",
    OnboardingStatus.SSO: "Signed in with single sign-on",
    OnboardingStatus.MANAGED_OUTSIDE: "Managed outside Bastion",
}
ACCOUNT_KIND_LABELS = {
    AccountKind.PERSON: "Person",
    AccountKind.INVITATION: "Invitation",
    AccountKind.SYSTEM_USER: "System user",
    AccountKind.PARTNER_PERSON: "Partner person",
}
ACCOUNT_STATE_LABELS = {
    AccountState.ONBOARDED: "Onboarded",
    AccountState.UNMATCHED: "Unmatched",
    AccountState.GUEST: "Guest",
    AccountState.EXEMPTED: "Exempt",
    AccountState.SYSTEM_USER: "System user",
    AccountState.PARTNER: "Partner's person",
}


class AssetType(StrEnum):
    PAGE = "page"
    AD_ACCOUNT = "ad_account"
    CATALOG = "catalog"
    PIXEL = "pixel"
    INSTAGRAM_ASSET = "instagram_asset"


class Ownership(StrEnum):
    OWNED = "owned"
    CLIENT = "client"


class PartnerRelation(StrEnum):
    AGENCY = "agency"
    CLIENT = "client"


class RunTrigger(StrEnum):
    MANUAL = "manual"
    SCHEDULED = "scheduled"
    DIRECTORY = "directory"
    CONNECT = "connect"


class RunState(StrEnum):
    RUNNING = "running"
    SUCCEEDED = "succeeded"
    FAILED = "failed"
    STOPPED_BY_SAFEGUARD = "stopped_by_safeguard"


class ChangeKind(StrEnum):
    ACCOUNT_ADDED = "account_added"
    ACCOUNT_REMOVED = "account_removed"
    ROLE_CHANGED = "role_changed"
    GRANT_ADDED = "grant_added"
    GRANT_REMOVED = "grant_removed"
    GRANT_CHANGED = "grant_changed"
    ASSET_ADDED = "asset_added"
    ASSET_REMOVED = "asset_removed"
    PARTNER_ADDED = "partner_added"
    PARTNER_REMOVED = "partner_removed"


class ReportState(StrEnum):
    OPEN = "open"
    CLOSED = "closed"


class ReportItemState(StrEnum):
    PENDING = "pending"
    APPLYING = "applying"
    APPLIED = "applied"
    FAILED = "failed"
    DISMISSED = "dismissed"


class OperationKind(StrEnum):
    INVITE = "invite"
    CANCEL_INVITATION = "cancel_invitation"
    REMOVE = "remove"
    SET_ROLE = "set_role"
    GRANT_TASKS = "grant_tasks"
    REVOKE_TASKS = "revoke_tasks"
    REMOVE_PARTNER = "remove_partner"
    REMOVE_PARTNER_ACCESS = "remove_partner_access"


class PartnerRemovalItemKind(StrEnum):
    PARTNER = "partner"
    PARTNER_ACCESS = "partner_access"
    PERSON = "person"
    INVITATION = "invitation"


class OperationState(StrEnum):
    QUEUED = "queued"
    RUNNING = "running"
    SUCCEEDED = "succeeded"
    FAILED = "failed"
    DEFERRED = "deferred"
    MANUAL = "manual"


class NotificationState(StrEnum):
    PENDING = "pending"
    SENT = "sent"
    FAILED = "failed"
    # No SMTP server is configured: kept, readable on the E-mail page, sent only if retried.
    NOT_SENT = "not_sent"


class WebhookDeliveryState(StrEnum):
    PENDING = "pending"
    # Claimed by a worker, whose lease says until when; an expired lease is claimed again.
    DELIVERING = "delivering"
    DELIVERED = "delivered"
    FAILED = "failed"


class ReviewKind(StrEnum):
    FULL_CONTROL = "full_control"
    SYSTEM_USER = "system_user"
    PARTNER = "partner"
    PARTNER_ASSET = "partner_asset"


class ReviewState(StrEnum):
    OPEN = "open"
    KEPT = "kept"
    REVERTED = "reverted"
