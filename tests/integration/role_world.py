"""One checked app with a person in every role, built once and shared by the role matrix.

Everyone except the admin and the owner holds one account of their own, so a page can be asked
both "do they see their own?" and "do they see anyone else's?". The app has a report, a check
that found changes, a queued operation and two local partners, so every page has other people
on it to leak.
"""

from __future__ import annotations

import html
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path

import httpx
from sqlalchemy import Engine, select

from bastion.actions import members
from bastion.actions.actors import Actor
from bastion.actions.apps import ConnectRequest, connect_app
from bastion.actions.directory import create_person
from bastion.actions.removal import remove_account
from bastion.actions.tokens import create_token
from bastion.actions.users import create_admin
from bastion.connectors.meta.simulator import Simulator, generate_scenario
from bastion.directory_records import EmailRecord, PersonRecord
from bastion.security.vault import KeyRing
from bastion.storage.models import (
    Account,
    AppMember,
    Asset,
    CheckRun,
    Grant,
    Operation,
    Report,
    ReportItem,
    User,
)
from bastion.storage.models.enums import AccountKind, AccountState, AppRole, TokenKind, UserSource
from tests.checks.conftest import World, build_runtime, import_directory
from tests.factories import make_workspace
from tests.web.web_support import sign_in

# A workspace member holding an account is the app's collaborator: every check makes each
# matched person a member of the app (bastion/checks/classify.py), so "member" is no row here.
ROLES = ("admin", "owner", "collaborator", "guest", "partner_guest")
SEES_PEOPLE = frozenset({"admin", "owner"})
SEES_DETAILS = SEES_PEOPLE | {"collaborator"}
SYSTEM = Actor.system("tests")


@dataclass
class Person:
    role: str
    user_id: int
    email: str
    name: str
    account_ids: set[int] = field(default_factory=set)
    tab: str = "onboarded"  # the Members tab their own account is in


@dataclass
class RoleWorld:
    world: World
    people: dict[str, Person]
    tokens: dict[str, str]
    ids: dict[str, int]
    # Names and e-mails of every account and directory person, by who they belong to.
    identities: dict[int | None, set[str]]
    web: dict[str, httpx.Client] = field(default_factory=dict)

    @property
    def app_id(self) -> int:
        return self.world.app_id

    def api_headers(self, role: str) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.tokens[role]}"}

    def foreign(self, role: str) -> set[str]:
        """What nobody but owners and admins may read when ``role`` looks: other people's names
        and e-mails (the viewer's own, and the names of the app and business, excluded)."""
        me = self.people[role]
        own = self.identities.get(me.user_id, set()) | {me.name, me.email}
        return {
            text for user, texts in self.identities.items() if user != me.user_id for text in texts
        } - own

    def leaked(self, role: str, body: str) -> set[str]:
        text = html.unescape(body)
        return {name for name in self.foreign(role) if name in text}


def _person(world: World, email: str, name: str, source: UserSource = UserSource.LOCAL) -> int:
    with world.runtime.sessions.begin() as session:
        return create_person(
            session,
            workspace_id=world.workspace_id,
            person=PersonRecord(
                user_name=email, display_name=name, emails=(EmailRecord(email, "work", True),)
            ),
            source=source,
            actor=SYSTEM,
            check_delay=timedelta(minutes=5),
        ).id


def build_world(engine: Engine, tmp_path: Path, key_ring: KeyRing) -> World:
    """The checks' world (tests/checks/conftest.py), without a mailbox, for a module fixture."""
    sim = Simulator(generate_scenario("small", seed=42))
    runtime = build_runtime(engine, tmp_path, sim, key_ring, None)
    with runtime.sessions.begin() as session:
        workspace = make_workspace(session, "northwind")
        admin, _ = create_admin(
            session,
            workspace_id=workspace.id,
            email="owner@northwind.test",
            name="Olga Owner",
            actor=SYSTEM,
        )
    import_directory(runtime, workspace.id, sim)
    with runtime.sessions.begin() as session:
        app = connect_app(
            session,
            key_ring,
            runtime.connector_options,
            workspace_id=workspace.id,
            request=ConnectRequest(
                kind="meta_business",
                label="Northwind Meta",
                token=sim.token,
                settings={"business_id": sim.business_id, "app_id": sim.app_id},
                login_method="sso",
            ),
            actor=Actor.user(admin.id),
        )
    return World(sim, runtime, workspace.id, admin.id, app.id, None)  # type: ignore[arg-type]


def _unmatched(session: object, world: World, skip: set[int]) -> Account:
    found = session.scalars(  # type: ignore[attr-defined]
        select(Account)
        .where(
            Account.app_id == world.app_id,
            Account.kind == AccountKind.PERSON,
            Account.state == AccountState.UNMATCHED,
            Account.present.is_(True),
            Account.id.not_in(skip or {0}),
        )
        .order_by(Account.id)
    ).first()
    assert found is not None, "the scenario has too few unmatched accounts"
    return found


