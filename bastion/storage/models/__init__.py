"""Every table of Bastion. Importing this module registers them all on ``Base.metadata``."""

from bastion.storage.models.apps import Account, App, AppMember, Asset, Grant, Partner, PartnerGrant
from bastion.storage.models.audit import AuditEvent
from bastion.storage.models.base import Base, table_of, utcnow
from bastion.storage.models.credentials import Credential, ProfileLinkAttempt
from bastion.storage.models.directory import (
    ApiToken,
    Team,
    TeamMember,
    User,
    UserEmail,
    WebSession,
    Workspace,
)
from bastion.storage.models.notifications import Notification
from bastion.storage.models.partner_removals import PartnerRemoval, PartnerRemovalItem
from bastion.storage.models.partners_local import (
    GuestInvitation,
    LocalPartner,
    LocalPartnerMember,
)
from bastion.storage.models.reviews import Review
from bastion.storage.models.runs import Change, CheckRun, Operation, Report, ReportItem
from bastion.storage.models.secrets import Secret
from bastion.storage.models.sign_in import SignInLink, SsoAttempt, SsoConfig
from bastion.storage.models.webhooks import WebhookAttempt, WebhookDelivery, WebhookEndpoint

__all__ = [
    "Account",
    "ApiToken",
    "App",
    "AppMember",
    "Asset",
    "AuditEvent",
    "Base",
    "Change",
    "CheckRun",
    "Credential",
    "Grant",
    "GuestInvitation",
    "LocalPartner",
    "LocalPartnerMember",
    "Notification",
    "Operation",
    "Partner",
    "PartnerGrant",
    "PartnerRemoval",
    "PartnerRemovalItem",
    "ProfileLinkAttempt",
    "Report",
    "ReportItem",
    "Review",
    "Secret",
    "SignInLink",
    "SsoAttempt",
    "SsoConfig",
    "Team",
    "TeamMember",
    "User",
    "UserEmail",
    "WebSession",
    "WebhookAttempt",
    "WebhookDelivery",
    "WebhookEndpoint",
    "Workspace",
    "table_of",
    "utcnow",
]
