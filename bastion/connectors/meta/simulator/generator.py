"""A deterministic generator of realistic businesses (seed + size knobs) and two presets.

Everything comes from one ``random.Random(seed)``, so a seed always yields the same business, the
same directory and the same admin token. Times are set back from an origin, the moment of
generation unless ``clock_start`` is given: the same seed gives the same dates relative to it,
and a scenario without ``clock_start`` runs the simulator's clock at real time, so the dates
Meta would send (a restriction's end, an invitation's expiry) mean the same to Bastion.

People have realistic names and e-mails: mostly the company domain, some personal gmail/outlook
addresses, some mixed case, a few duplicate names. The directory overlaps ~90% with the people
(matched by work e-mail, by a personal e-mail listed as a secondary address, or only by name),
holds people not yet on Meta, and marks some people who still hold a seat as deprovisioned.
"""

from __future__ import annotations

import random
import re
import time
from dataclasses import dataclass, fields, replace

from bastion.connectors.meta.simulator import names
from bastion.connectors.meta.simulator.directory import DirectoryUser
from bastion.connectors.meta.simulator.enums import expand_tasks
from bastion.connectors.meta.simulator.limits import REQUIRED_PERMISSIONS
from bastion.connectors.meta.simulator.scenario import (
    AppRecord,
    AssetRecord,
    AssignmentRecord,
    BusinessRecord,
    FacebookUserRecord,
    InvitationRecord,
    PartnerAccessRecord,
    PartnerPersonRecord,
    PartnerRecord,
    PartnerSystemUserRecord,
    PersonRecord,
    Scenario,
    ScenarioSettings,
    SystemUserRecord,
    TokenRecord,
)
from bastion.connectors.meta.simulator.tokens import mint_token

DAY = 86_400


@dataclass(frozen=True, slots=True)
class SizeKnobs:
    people: int
    invitations: int
    system_users: int
    pages: int
    ad_accounts: int
    catalogs: int
    pixels: int
    instagram_assets: int
    assignments: int
    partners: int
    directory_extra: int
    # People of each agency partner holding tasks on our assets it was given.
    partner_people: int = 3


PRESETS: dict[str, SizeKnobs] = {
    "small": SizeKnobs(40, 6, 3, 5, 4, 2, 3, 2, 90, 2, 8),
    "large": SizeKnobs(5000, 300, 50, 2000, 1500, 200, 100, 150, 50_000, 30, 600),
}

_TASK_PRESETS: dict[str, tuple[tuple[str, ...], ...]] = {
    "page": (("MANAGE",), ("CREATE_CONTENT",), ("MODERATE",), ("ADVERTISE",), ("ANALYZE",)),
    "ad_account": (("MANAGE",), ("ADVERTISE",), ("ADVERTISE",), ("ANALYZE",), ("DRAFT",)),
    "catalog": (("MANAGE",), ("ADVERTISE",)),
    "pixel": (("EDIT",), ("ANALYZE",), ("ADVERTISE",)),
    "instagram": (("ADVERTISE",), ("CONTENT",), ("ANALYZE",), ("CONTENT",)),
}
_FULL_CONTROL: dict[str, tuple[str, ...]] = {
    "page": ("MANAGE",),
    "ad_account": ("MANAGE",),
    "catalog": ("MANAGE",),
    "pixel": ("EDIT",),
    "instagram": ("ADVERTISE", "ANALYZE", "COMMUNITY_ACTIVITY", "CONTENT", "MESSAGES"),
}
_AGENCY_TASKS: dict[str, tuple[str, ...]] = {
    "page": ("ADVERTISE", "ANALYZE"),
    "ad_account": ("ADVERTISE", "ANALYZE"),
    "catalog": ("ADVERTISE",),
    "pixel": ("ANALYZE", "ADVERTISE"),
    "instagram": ("ADVERTISE", "ANALYZE"),
}


def generate_scenario(
    preset: str = "small",
    *,
    seed: int = 42,
    clock_start: int | None = None,
    **size_overrides: int,
) -> Scenario:
    """Build the ``preset`` business from ``seed``; ``size_overrides`` change single knobs.

    ``clock_start`` (Unix seconds) pins the simulator's clock and the dates' origin, for a
    replay that must match to the second; without it both follow real time.
    """
    if preset not in PRESETS:
        raise ValueError(f"unknown preset {preset!r}; choose one of {', '.join(PRESETS)}")
    known = {f.name for f in fields(SizeKnobs)}
    unknown = set(size_overrides) - known
    if unknown:
        raise ValueError(f"unknown size knob(s) {sorted(unknown)}; known: {sorted(known)}")
    if any(value < 0 for value in size_overrides.values()):
        raise ValueError("size knobs must not be negative")
    sizes = replace(PRESETS[preset], **size_overrides)
    rng = random.Random(seed)  # noqa: S311 - reproducible data, not secrets
    origin = int(time.time()) if clock_start is None else clock_start
    return _Generator(rng, sizes, origin).build(preset, seed, clock_start)


