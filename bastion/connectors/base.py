"""What every connector hands to the rest of Bastion: snapshots, operations and errors.

Nothing here knows a Graph URL, an edge name or a Meta error code (DESIGN §2): checks, the
operations engine and the UI work with these records and errors whatever the app is.

    ConnectorError                 (a BastionError; ``disposition`` says what the caller should do)
    ├── TokenInvalid               the token is expired, revoked or malformed       → fail
    ├── PermissionMissing          the token lacks a permission (names it)          → fail
    ├── RateLimited                the app hit a rate limit (retry_after_seconds)   → retry later
    ├── Restricted                 the app blocks management for a while (until)    → retry later
    ├── NotFound                   the person, invitation or asset no longer exists → fail
    ├── LastAdmin                  the change would leave the business without admin → fail
    ├── ManualOnly                 only a person in the app's own UI can do it      → manual
    │   │                          (``manual_step`` says what to do there)
    │   └── TwoFactorRequired      the business requires two-factor for the change  → manual
    ├── BadRequest                 the app refused the request (keeps its message)  → fail
    ├── LoginRefused               the app's login gave no usable answer (``problem``) → fail
    └── Transient                  a server error or timeout; retried already       → retry later
        └── TooMuchData            the app refused a read as too large: ask for less → retry later
"""

from __future__ import annotations

import copy
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Literal, Protocol

from bastion.errors import BastionError

AccountKind = Literal["person", "invitation", "system_user", "partner_person"]
AssetType = Literal["page", "ad_account", "catalog", "pixel", "instagram_asset"]
Ownership = Literal["owned", "client"]
PartnerRelation = Literal["agency", "client"]
OperationKind = Literal[
    "invite",
    "cancel_invitation",
    "remove",
    "set_role",
    "grant_tasks",
    "revoke_tasks",
    "remove_partner",
    "remove_partner_access",
]
Disposition = Literal["fail", "retry_later", "manual"]


# --- Snapshot records -------------------------------------------------------------------------


@dataclass(frozen=True)
class BusinessInfo:
    """The business (tenant) inside the app that the connection manages."""

    external_id: str
    name: str
    two_factor_policy: str | None = None
    verification_status: str | None = None


# The records a check holds by the tens of thousands have slots: no dictionary each, half the
# memory, and half the objects for the garbage collector to look at.
@dataclass(frozen=True, slots=True)
class AccountRecord:
    """One identity inside the app: a person, a pending invitation, a system user or a partner's
    person. Fields that do not apply to a kind stay ``None``."""

    kind: AccountKind
    external_id: str
    name: str | None
    email: str | None
    role: str | None
    first_name: str | None = None
    last_name: str | None = None
    two_factor_status: str | None = None
    finance_permission: str | None = None
    ads_rights_permission: str | None = None
    invitation_status: str | None = None
    invitation_expires_at: datetime | None = None
    partner_external_id: str | None = None
    # A system user's creation: when, and the person who created it as the app names them.
    created_at: datetime | None = None
    created_by_name: str | None = None
    created_by_email: str | None = None


@dataclass(frozen=True, slots=True)
class AssetRecord:
    """A Page, ad account, catalog, pixel or Instagram asset the business owns or reaches as a
    client."""

    external_id: str
    name: str | None
    type: AssetType
    ownership: Ownership
    owner_business_id: str | None


@dataclass(frozen=True, slots=True)
class GrantRecord:
    """The tasks one account holds on one asset; ``tasks`` is sorted so equal grants compare
    equal whatever order the app returned them in."""

    account_external_id: str
    asset_external_id: str
    tasks: tuple[str, ...]


@dataclass(frozen=True)
class PartnerAssetTasks:
    """The tasks a partner business holds on one asset."""

    asset_external_id: str
    tasks: tuple[str, ...]


@dataclass(frozen=True)
class PartnerRecord:
    """An agency (reaches our assets) or a client (whose assets we reach)."""

    external_id: str
    name: str | None
    relation: PartnerRelation
    asset_tasks: tuple[PartnerAssetTasks, ...] = ()


