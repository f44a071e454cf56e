"""A scenario: everything the simulator needs to stand up one business, as plain records.

Scenarios are produced by the generator, saved and loaded as JSON, and snapshotted from a live
simulator, so the same business can be replayed by the demo, the tests and the benchmarks. Times
are integer Unix seconds; ``clock_start``, when set, is the moment the simulator clock starts from
(a snapshot or a pinned replay); when it is ``None`` the clock runs at real time, so the end of a
simulated restriction is as far ahead for Bastion as it is for the simulator.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path
from typing import Any, TypeVar

from bastion.connectors.meta.simulator.directory import DirectoryUser, write_directory

SCENARIO_FORMAT = "bastion-meta-simulator/1"
_Record = TypeVar("_Record")


@dataclass(slots=True)
class ScenarioSettings:
    """Knobs of the simulated Meta: budgets, windows, policies."""

    rate_window_seconds: int = 3600
    business_call_budget: int = 100_000
    app_call_budget: int = 1_000_000
    user_call_budget: int = 1_000_000
    restricted_window_days: float = 7.0
    invitation_ttl_days: float = 30.0
    two_factor_required_for: list[str] = field(default_factory=list)
    require_appsecret_proof: bool = False
    max_system_users: int = 500
    max_admin_system_users: int = 50
    # None: serve the ``limit`` asked for (see limits.py); a number caps every page at it.
    max_page_size: int | None = None
    # Facebook Login (facebook_login.py): how long a login code and the user token it is
    # exchanged for last. UNCONFIRMED figures: Meta publishes none for codes, and says only that
    # login tokens are short-lived, "expiring in hours"; both short, so nothing relies on them.
    login_code_ttl_seconds: int = 600
    login_token_ttl_seconds: int = 3600


@dataclass(slots=True)
class BusinessRecord:
    id: str
    name: str
    created_time: int
    vertical: str = "OTHER"
    timezone_id: int = 1
    two_factor_type: str = "none"
    verification_status: str = "verified"
    primary_page_id: str | None = None
    restricted_until: int | None = None
    created_by_id: str | None = None


@dataclass(slots=True)
class AppRecord:
    """The business's own Meta app; ``oauth_redirect_uris`` is its Facebook Login setting
    "Valid OAuth Redirect URIs" (empty: the login dialog redirects nowhere)."""

    id: str
    name: str
    secret: str | None
    oauth_redirect_uris: list[str] = field(default_factory=list)


@dataclass(slots=True)
class PersonRecord:
    """A business user: a person with a seat, known by a business-scoped id.

    ``global_id`` is the person's Facebook account as the simulated app knows it: the app-scoped
    user id that ``/me`` answers with a token from Facebook Login.
    """

    id: str
    global_id: str
    name: str
    first_name: str
    last_name: str
    email: str
    role: str
    created_time: int
    title: str | None = None
    two_fac_status: str = "not_enabled"
    finance_permission: str | None = None
    ip_permission: str | None = None
    pending_email: str | None = None


@dataclass(slots=True)
class FacebookUserRecord:
    """A Facebook account with no seat in the business (``id`` is its app-scoped user id): it can
    log in to the app, and ``/me/business_users`` lists nothing for it."""

    id: str
    name: str
    first_name: str
    last_name: str
    email: str


@dataclass(slots=True)
class InvitationRecord:
    """A business role request: stays pending until accepted, declined, cancelled or expired."""

    id: str
    email: str
    role: str
    created_time: int
    expiration_time: int
    status: str = "PENDING"
    invited_user_type: list[str] = field(default_factory=lambda: ["FB"])
    tasks: list[str] = field(default_factory=list)
    created_by_id: str | None = None
    updated_time: int | None = None


@dataclass(slots=True)
class SystemUserRecord:
    id: str
    name: str
    role: str
    created_time: int
    created_by_id: str | None = None


@dataclass(slots=True)
class AssetRecord:
    """A Page, ad account, catalog, pixel or Instagram asset, owned or shared in by a client."""

    id: str
    type: str
    name: str
    ownership: str
    owner_business_id: str
    created_time: int
    attrs: dict[str, Any] = field(default_factory=dict)


@dataclass(slots=True)
class AssignmentRecord:
    asset_id: str
    user_id: str
    tasks: list[str]


@dataclass(slots=True)
class PartnerRecord:
    """Another business: an ``agency`` (reaches our assets) or a ``client`` (we reach theirs)."""

    id: str
    name: str
    relation: str
    created_time: int = 0


@dataclass(slots=True)
class PartnerPersonRecord:
    """A business user of a partner business: a person with a seat *there*, known by an id
    scoped to that business, who may hold tasks on our assets the partner was given."""

    id: str
    partner_id: str
    name: str
    email: str
    role: str = "EMPLOYEE"
    created_time: int = 0


@dataclass(slots=True)
class PartnerSystemUserRecord:
    """A system user of a partner business; a token of it reads what that business may read."""

    id: str
    partner_id: str
    name: str
    role: str = "ADMIN"
    created_time: int = 0


@dataclass(slots=True)
class PartnerAccessRecord:
    asset_id: str
    partner_id: str
    permitted_tasks: list[str]
    access_status: str = "CONFIRMED"


@dataclass(slots=True)
class TokenRecord:
    """An access token the simulator honours."""

    token: str
    user_id: str
    user_type: str
    app_id: str
    business_id: str
    scopes: list[str]
    issued_at: int
    expires_at: int = 0
    valid: bool = True
    # What a person unticked in the login dialog: listed as ``declined`` by ``/me/permissions``.
    declined_scopes: list[str] = field(default_factory=list)


@dataclass
class Scenario:
    """One business, its app, people, assets, partners, tokens and directory, and the Facebook
    accounts without a seat that can log in to the app."""

    preset: str
    seed: int
    clock_start: int | None
    settings: ScenarioSettings
    business: BusinessRecord
    app: AppRecord
    admin_system_user_id: str
    people: list[PersonRecord] = field(default_factory=list)
    invitations: list[InvitationRecord] = field(default_factory=list)
    system_users: list[SystemUserRecord] = field(default_factory=list)
    assets: list[AssetRecord] = field(default_factory=list)
    assignments: list[AssignmentRecord] = field(default_factory=list)
    partners: list[PartnerRecord] = field(default_factory=list)
    partner_access: list[PartnerAccessRecord] = field(default_factory=list)
    tokens: list[TokenRecord] = field(default_factory=list)
    directory: list[DirectoryUser] = field(default_factory=list)
    facebook_users: list[FacebookUserRecord] = field(default_factory=list)
    # Partner businesses' own people and system users, and the people's tasks on our assets
    # (a partner's tokens are in ``tokens`` with the partner's id as ``business_id``).
    partner_people: list[PartnerPersonRecord] = field(default_factory=list)
    partner_system_users: list[PartnerSystemUserRecord] = field(default_factory=list)
    partner_assignments: list[AssignmentRecord] = field(default_factory=list)

    @property
    def token(self) -> str:
        """The admin system user's never-expiring token (the first token of the scenario)."""
        return self.tokens[0].token

    def directory_users(self) -> list[DirectoryUser]:
        return list(self.directory)

    def write_directory(self, folder: str | Path) -> tuple[Path, Path]:
        return write_directory(self.directory, Path(folder))

    def to_json(self) -> dict[str, Any]:
        return {
            "format": SCENARIO_FORMAT,
            "preset": self.preset,
            "seed": self.seed,
            "clock_start": self.clock_start,
            "settings": asdict(self.settings),
            "business": asdict(self.business),
            "app": asdict(self.app),
            "admin_system_user_id": self.admin_system_user_id,
            "people": [asdict(item) for item in self.people],
            "invitations": [asdict(item) for item in self.invitations],
            "system_users": [asdict(item) for item in self.system_users],
            "assets": [asdict(item) for item in self.assets],
            "assignments": [asdict(item) for item in self.assignments],
            "partners": [asdict(item) for item in self.partners],
            "partner_access": [asdict(item) for item in self.partner_access],
            "tokens": [asdict(item) for item in self.tokens],
            "directory": [user.to_json() for user in self.directory],
            "facebook_users": [asdict(item) for item in self.facebook_users],
            "partner_people": [asdict(item) for item in self.partner_people],
            "partner_system_users": [asdict(item) for item in self.partner_system_users],
            "partner_assignments": [asdict(item) for item in self.partner_assignments],
        }

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Scenario:
        if data.get("format") != SCENARIO_FORMAT:
            raise ValueError(f"not a simulator scenario (format must be {SCENARIO_FORMAT!r})")
        return cls(
            preset=str(data.get("preset", "custom")),
            seed=int(data.get("seed", 0)),
            clock_start=None if data.get("clock_start") is None else int(data["clock_start"]),
            settings=_build(ScenarioSettings, data.get("settings", {})),
            business=_build(BusinessRecord, data["business"]),
            app=_build(AppRecord, data["app"]),
            admin_system_user_id=str(data["admin_system_user_id"]),
            people=[_build(PersonRecord, item) for item in data.get("people", [])],
            invitations=[_build(InvitationRecord, item) for item in data.get("invitations", [])],
            system_users=[_build(SystemUserRecord, item) for item in data.get("system_users", [])],
            assets=[_build(AssetRecord, item) for item in data.get("assets", [])],
            assignments=[_build(AssignmentRecord, item) for item in data.get("assignments", [])],
            partners=[_build(PartnerRecord, item) for item in data.get("partners", [])],
            partner_access=[
                _build(PartnerAccessRecord, item) for item in data.get("partner_access", [])
            ],
            tokens=[_build(TokenRecord, item) for item in data.get("tokens", [])],
            directory=[DirectoryUser.from_json(item) for item in data.get("directory", [])],
            facebook_users=[
                _build(FacebookUserRecord, item) for item in data.get("facebook_users", [])
            ],
            partner_people=[
                _build(PartnerPersonRecord, item) for item in data.get("partner_people", [])
            ],
            partner_system_users=[
                _build(PartnerSystemUserRecord, item)
                for item in data.get("partner_system_users", [])
            ],
            partner_assignments=[
                _build(AssignmentRecord, item) for item in data.get("partner_assignments", [])
            ],
        )

    def save(self, path: str | Path) -> Path:
        target = Path(path)
        target.write_text(json.dumps(self.to_json(), ensure_ascii=False) + "\n", encoding="utf-8")
        return target


def _build(cls: type[_Record], data: dict[str, Any]) -> _Record:
    """Build a record from JSON, ignoring unknown keys so older files keep loading."""
    known = {f.name for f in fields(cls)}  # type: ignore[arg-type]
    return cls(**{key: value for key, value in data.items() if key in known})


def load_scenario(path: str | Path) -> Scenario:
    """Read a scenario saved with ``Scenario.save`` (or written by hand in the same format)."""
    return Scenario.from_json(json.loads(Path(path).read_text(encoding="utf-8")))