@dataclass(frozen=True, slots=True)
class _PartnerPeople:
    people: list[PartnerPersonRecord]
    system_users: list[PartnerSystemUserRecord]
    assignments: list[AssignmentRecord]
    tokens: list[TokenRecord]


class _Generator:
    """One generation run; holds the rng and the ids handed out so far."""

    def __init__(self, rng: random.Random, sizes: SizeKnobs, origin: int) -> None:
        self.rng = rng
        self.sizes = sizes
        self.origin = origin
        self.used_ids: set[str] = set()
        self.company, self.domain = rng.choice(names.COMPANIES)

    def new_id(self, digits: int = 15) -> str:
        while True:
            candidate = str(self.rng.randrange(10 ** (digits - 1), 10**digits))
            if candidate not in self.used_ids:
                self.used_ids.add(candidate)
                return candidate

    def past(self, max_days: int, min_days: int = 1) -> int:
        return self.origin - self.rng.randrange(min_days * DAY, max_days * DAY)

    def build(self, preset: str, seed: int, clock_start: int | None) -> Scenario:
        business = BusinessRecord(
            id=self.new_id(),
            name=self.company,
            created_time=self.past(2400, 1800),
            vertical="RETAIL",
            two_factor_type="admin_required",
        )
        app = AppRecord(
            id=self.new_id(16),
            name=f"{self.company} Access Governance",
            secret="".join(self.rng.choices("0123456789abcdef", k=32)),
        )
        people = self.people()
        system_users = self.system_users(people[0].id)
        partners = self.partners()
        assets = self.assets(business.id, partners)
        business.primary_page_id = next((a.id for a in assets if a.type == "page"), None)
        business.created_by_id = people[0].id
        directory, invitation_emails = self.directory(people)
        admin = system_users[0]
        token = TokenRecord(
            token=mint_token(self.rng),
            user_id=admin.id,
            user_type="SYSTEM_USER",
            app_id=app.id,
            business_id=business.id,
            scopes=list(REQUIRED_PERMISSIONS),
            issued_at=admin.created_time,
        )
        # Drawn in this order so that adding a kind of record leaves the others as they were.
        invitations = self.invitations(invitation_emails, people[0].id)
        assignments = self.assignments(assets, people, system_users)
        partner_access = self.partner_access(assets, partners)
        facebook_users = self.facebook_users(invitations, people)
        native = self.native_partner(partners, partner_access, app.id)
        return Scenario(
            preset=preset,
            seed=seed,
            clock_start=clock_start,
            settings=ScenarioSettings(),
            business=business,
            app=app,
            admin_system_user_id=admin.id,
            people=people,
            invitations=invitations,
            system_users=system_users,
            assets=assets,
            assignments=assignments,
            partners=partners,
            partner_access=partner_access,
            tokens=[token, *native.tokens],
            directory=directory,
            facebook_users=facebook_users,
            partner_people=native.people,
            partner_system_users=native.system_users,
            partner_assignments=native.assignments,
        )

    def native_partner(
        self, partners: list[PartnerRecord], access: list[PartnerAccessRecord], app_id: str
    ) -> _PartnerPeople:
        """Each agency's own people with tasks on the assets it was given, and a system user;
        the first agency also has a token for it, so its people can be imported (a native
        partner, in the guide's words)."""
        result = _PartnerPeople([], [], [], [])
        agencies = [p for p in partners if p.relation == "agency"]
        for number, partner in enumerate(agencies):
            shared = [a for a in access if a.partner_id == partner.id]
            domain = re.sub(r"[^a-z]", "", partner.name.lower()) + ".example"
            system_user = PartnerSystemUserRecord(
                self.new_id(), partner.id, f"{partner.name} API", "ADMIN", self.past(300, 20)
            )
            result.system_users.append(system_user)
            for _ in range(self.sizes.partner_people if shared else 0):
                first = self.rng.choice(names.FIRST_NAMES)
                last = self.rng.choice(names.LAST_NAMES)
                person = PartnerPersonRecord(
                    self.new_id(),
                    partner.id,
                    f"{first} {last}",
                    f"{first}.{last}@{domain}".lower(),
                    "EMPLOYEE",
                    self.past(600, 5),
                )
                result.people.append(person)
                for item in self.rng.sample(shared, min(len(shared), 2)):
                    tasks = [self.rng.choice(item.permitted_tasks)]
                    result.assignments.append(AssignmentRecord(item.asset_id, person.id, tasks))
            if number == 0:
                result.tokens.append(
                    TokenRecord(
                        token=mint_token(self.rng),
                        user_id=system_user.id,
                        user_type="SYSTEM_USER",
                        app_id=self.new_id(16),
                        business_id=partner.id,
                        scopes=list(REQUIRED_PERMISSIONS),
                        issued_at=system_user.created_time,
                    )
                )
        return result

    def person_name(self, taken: set[str], people: list[PersonRecord]) -> tuple[str, str]:
        if people and self.rng.random() < 0.015:
            twin = self.rng.choice(people)  # a duplicate-by-name, on purpose
            return twin.first_name, twin.last_name
        for _ in range(6):
            first = self.rng.choice(names.FIRST_NAMES)
            last = self.rng.choice(names.LAST_NAMES)
            if f"{first} {last}" not in taken:
                break
        return first, last

    def people(self) -> list[PersonRecord]:
        people: list[PersonRecord] = []
        taken_names: set[str] = set()
        taken_emails: set[str] = set()
        for index in range(self.sizes.people):
            first, last = self.person_name(taken_names, people)
            taken_names.add(f"{first} {last}")
            email = self.person_email(first, last, taken_emails)
            is_admin = index < 2 or self.rng.random() < 0.04
            people.append(
                PersonRecord(
                    id=self.new_id(),
                    global_id=self.new_id(17),
                    name=f"{first} {last}",
                    first_name=first,
                    last_name=last,
                    email=email,
                    role="ADMIN" if is_admin else "EMPLOYEE",
                    created_time=self.past(1700),
                    title=self.rng.choice(names.JOB_TITLES),
                    two_fac_status="enabled" if self.rng.random() < 0.7 else "not_enabled",
                    finance_permission=self.rng.choice(("EDITOR", "ANALYST"))
                    if self.rng.random() < 0.03
                    else None,
                    ip_permission="Reviewer" if self.rng.random() < 0.01 else None,
                )
            )
        return people

    def person_email(self, first: str, last: str, taken: set[str]) -> str:
        roll = self.rng.random()
        if roll < 0.18:
            local = f"{first}{last}{self.rng.randrange(1, 99)}".lower()
            domain = self.rng.choice(names.PERSONAL_DOMAINS)
        else:
            local = f"{first}.{last}" if roll < 0.85 else f"{first[0]}{last}"
            local = local if self.rng.random() < 0.12 else local.lower()
            domain = self.domain
        email = f"{local}@{domain}"
        suffix = 2
        while email.lower() in taken:
            email = f"{local}{suffix}@{domain}"
            suffix += 1
        taken.add(email.lower())
        return email

    def system_users(self, creator_id: str) -> list[SystemUserRecord]:
        result = [
            SystemUserRecord(
                id=self.new_id(),
                name="Bastion Access Governance",
                role="ADMIN",
                created_time=self.past(400, 200),
                created_by_id=creator_id,
            )
        ]
        for index in range(1, self.sizes.system_users):
            base = names.SYSTEM_USER_NAMES[index % len(names.SYSTEM_USER_NAMES)]
            label = base if index < len(names.SYSTEM_USER_NAMES) else f"{base} {index}"
            result.append(
                SystemUserRecord(
                    id=self.new_id(),
                    name=label,
                    role="ADMIN" if self.rng.random() < 0.2 else "EMPLOYEE",
                    created_time=self.past(900, 30),
                    created_by_id=creator_id,
                )
            )
        return result

    def partners(self) -> list[PartnerRecord]:
        result: list[PartnerRecord] = []
        for index in range(self.sizes.partners):
            stem = names.PARTNER_STEMS[index % len(names.PARTNER_STEMS)]
            word = names.AGENCY_WORDS[(index // len(names.PARTNER_STEMS)) % 7]
            relation = "agency" if index % 2 == 0 else "client"
            label = f"{stem} {word}" if relation == "agency" else f"{stem} {word} Brands"
            result.append(
                PartnerRecord(self.new_id(), label, relation, created_time=self.past(1200, 10))
            )
        return result

    def assets(self, business_id: str, partners: list[PartnerRecord]) -> list[AssetRecord]:
        clients = [p for p in partners if p.relation == "client"]
        assets: list[AssetRecord] = []
        counts = {
            "page": self.sizes.pages,
            "ad_account": self.sizes.ad_accounts,
            "catalog": self.sizes.catalogs,
            "pixel": self.sizes.pixels,
            "instagram": self.sizes.instagram_assets,
        }
        for kind, count in counts.items():
            for index in range(count):
                owner = business_id
                ownership = "owned"
                if clients and self.rng.random() < 0.15:
                    owner = self.rng.choice(clients).id
                    ownership = "client"
                assets.append(self.asset(kind, index, owner, ownership))
        return assets

    def asset(self, kind: str, index: int, owner: str, ownership: str) -> AssetRecord:
        rng = self.rng
        market = rng.choice(names.MARKETS)
        created = self.past(2000, 2)
        if kind == "page":
            slug = f"{self.company.split()[0].lower()}{market.lower()}{index}"
            name = f"{self.company} {market}" if index else self.company
            attrs: dict[str, object] = {
                "category": rng.choice(names.PAGE_CATEGORIES),
                "username": slug,
                "link": f"https://www.facebook.com/{slug}",
                "is_published": rng.random() < 0.93,
                "verification_status": "blue_verified" if index == 0 else "not_verified",
            }
            return AssetRecord(self.new_id(), kind, name, ownership, owner, created, attrs)
        if kind == "ad_account":
            account_id = self.new_id(16)
            status = rng.choices((1, 2, 3, 101), weights=(88, 5, 2, 5))[0]
            attrs = {
                "account_id": account_id,
                "account_status": status,
                "disable_reason": 0 if status == 1 else rng.choice((0, 1, 3)),
                "currency": rng.choice(names.CURRENCIES),
                "timezone_name": rng.choice(names.TIMEZONES),
            }
            name = f"{self.company} - {market} - {rng.choice(names.CHANNELS)} {index}"
            return AssetRecord(f"act_{account_id}", kind, name, ownership, owner, created, attrs)
        if kind == "catalog":
            attrs = {"vertical": "commerce", "product_count": rng.randrange(0, 20_000)}
            name = f"{self.company} {rng.choice(names.CATALOG_KINDS)} Catalog {market} {index}"
            return AssetRecord(self.new_id(), kind, name, ownership, owner, created, attrs)
        if kind == "pixel":
            attrs = {
                "last_fired_time": self.origin - rng.randrange(60, 90 * DAY),
                "is_unavailable": rng.random() < 0.05,
            }
            name = f"{self.company} Pixel {market} {index}"
            return AssetRecord(self.new_id(), kind, name, ownership, owner, created, attrs)
        handle = f"{self.company.split()[0].lower()}.{market.lower()}{index}"
        attrs = {"ig_user_id": "1784" + self.new_id(13), "ig_username": handle}
        return AssetRecord(self.new_id(), kind, f"@{handle}", ownership, owner, created, attrs)

    def assignments(
        self,
        assets: list[AssetRecord],
        people: list[PersonRecord],
        system_users: list[SystemUserRecord],
    ) -> list[AssignmentRecord]:
        if not assets or not people:
            return []
        user_ids = [p.id for p in people] + [s.id for s in system_users[1:]]
        seen: set[tuple[int, int]] = set()
        result: list[AssignmentRecord] = []
        target = min(self.sizes.assignments, len(assets) * len(user_ids))
        rng = self.rng
        while len(result) < target:
            asset_index = rng.randrange(len(assets))
            # Skewed: a minority of busy people hold most of the tasks, as in real businesses.
            user_index = int(len(user_ids) * rng.random() ** 2)
            if (asset_index, user_index) in seen:
                continue
            seen.add((asset_index, user_index))
            asset = assets[asset_index]
            chosen = rng.choice(_TASK_PRESETS[asset.type])
            tasks = list(expand_tasks(asset.type, set(chosen)))
            result.append(AssignmentRecord(asset.id, user_ids[user_index], tasks))
        # The business is set up as Meta's guide asks (seed guide, step 2.6): Bastion's system user
        # is assigned every asset the business owns, with full control.
        bastion = system_users[0].id
        for asset in assets:
            if asset.ownership == "owned":
                tasks = list(expand_tasks(asset.type, set(_FULL_CONTROL[asset.type])))
                result.append(AssignmentRecord(asset.id, bastion, tasks))
        return result

    def partner_access(
        self, assets: list[AssetRecord], partners: list[PartnerRecord]
    ) -> list[PartnerAccessRecord]:
        owned = [a for a in assets if a.ownership == "owned"]
        result: list[PartnerAccessRecord] = []
        for partner in partners:
            if partner.relation != "agency" or not owned:
                continue
            count = min(len(owned), max(1, len(owned) // 20), 60)
            for asset in self.rng.sample(owned, count):
                tasks = list(_AGENCY_TASKS[asset.type])
                result.append(PartnerAccessRecord(asset.id, partner.id, tasks))
        return result

    def directory(self, people: list[PersonRecord]) -> tuple[list[DirectoryUser], list[str]]:
        rng = self.rng
        users: list[DirectoryUser] = []
        taken: set[str] = set()
        for person in people:
            if rng.random() >= 0.9:
                continue  # contractors and freelancers: on Meta, not in the directory
            work = person.email.lower()
            secondary: list[str] = []
            if not work.endswith("@" + self.domain):
                personal = work
                work = f"{person.first_name}.{person.last_name}@{self.domain}".lower()
                if rng.random() < 0.5:
                    secondary.append(personal)
            if work in taken:
                work = work.replace("@", f".{len(taken)}@")
            taken.add(work)
            status = "deprovisioned" if rng.random() < 0.06 else "active"
            users.append(self.directory_user(work, person.name, status, secondary))
        new_hires: list[str] = []
        for _ in range(self.sizes.directory_extra):
            first = rng.choice(names.FIRST_NAMES)
            last = rng.choice(names.LAST_NAMES)
            work = f"{first}.{last}@{self.domain}".lower()
            while work in taken:
                work = work.replace("@", f"{rng.randrange(2, 9)}@")
            taken.add(work)
            status = "deprovisioned" if rng.random() < 0.1 else "active"
            users.append(self.directory_user(work, f"{first} {last}", status, []))
            if status == "active":
                new_hires.append(work)
        return users, new_hires

    def directory_user(
        self, email: str, name: str, status: str, secondary: list[str]
    ) -> DirectoryUser:
        groups = sorted(set(self.rng.sample(names.DEPARTMENTS, self.rng.choice((1, 1, 2)))))
        external_id = "00u" + "".join(
            self.rng.choices("abcdefghijklmnopqrstuvwxyz0123456789", k=17)
        )
        return DirectoryUser(
            email=email,
            name=name,
            external_id=external_id,
            status="deprovisioned" if status == "deprovisioned" else "active",
            secondary_emails=secondary,
            groups=groups,
        )

    def facebook_users(
        self, invitations: list[InvitationRecord], people: list[PersonRecord]
    ) -> list[FacebookUserRecord]:
        """Two Facebook accounts with no seat: someone invited who has not accepted yet (their
        account uses the invited e-mail), and someone from outside the business."""
        taken = {p.email.lower() for p in people}
        result: list[FacebookUserRecord] = []
        waiting = [i for i in invitations if i.expiration_time > self.origin]
        if waiting:
            email = waiting[0].email
            words = [w.capitalize() for w in re.split(r"[._\-0-9]+", email.split("@")[0]) if w]
            if len(words) < 2:
                words.append(self.rng.choice(names.LAST_NAMES))
            result.append(self.facebook_user(" ".join(words[:2]), email))
            taken.add(email.lower())
        first, last = self.rng.choice(names.FIRST_NAMES), self.rng.choice(names.LAST_NAMES)
        email = f"{first}.{last}{self.rng.randrange(10, 99)}@{names.PERSONAL_DOMAINS[0]}".lower()
        if email not in taken:
            result.append(self.facebook_user(f"{first} {last}", email))
        return result

    def facebook_user(self, name: str, email: str) -> FacebookUserRecord:
        first, _, last = name.partition(" ")
        return FacebookUserRecord(self.new_id(17), name, first, last, email)

    def invitations(self, new_hires: list[str], inviter_id: str) -> list[InvitationRecord]:
        result: list[InvitationRecord] = []
        for index in range(self.sizes.invitations):
            if new_hires and self.rng.random() < 0.8:
                email = new_hires[index % len(new_hires)]
            else:
                first = self.rng.choice(names.FIRST_NAMES).lower()
                email = f"{first}.{index}@{self.rng.choice(names.PERSONAL_DOMAINS)}"
            created = self.past(45, 0) if self.rng.random() < 0.9 else self.past(90, 40)
            result.append(
                InvitationRecord(
                    id=self.new_id(),
                    email=email,
                    role="ADMIN" if self.rng.random() < 0.05 else "EMPLOYEE",
                    created_time=created,
                    expiration_time=created + 30 * DAY,
                    created_by_id=inviter_id,
                )
            )
        return result
