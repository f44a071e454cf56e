"""The live business: records indexed by id, and the rules Meta enforces when they change.

Every method validates completely before it mutates, and raises ``GraphError`` on refusal, so a
refused change leaves no trace. Assignments are indexed both ways (asset -> user -> tasks and
user -> asset -> tasks) so the per-person ``assigned_*`` edges and the per-asset
``assigned_users`` edge are dictionary lookups even in the ``large`` scenario.

Rules (choices where Meta is unconfirmed are marked):
- An invite creates a pending invitation, not a person; the invite returns the invitation id
  (unconfirmed). Inviting an e-mail that already has a pending invitation updates and returns that
  invitation instead of creating a second one (unconfirmed); inviting the e-mail of a person who
  already has a seat is refused with code 100.
- Invitation status is ``PENDING`` until accepted/declined/cancelled; past ``expiration_time`` it
  reads ``EXPIRED`` (spelling unconfirmed) and stays listed in ``pending_users`` until cancelled,
  like Business Manager's "invitation expired" rows. An expired invitation cannot be accepted.
- The last person with role ADMIN cannot be removed or demoted (3914). System users do not count
  as admins for this rule (unconfirmed: Meta wants a human admin).
- Removing a person removes all of their asset tasks.
- Every person has a Facebook account; the scenario adds accounts with no seat. Removing a person
  leaves their account without a seat (same app-scoped id); a seat given to the e-mail of an
  account without one (an accepted invitation, a person added by hand) takes that account.
  UNCONFIRMED: Meta matches an invitation to the account that accepts it, not to an e-mail; the
  simulated invitee is taken to accept with the account registered under the invited e-mail.
"""

from __future__ import annotations

import copy
import re
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from bastion.connectors.meta.simulator import errors
from bastion.connectors.meta.simulator.enums import ROLES, expand_tasks
from bastion.connectors.meta.simulator.scenario import (
    AssetRecord,
    BusinessRecord,
    FacebookUserRecord,
    InvitationRecord,
    PartnerAccessRecord,
    PartnerPersonRecord,
    PartnerRecord,
    PartnerSystemUserRecord,
    PersonRecord,
    Scenario,
    SystemUserRecord,
    TokenRecord,
)

if TYPE_CHECKING:
    from bastion.connectors.meta.simulator.facebook_login import LoginCode

EMAIL_PATTERN = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")
ASSET_LIST_KEYS = ("page", "ad_account", "catalog", "pixel", "instagram")
DUMP_ASSET_KEYS = {
    "page": "pages",
    "ad_account": "ad_accounts",
    "catalog": "product_catalogs",
    "pixel": "pixels",
    "instagram": "instagram_assets",
}

Tasks = tuple[str, ...]


@dataclass(frozen=True, slots=True)
class FacebookProfile:
    """A Facebook account as the simulated app sees it, and the seat it holds, if any."""

    id: str  # app-scoped user id
    name: str
    first_name: str
    last_name: str
    email: str
    person: PersonRecord | None