@dataclass(frozen=True)
class Snapshot:
    """Everything one complete import saw. It is only ever built from a fetch where every read
    succeeded, so what is absent from it is really gone from the app."""

    business: BusinessInfo
    accounts: tuple[AccountRecord, ...]
    assets: tuple[AssetRecord, ...]
    grants: tuple[GrantRecord, ...]
    partners: tuple[PartnerRecord, ...]
    graph_operations: int = 0
    http_requests: int = 0


@dataclass(frozen=True)
class AssetsRead:
    """What a fetch holds final while the people still page: every asset and every grant of
    the app, the very tuples its Snapshot will carry."""

    assets: tuple[AssetRecord, ...]
    grants: tuple[GrantRecord, ...]


# The caller's work while a fetch waits for the app's answers: called once the assets and
# grants are final (``AssetsRead``); its steps are taken one at a time in the round trips, and
# what is left of them when the read ends is the caller's to finish.
IdleWork = Callable[[AssetsRead], Iterator[None]]


@dataclass(frozen=True)
class PartnerPeople:
    """A partner's people holding tasks on our assets, read with the partner's own token:
    accounts of kind ``partner_person`` and their grants."""

    partner_external_id: str
    accounts: tuple[AccountRecord, ...]
    grants: tuple[GrantRecord, ...]


@dataclass(frozen=True)
class PartnerTokenCheck:
    """Whether a partner's token is one Bastion can read the partner's people with; ``problem``
    is a sentence a person can act on when it is not."""

    problem: str | None
    identity: str | None = None
    identity_name: str | None = None

    @property
    def ok(self) -> bool:
        return self.problem is None


# --- Connection validation ----------------------------------------------------------------------


@dataclass(frozen=True)
class PermissionCheck:
    name: str
    # None: the app could not say (Meta tells a token's permissions only to the app itself).
    granted: bool | None


@dataclass(frozen=True)
class ConnectionCheck:
    """What the connect-app form shows. ``problems`` refuse the connection, each a line a
    person can act on; ``warnings`` are shown but do not block it; ``not_verified`` says
    plainly what could not be checked at all."""

    token_valid: bool
    token_problem: str | None
    token_type: str | None
    # None: unknown (the token's own type could not be read, and no list named its user).
    is_system_user: bool | None
    # Read only when ``token_details_verified``; then None means "never expires".
    expires_at: datetime | None
    permissions: tuple[PermissionCheck, ...]
    business_name: str | None
    business_problem: str | None
    can_manage_people: bool
    token_details_verified: bool = False
    # The app's id of the identity the token acts as (Meta: its system user), when read.
    token_identity: str | None = None
    business_verification_status: str | None = None
    warnings: tuple[str, ...] = ()
    not_verified: tuple[str, ...] = ()

    @property
    def missing_permissions(self) -> tuple[str, ...]:
        return tuple(p.name for p in self.permissions if p.granted is False)

    @property
    def problems(self) -> tuple[str, ...]:
        if not self.token_valid:
            # Nothing else could be read, so one sentence says everything.
            return (self.token_problem or "The app did not accept the access token.",)
        found: list[str] = []
        if self.token_problem:
            found.append(self.token_problem)
        if self.is_system_user is False:
            found.append(
                f"The token belongs to a {self.token_type} user, not a system user; create a "
                "token for a system user in Business settings > Users > System users."
                if self.token_type
                else "The token does not belong to one of the business's system users; create "
                "a token for a system user in Business settings > Users > System users."
            )
        for name in self.missing_permissions:
            found.append(f"The token lacks the permission {name}; generate it again with it.")
        if self.business_problem:
            found.append(self.business_problem)
        elif not self.can_manage_people and self.is_system_user is not False:
            found.append(
                "The system user is not an admin of the business, so it cannot manage people; "
                "give it Full control."
            )
        return tuple(found)

    @property
    def ok(self) -> bool:
        return not self.problems