def cast_every_role(world: World) -> tuple[dict[str, Person], dict[str, int]]:
    """Check the app, give one person each role, then make changes, a report and an operation."""
    world.check()
    admin = Actor.user(world.admin_id)
    owner = _person(world, "owner2@northwind.test", "Owen Owner")
    collaborator = _person(world, "collab@northwind.test", "Cora Collaborator")
    ids: dict[str, int] = {}
    with world.runtime.sessions.begin() as session:
        session.add(
            AppMember(
                workspace_id=world.workspace_id,
                app_id=world.app_id,
                user_id=owner,
                role=AppRole.OWNER,
            )
        )
        taken: set[int] = set()
        mine = _unmatched(session, world, taken)
        taken.add(mine.id)
        members.match_account(
            session,
            workspace_id=world.workspace_id,
            account_id=mine.id,
            user_id=collaborator,
            role=AppRole.COLLABORATOR,
            actor=admin,
        )
        vouched = _unmatched(session, world, taken)
        taken.add(vouched.id)
        guest = members.invite_guest(
            session,
            workspace_id=world.workspace_id,
            email="guest@outside.test",
            name="Gus Guest",
            actor=admin,
            account_id=vouched.id,
        ).user.id
        acme = members.create_local_partner(
            session, workspace_id=world.workspace_id, name="Acme Agency", actor=admin
        )
        globex = members.create_local_partner(
            session, workspace_id=world.workspace_id, name="Globex Partners", actor=admin
        )
        partner_guest = members.invite_partner_guest(
            session,
            workspace_id=world.workspace_id,
            partner_id=acme.id,
            email="pat@acme.test",
            name="Pat Partner",
            actor=admin,
            partner_admin=True,
        ).user.id
        theirs = _unmatched(session, world, taken)
        taken.add(theirs.id)
        members.match_account(
            session,
            workspace_id=world.workspace_id,
            account_id=theirs.id,
            user_id=partner_guest,
            role=AppRole.COLLABORATOR,
            actor=admin,
        )
        removed = _unmatched(session, world, taken)
        taken.add(removed.id)
        ids |= {"acme": acme.id, "globex": globex.id, "other_account": removed.id}
    with world.runtime.sessions.begin() as session:
        operation = remove_account(
            session, workspace_id=world.workspace_id, account_id=removed.id, actor=admin
        )
        ids["operation"] = operation.id
    # Changes made in Meta by hand: a promotion and a newcomer, found by the next check.
    promoted = next(
        p
        for p in world.sim.dump()["people"]
        if p["role"] == "EMPLOYEE" and p.get("email") and p["email"] != "owner@northwind.test"
    )
    world.sim.set_role(promoted["id"], "ADMIN")
    world.sim.add_person(name="Nadia Newcomer", email="nadia.newcomer@elsewhere.test")
    run = world.check()
    ids["run"] = run.id
    with world.runtime.sessions() as session:
        report = session.scalars(select(Report).order_by(Report.id.desc())).first()
        assert report is not None, "the scenario's leavers make a report"
        assert session.scalars(select(ReportItem).where(ReportItem.report_id == report.id)).first()
        ids["report"] = report.id
        ids["asset"] = (
            session.scalars(
                select(Grant.asset_id).where(Grant.app_id == world.app_id, Grant.present.is_(True))
            ).first()
            or 0
        )
        assert session.get(Asset, ids["asset"]) is not None
        assert session.get_one(CheckRun, run.id).counts.get("changes", 0) >= 2
        assert session.get(Operation, ids["operation"]) is not None
        users = {u.id: u for u in session.scalars(select(User))}
        accounts = list(session.scalars(select(Account).where(Account.present.is_(True))))
    people: dict[str, Person] = {}
    for role, user_id in (
        ("admin", world.admin_id),
        ("owner", owner),
        ("collaborator", collaborator),
        ("guest", guest),
        ("partner_guest", partner_guest),
    ):
        user = users[user_id]
        own = sorted((a for a in accounts if a.matched_user_id == user_id), key=lambda a: a.id)
        people[role] = Person(
            role,
            user_id,
            user.email or "",
            user.display_name,
            {a.id for a in own},
            own[0].state.value if own else "onboarded",
        )
    for role in ROLES[2:]:
        assert people[role].account_ids, f"the {role} holds an account of their own"
    cast = {p.user_id for p in people.values()}
    ids["stranger"] = min(i for i in users if i not in cast)
    return people, ids


def identities(world: World) -> dict[int | None, set[str]]:
    """Every account's and person's name and e-mail, keyed by the person they belong to."""
    found: dict[int | None, set[str]] = {}
    with world.runtime.sessions() as session:
        for account in session.scalars(select(Account).where(Account.app_id == world.app_id)):
            texts = {account.email or "", account.name if " " in account.name else ""}
            found.setdefault(account.matched_user_id, set()).update(t for t in texts if t)
        for user in session.scalars(select(User)):
            texts = {user.email or "", user.display_name if " " in user.display_name else ""}
            found.setdefault(user.id, set()).update(t for t in texts if t)
    return found


def api_tokens(world: World, people: dict[str, Person]) -> dict[str, str]:
    with world.runtime.sessions.begin() as session:
        return {
            role: create_token(
                session,
                workspace_id=world.workspace_id,
                kind=TokenKind.API,
                name=f"{role} script",
                actor=SYSTEM,
                user_id=person.user_id,
            ).token
            for role, person in people.items()
        }


def signed_in(base_url: str, world: World, email: str) -> httpx.Client:
    client = httpx.Client(base_url=base_url, follow_redirects=False, timeout=60)
    sign_in(client, world, email)
    return client