class BusinessState:
    """One business on Meta, as the simulator holds it in memory."""

    def __init__(self, scenario: Scenario) -> None:
        scenario = copy.deepcopy(scenario)
        self.scenario_meta = (scenario.preset, scenario.seed, scenario.clock_start)
        self.directory = scenario.directory
        self.settings = scenario.settings
        self.business: BusinessRecord = scenario.business
        self.app = scenario.app
        self.admin_system_user_id = scenario.admin_system_user_id
        self.people: dict[str, PersonRecord] = {p.id: p for p in scenario.people}
        self.people_by_global: dict[str, str] = {p.global_id: p.id for p in scenario.people}
        self.invitations: dict[str, InvitationRecord] = {i.id: i for i in scenario.invitations}
        self.system_users: dict[str, SystemUserRecord] = {s.id: s for s in scenario.system_users}
        self.assets: dict[str, AssetRecord] = {a.id: a for a in scenario.assets}
        self.partners: dict[str, PartnerRecord] = {p.id: p for p in scenario.partners}
        self.tokens: dict[str, TokenRecord] = {t.token: t for t in scenario.tokens}
        self.facebook_users: dict[str, FacebookUserRecord] = {
            u.id: u for u in scenario.facebook_users if u.id not in self.people_by_global
        }
        self.login_codes: dict[str, LoginCode] = {}
        self.asset_users: dict[str, dict[str, Tasks]] = {}
        self.user_assets: dict[str, dict[str, Tasks]] = {}
        for item in scenario.assignments:
            if item.asset_id in self.assets and self.is_business_scoped(item.user_id):
                asset_type = self.assets[item.asset_id].type
                self._store_tasks(
                    item.asset_id, item.user_id, expand_tasks(asset_type, set(item.tasks))
                )
        self.partner_access: dict[str, dict[str, PartnerAccessRecord]] = {}
        for access in scenario.partner_access:
            if access.asset_id in self.assets and access.partner_id in self.partners:
                self.partner_access.setdefault(access.asset_id, {})[access.partner_id] = access
        # Partner businesses' own people and system users, and the people's tasks on our
        # assets, kept apart from ours: our token never lists them (partner_graph.py).
        self.partner_people: dict[str, PartnerPersonRecord] = {
            p.id: p for p in scenario.partner_people if p.partner_id in self.partners
        }
        self.partner_system_users: dict[str, PartnerSystemUserRecord] = {
            s.id: s for s in scenario.partner_system_users if s.partner_id in self.partners
        }
        self.partner_asset_users: dict[str, dict[str, Tasks]] = {}
        for item in scenario.partner_assignments:
            if item.asset_id in self.assets and item.user_id in self.partner_people:
                asset_type = self.assets[item.asset_id].type
                self.partner_asset_users.setdefault(item.asset_id, {})[item.user_id] = expand_tasks(
                    asset_type, set(item.tasks)
                )
        self._next_id = 10**14 + (scenario.seed % 10**6) * 10**7

    # ----------------------------------------------------------------- lookups

    def new_id(self) -> str:
        """A fresh numeric id that no object holds yet (deterministic for a given history)."""
        while True:
            self._next_id += 7919
            candidate = str(self._next_id)
            is_account = candidate in self.people_by_global or candidate in self.facebook_users
            is_object = self.kind_of(candidate) is not None or f"act_{candidate}" in self.assets
            if not is_account and not is_object:
                return candidate

    def kind_of(self, object_id: str) -> str | None:
        if object_id == self.business.id:
            return "business"
        if object_id in self.people:
            return "person"
        if object_id in self.system_users:
            return "system_user"
        if object_id in self.assets:
            return "asset"
        if object_id in self.invitations:
            return "invitation"
        if object_id in self.partners:
            return "partner"
        return None

    def is_business_scoped(self, user_id: str) -> bool:
        return user_id in self.people or user_id in self.system_users

    def user_name(self, user_id: str) -> str:
        person = self.people.get(user_id)
        if person is not None:
            return person.name
        return self.system_users[user_id].name

    def assets_of(self, asset_type: str, ownership: str) -> list[AssetRecord]:
        return [
            a for a in self.assets.values() if a.type == asset_type and a.ownership == ownership
        ]

    def invitation_status(self, invitation: InvitationRecord, now: float) -> str:
        if invitation.status == "PENDING" and invitation.expiration_time <= now:
            return "EXPIRED"
        return invitation.status

    def listed_invitations(self, now: float, email: str | None = None) -> list[InvitationRecord]:
        wanted = email.lower() if email else None
        return [
            inv
            for inv in self.invitations.values()
            if inv.status == "PENDING" and (wanted is None or inv.email.lower() == wanted)
        ]

    def admin_count(self) -> int:
        return sum(1 for p in self.people.values() if p.role == "ADMIN")

    # ----------------------------------------------------------------- Facebook accounts

    def profile(self, user_id: str) -> FacebookProfile | None:
        """The Facebook account with app-scoped id ``user_id``, with its seat if it has one."""
        person_id = self.people_by_global.get(user_id)
        if person_id is not None:
            return _person_profile(self.people[person_id])
        user = self.facebook_users.get(user_id)
        if user is None:
            return None
        return FacebookProfile(
            user.id, user.name, user.first_name, user.last_name, user.email, person=None
        )

    def holder_id(self, token: TokenRecord) -> str:
        """The business-scoped id behind a token: a system user's id, or the seat of the person
        whose app-scoped id a user token holds (that id itself when they have no seat)."""
        if token.user_type == "USER":
            return self.people_by_global.get(token.user_id, token.user_id)
        return token.user_id

    def profiles(self) -> list[FacebookProfile]:
        """Everyone who can log in with Facebook: people with a seat, then accounts without."""
        seated = [_person_profile(person) for person in self.people.values()]
        others = [self.profile(user_id) for user_id in self.facebook_users]
        return seated + [profile for profile in others if profile is not None]

    def profile_by_email(self, email: str) -> FacebookProfile | None:
        wanted = email.strip().lower()
        return next((p for p in self.profiles() if p.email.lower() == wanted), None)

    def add_facebook_user(self, *, name: str, email: str) -> FacebookUserRecord:
        validate_email(email)
        if self.profile_by_email(email) is not None:
            raise errors.bad_parameter(f"A Facebook account already uses {email}")
        first, _, last = name.partition(" ")
        user = FacebookUserRecord(self.new_id(), name, first, last, email)
        self.facebook_users[user.id] = user
        return user

    def _claim_account(self, email: str) -> FacebookUserRecord | None:
        """The seatless account registered under ``email``, taken out of the seatless list."""
        wanted = email.lower()
        for user in self.facebook_users.values():
            if user.email.lower() == wanted:
                return self.facebook_users.pop(user.id)
        return None

    # ----------------------------------------------------------------- people and invitations

    def invite(
        self,
        *,
        email: str,
        role: str,
        invited_user_type: list[str],
        tasks: list[str],
        now: float,
        created_by_id: str | None,
    ) -> InvitationRecord:
        validate_email(email)
        validate_role(role)
        lowered = email.lower()
        if any(p.email.lower() == lowered for p in self.people.values()):
            raise errors.bad_parameter(f"{email} is already a member of this business")
        for existing in self.listed_invitations(now, email):
            existing.role = role
            existing.tasks = tasks
            existing.invited_user_type = invited_user_type
            existing.updated_time = int(now)
            existing.expiration_time = int(now + self.settings.invitation_ttl_days * 86_400)
            return existing
        invitation = InvitationRecord(
            id=self.new_id(),
            email=email,
            role=role,
            created_time=int(now),
            expiration_time=int(now + self.settings.invitation_ttl_days * 86_400),
            invited_user_type=invited_user_type,
            tasks=tasks,
            created_by_id=created_by_id,
        )
        self.invitations[invitation.id] = invitation
        return invitation

    def pending_invitation(self, invitation_id: str, now: float) -> InvitationRecord:
        invitation = self.invitations.get(invitation_id)
        if invitation is None:
            raise errors.unknown_object(invitation_id, "post")
        status = self.invitation_status(invitation, now)
        if status != "PENDING":
            raise errors.bad_parameter(f"This invitation is {status.lower()} and can't be used")
        return invitation

    def accept_invitation(self, invitation_id: str, now: float, name: str | None) -> PersonRecord:
        invitation = self.pending_invitation(invitation_id, now)
        account = self._claim_account(invitation.email)
        local = invitation.email.split("@")[0]
        words = [w.capitalize() for w in re.split(r"[._\-0-9]+", local) if w] or ["New", "Person"]
        full_name = name or (account.name if account else " ".join(words))
        first, _, last = full_name.partition(" ")
        person = PersonRecord(
            id=self.new_id(),
            global_id=account.id if account else self.new_id(),
            name=full_name,
            first_name=first,
            last_name=last,
            email=invitation.email,
            role=invitation.role,
            created_time=int(now),
        )
        invitation.status = "ACCEPTED"
        invitation.updated_time = int(now)
        self.people[person.id] = person
        self.people_by_global[person.global_id] = person.id
        return person

    def close_invitation(self, invitation_id: str, status: str, now: float) -> None:
        """Decline (by the invitee) or cancel (by the business) a pending or expired invitation."""
        invitation = self.invitations.get(invitation_id)
        if invitation is None or invitation.status != "PENDING":
            raise errors.unknown_object(invitation_id, "delete")
        invitation.status = status
        invitation.updated_time = int(now)

    def add_person(self, *, name: str, email: str, role: str, now: float) -> PersonRecord:
        validate_email(email)
        validate_role(role)
        account = self._claim_account(email)
        first, _, last = name.partition(" ")
        person = PersonRecord(
            id=self.new_id(),
            global_id=account.id if account else self.new_id(),
            name=name,
            first_name=first,
            last_name=last,
            email=email,
            role=role,
            created_time=int(now),
        )
        self.people[person.id] = person
        self.people_by_global[person.global_id] = person.id
        return person

    def update_person(self, person_id: str, changes: dict[str, Any]) -> None:
        person = self.people[person_id]
        role = changes.get("role")
        if role is not None:
            validate_role(role)
            if person.role == "ADMIN" and role != "ADMIN" and self.admin_count() <= 1:
                raise errors.last_admin()
        if changes.get("email") is not None:
            validate_email(changes["email"])
        for key, value in changes.items():
            if value is not None:
                setattr(person, key, value)
        if changes.get("first_name") is not None or changes.get("last_name") is not None:
            person.name = f"{person.first_name} {person.last_name}".strip()

    def remove_person(self, person_id: str) -> None:
        person = self.people[person_id]
        if person.role == "ADMIN" and self.admin_count() <= 1:
            raise errors.last_admin()
        for asset_id in list(self.user_assets.get(person_id, {})):
            self._drop_tasks(asset_id, person_id)
        del self.people[person_id]
        self.people_by_global.pop(person.global_id, None)
        # The person keeps their Facebook account: it can still log in, with no seat.
        self.facebook_users[person.global_id] = FacebookUserRecord(
            person.global_id, person.name, person.first_name, person.last_name, person.email
        )

    def create_system_user(self, *, name: str, role: str, now: float) -> SystemUserRecord:
        if not name.strip():
            raise errors.bad_parameter("The parameter name is required")
        validate_role(role)
        if len(self.system_users) >= self.settings.max_system_users:
            raise errors.GraphError(
                "(#3949) This business has reached the maximum number of system users", 3949
            )
        admins = sum(1 for s in self.system_users.values() if s.role == "ADMIN")
        if role == "ADMIN" and admins >= self.settings.max_admin_system_users:
            raise errors.GraphError(
                "(#3965) This business has reached the maximum number of admin system users", 3965
            )
        system_user = SystemUserRecord(self.new_id(), name, role, int(now))
        self.system_users[system_user.id] = system_user
        window = int(self.settings.restricted_window_days * 86_400)
        self.business.restricted_until = max(self.business.restricted_until or 0, int(now) + window)
        return system_user

    # ----------------------------------------------------------------- assets and tasks

    def set_tasks(self, asset_id: str, user_id: str, tasks: Tasks) -> None:
        """Replace ``user_id``'s task set on the asset (idempotent)."""
        self._drop_tasks(asset_id, user_id)
        self._store_tasks(asset_id, user_id, tasks)

    def revoke_tasks(self, asset_id: str, user_id: str) -> None:
        self._drop_tasks(asset_id, user_id)

    def _store_tasks(self, asset_id: str, user_id: str, tasks: Tasks) -> None:
        self.asset_users.setdefault(asset_id, {})[user_id] = tasks
        self.user_assets.setdefault(user_id, {})[asset_id] = tasks

    def _drop_tasks(self, asset_id: str, user_id: str) -> None:
        holders = self.asset_users.get(asset_id)
        if holders is not None:
            holders.pop(user_id, None)
            if not holders:
                del self.asset_users[asset_id]
        held = self.user_assets.get(user_id)
        if held is not None:
            held.pop(asset_id, None)
            if not held:
                del self.user_assets[user_id]

    def add_asset(
        self, *, asset_type: str, name: str, ownership: str, owner_business_id: str, now: float
    ) -> AssetRecord:
        if asset_type not in ASSET_LIST_KEYS:
            raise errors.enum_error("type", ASSET_LIST_KEYS)
        if ownership not in ("owned", "client"):
            raise errors.enum_error("ownership", ("owned", "client"))
        new_id = self.new_id()
        attrs: dict[str, Any] = {}
        if asset_type == "ad_account":
            attrs = {"account_id": new_id, "account_status": 1, "disable_reason": 0}
            attrs |= {"currency": "USD", "timezone_name": "America/Los_Angeles"}
            new_id = f"act_{new_id}"
        asset = AssetRecord(new_id, asset_type, name, ownership, owner_business_id, int(now), attrs)
        self.assets[asset.id] = asset
        return asset

    def remove_asset(self, asset_id: str) -> None:
        for user_id in list(self.asset_users.get(asset_id, {})):
            self._drop_tasks(asset_id, user_id)
        self.partner_asset_users.pop(asset_id, None)
        self.partner_access.pop(asset_id, None)
        del self.assets[asset_id]

    # ----------------------------------------------------------------- partners

    def add_partner(self, *, name: str, relation: str, now: float) -> PartnerRecord:
        if relation not in ("agency", "client"):
            raise errors.enum_error("relation", ("agency", "client"))
        partner = PartnerRecord(self.new_id(), name, relation, int(now))
        self.partners[partner.id] = partner
        return partner

    def remove_partner(self, partner_id: str) -> None:
        for access in self.partner_access.values():
            access.pop(partner_id, None)
        # Ending the partnership ends its people's tasks on our assets (UNCONFIRMED: Meta's
        # docs say only that the partner loses the assets; its people reach them through it).
        for holders in self.partner_asset_users.values():
            for user_id in [u for u in holders if self.partner_people[u].partner_id == partner_id]:
                del holders[user_id]
        del self.partners[partner_id]

    def share_asset(self, asset_id: str, partner_id: str, tasks: list[str]) -> None:
        access = PartnerAccessRecord(asset_id, partner_id, tasks)
        self.partner_access.setdefault(asset_id, {})[partner_id] = access

    def unshare_asset(self, asset_id: str, partner_id: str) -> None:
        self.partner_access.get(asset_id, {}).pop(partner_id, None)
        holders = self.partner_asset_users.get(asset_id, {})
        for user_id in [u for u in holders if self.partner_people[u].partner_id == partner_id]:
            del holders[user_id]

    def partner_holders(self, asset_id: str, partner_id: str) -> dict[str, Tasks]:
        """The partner's people holding tasks on one of our assets, with their tasks."""
        return {
            user_id: tasks
            for user_id, tasks in self.partner_asset_users.get(asset_id, {}).items()
            if self.partner_people[user_id].partner_id == partner_id
        }


def _person_profile(person: PersonRecord) -> FacebookProfile:
    return FacebookProfile(
        person.global_id, person.name, person.first_name, person.last_name, person.email, person
    )


def validate_email(email: str) -> None:
    if not EMAIL_PATTERN.match(email):
        raise errors.bad_parameter(f"Param email must be a valid email address, got {email!r}")


def validate_role(role: str) -> None:
    if role not in ROLES:
        raise errors.enum_error("role", ROLES)