# --- A person's own login ----------------------------------------------------------------------


@dataclass(frozen=True)
class ProfileIdentity:
    """Who logged in through the app's login, as the connected business knows them.

    ``account_external_id`` is their seat in the business, the id its accounts carry; None when
    the profile has no seat there. ``profile_id`` is the login's own id for the person, which
    the app may give per login app: never compare it with an account's id.
    """

    profile_id: str
    name: str | None
    account_external_id: str | None


class ProfileLogin(Protocol):
    """The app's own login (a browser redirect and back), for a person proving which account
    inside the app is theirs. What the login hands over is used for ``identify`` and dropped."""

    def login_url(self, *, redirect_uri: str, state: str) -> str: ...

    async def identify(self, *, code: str, redirect_uri: str) -> ProfileIdentity: ...


# --- Operations ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class OperationRequest:
    """One outbound change. Build it with the class methods so each kind carries what it needs."""

    kind: OperationKind
    account_external_id: str | None = None
    email: str | None = None
    role: str | None = None
    asset_external_id: str | None = None
    # Some apps cannot do a change on every asset type (Meta: a pixel's last task), so the
    # connector is told the type when the caller knows it; None means unknown.
    asset_type: AssetType | None = None
    tasks: tuple[str, ...] = ()
    asset_tasks: tuple[tuple[str, tuple[str, ...]], ...] = ()
    partner_external_id: str | None = None
    partner_relation: PartnerRelation | None = None

    @classmethod
    def invite(
        cls,
        *,
        email: str,
        role: str,
        asset_tasks: dict[str, tuple[str, ...]] | None = None,
    ) -> OperationRequest:
        pairs = tuple(sorted((a, tuple(sorted(t))) for a, t in (asset_tasks or {}).items()))
        return cls(kind="invite", email=email, role=role, asset_tasks=pairs)

    @classmethod
    def cancel_invitation(cls, *, invitation_id: str) -> OperationRequest:
        return cls(kind="cancel_invitation", account_external_id=invitation_id)

    @classmethod
    def remove(cls, *, account_id: str) -> OperationRequest:
        return cls(kind="remove", account_external_id=account_id)

    @classmethod
    def set_role(cls, *, account_id: str, role: str) -> OperationRequest:
        return cls(kind="set_role", account_external_id=account_id, role=role)

    @classmethod
    def grant_tasks(
        cls,
        *,
        account_id: str,
        asset_id: str,
        tasks: tuple[str, ...] | list[str],
        asset_type: AssetType | None = None,
    ) -> OperationRequest:
        return cls(
            kind="grant_tasks",
            account_external_id=account_id,
            asset_external_id=asset_id,
            asset_type=asset_type,
            tasks=tuple(sorted(tasks)),
        )

    @classmethod
    def revoke_tasks(
        cls,
        *,
        account_id: str,
        asset_id: str,
        tasks: tuple[str, ...] | list[str] = (),
        asset_type: AssetType | None = None,
    ) -> OperationRequest:
        """Revoke ``tasks`` on the asset; no tasks means all of them."""
        return cls(
            kind="revoke_tasks",
            account_external_id=account_id,
            asset_external_id=asset_id,
            asset_type=asset_type,
            tasks=tuple(sorted(tasks)),
        )

    @classmethod
    def remove_partner(cls, *, partner_id: str, relation: PartnerRelation) -> OperationRequest:
        """End the partnership with an agency or a client business."""
        return cls(kind="remove_partner", partner_external_id=partner_id, partner_relation=relation)

    @classmethod
    def remove_partner_access(
        cls, *, partner_id: str, asset_id: str, asset_type: AssetType | None = None
    ) -> OperationRequest:
        """Take one of our assets away from an agency (the partnership itself stays)."""
        return cls(
            kind="remove_partner_access",
            partner_external_id=partner_id,
            partner_relation="agency",
            asset_external_id=asset_id,
            asset_type=asset_type,
        )


Outcome = Literal["applied", "already_done"]


@dataclass(frozen=True)
class OperationResult:
    """What happened. ``already_done`` means the app was already in the wanted state (for
    example on a retry after a timeout whose call had gone through), so nothing was sent.
    ``pending_asset_tasks`` are asset tasks of an invitation that can only be granted once the
    person has accepted it."""

    kind: OperationKind
    outcome: Outcome
    external_id: str | None = None
    detail: str = ""
    tasks: tuple[str, ...] = ()
    pending_asset_tasks: tuple[tuple[str, tuple[str, ...]], ...] = field(default=())


# --- Errors ---------------------------------------------------------------------------------------


class ConnectorError(BastionError):
    """Base of every failure a connector reports. The message is for a person and never holds
    a secret; ``disposition`` tells the operations engine whether to fail, defer or hand the
    step to a person."""

    code = "connector"
    disposition: Disposition = "fail"

    def during(self, step: str) -> ConnectorError:
        """The same error, its message saying which step failed (for a whole import)."""
        clone = copy.copy(self)
        clone.message = f"{step}: {self.message}"
        clone.args = (clone.message,)
        return clone

    def __reduce__(self) -> tuple[Any, ...]:
        # Subclasses take keyword-only arguments, which the default reduce cannot replay; this
        # keeps errors copyable and picklable (job queues store them).
        return (_restore_error, (type(self), dict(self.__dict__)))


def _restore_error(cls: type[ConnectorError], state: dict[str, Any]) -> ConnectorError:
    error = cls.__new__(cls)
    error.__dict__.update(state)
    error.args = (state.get("message", ""),)
    return error


class TokenInvalid(ConnectorError):
    code = "token_invalid"


class PermissionMissing(ConnectorError):
    code = "permission_missing"

    def __init__(self, message: str, *, permission: str | None = None) -> None:
        super().__init__(message)
        self.permission = permission


class RateLimited(ConnectorError):
    code = "rate_limited"
    disposition: Disposition = "retry_later"

    def __init__(self, message: str, *, retry_after_seconds: float, estimated: bool = True) -> None:
        super().__init__(message)
        self.retry_after_seconds = retry_after_seconds
        # False when the app gave no wait time and ``retry_after_seconds`` is our own guess.
        self.estimated = estimated


class Restricted(ConnectorError):
    code = "restricted"
    disposition: Disposition = "retry_later"

    def __init__(self, message: str, *, until: datetime | None = None) -> None:
        super().__init__(message)
        self.until = until


class NotFound(ConnectorError):
    code = "not_found"


class LastAdmin(ConnectorError):
    code = "last_admin"


class ManualOnly(ConnectorError):
    """The app's API cannot make this change; ``manual_step`` tells a person how to make it in
    the app's own UI, and the next check confirms it."""

    code = "manual_only"
    disposition: Disposition = "manual"

    def __init__(self, message: str, *, manual_step: str) -> None:
        super().__init__(message)
        self.manual_step = manual_step


class TwoFactorRequired(ManualOnly):
    code = "two_factor_required"


class BadRequest(ConnectorError):
    code = "bad_request"


LoginProblem = Literal[
    "code_used",
    "code_expired",
    "code_rejected",
    "redirect_mismatch",
    "app_secret_rejected",
    "app_rejected",
    "token_rejected",
    "permission_declined",
    "bad_answer",
]


class LoginRefused(ConnectorError):
    """The app did not turn a login's answer into an identity; ``problem`` names why."""

    code = "login_refused"

    def __init__(self, message: str, *, problem: LoginProblem) -> None:
        super().__init__(message)
        self.problem: LoginProblem = problem


class Transient(ConnectorError):
    code = "transient"
    disposition: Disposition = "retry_later"


class TooMuchData(Transient):
    """Asking the same again is refused again; a smaller read may pass (not retried as is)."""

    code = "too_much_data"
