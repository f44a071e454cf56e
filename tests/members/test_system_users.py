"""System users apart from people, Bastion's own never removed or demoted, token hygiene, and a
blast radius that only people (and partners) keep: on the simulator's ``small`` business, where
Bastion's own system user holds full control of every asset the business owns."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import func, select

from bastion.actions import members
from bastion.actions.actors import Actor
from bastion.actions.directory import deprovision_user
from bastion.actions.operations import run_due_operations
from bastion.errors import Conflict
from bastion.storage.models import Account, App, Grant, Operation, User, utcnow
from bastion.storage.models.enums import (
    AccountKind,
    AccountState,
    OperationKind,
    OperationState,
    UserSource,
)
from bastion.system_users import system_users
from bastion.web.member_table import MemberQuery, member_page
from bastion.web.reads import app_summaries
from tests.checks.conftest import World
from tests.members.member_world import Cast, accounts, cast_roles
from tests.members.system_user_world import sole_person_manager

PEOPLE_TABS = ("onboarded", "unmatched", "guest", "exempted")


@pytest.fixture
def cast(world: World) -> Cast:
    return cast_roles(world)


def own_account(world: World) -> Account:
    return accounts(world, external_id=world.sim.admin_system_user_id)[0]


def other_system_user(world: World) -> Account:
    return next(
        a
        for a in accounts(world, kind=AccountKind.SYSTEM_USER)
        if a.external_id != world.sim.admin_system_user_id
    )


def operations(world: World) -> int:
    with world.runtime.sessions() as session:
        return int(session.scalar(select(func.count()).select_from(Operation)) or 0)


def test_system_users_sit_apart_and_no_count_of_people_includes_them(world: World) -> None:
    run = world.check()
    system = accounts(world, kind=AccountKind.SYSTEM_USER)
    assert {a.external_id for a in system} == {s["id"] for s in world.sim.dump()["system_users"]}
    assert {(a.state, a.matched_user_id, a.exemption_reason) for a in system} == {
        (AccountState.SYSTEM_USER, None, None)
    }
    assert run.counts["state_system_user"] == len(system)
    people = [a for a in accounts(world) if a.kind != AccountKind.SYSTEM_USER]
    with world.runtime.sessions() as session:
        app = session.get_one(App, world.app_id)
        assert app.token_identity == world.sim.admin_system_user_id
        for tab in PEOPLE_TABS:
            page = member_page(session, app.id, MemberQuery(tab=tab))
            assert not {r.account.kind for r in page.rows} & {AccountKind.SYSTEM_USER}
        counts = member_page(session, app.id, MemberQuery()).counts
        summary = app_summaries(session, [app])[0].states
    assert sum(counts[tab] for tab in PEOPLE_TABS) == len(people)
    assert counts["system_user"] == len(system)
    assert summary["unmatched"] == sum(1 for a in people if a.state == AccountState.UNMATCHED)
    # The next check keeps them apart, whatever a person once made of them.
    with world.runtime.sessions.begin() as session:
        stray = session.get_one(Account, system[0].id)
        stray.state, stray.exemption_reason = AccountState.EXEMPTED, "set before the upgrade"
    world.check()
    again = accounts(world, id=system[0].id)[0]
    assert (again.state, again.exemption_reason) == (AccountState.SYSTEM_USER, None)


def test_an_app_connected_before_learns_its_token_identity_at_the_next_check(
    world: World,
) -> None:
    world.check()
    with world.runtime.sessions.begin() as session:
        session.get_one(App, world.app_id).token_identity = None
    world.check()
    assert world.app().token_identity == world.sim.admin_system_user_id


def test_the_people_actions_refuse_a_system_user(world: World, cast: Cast) -> None:
    target = other_system_user(world)
    owner = Actor.user(cast.owner)
    ws = world.workspace_id
    with world.runtime.sessions() as session:
        with pytest.raises(Conflict, match=r"is a system user, not a person.*matched"):
            members.match_account(
                session,
                workspace_id=ws,
                account_id=target.id,
                user_id=cast.member,
                role="collaborator",
                actor=owner,
            )
        with pytest.raises(Conflict, match=r"is a system user, not a person.*exempted"):
            members.exempt_account(
                session,
                workspace_id=ws,
                account_id=target.id,
                reason="Integration",
                expires_at=None,
                actor=owner,
            )
        with pytest.raises(Conflict, match=r"is a system user, not a person.*guest"):
            members.invite_guest(
                session,
                workspace_id=ws,
                email="robot@outside.test",
                name="Robot",
                actor=owner,
                account_id=target.id,
            )
        with pytest.raises(Conflict, match=r"is a system user, not a person.*removed"):
            members.remove_account(
                session, workspace_id=ws, account_id=target.id, actor=owner, force=True
            )
        removed = members.bulk_remove(
            session, workspace_id=ws, account_ids=[target.id], actor=owner, force=True
        )
        assert [(r.ok, r.code) for r in removed] == [(False, "conflict")]
        session.rollback()
    assert accounts(world, id=target.id)[0].state == AccountState.SYSTEM_USER
    assert operations(world) == 0


def test_bastions_own_system_user_is_never_removed_or_demoted(world: World, cast: Cast) -> None:
    own = own_account(world)
    admin = Actor.user(cast.admin)
    with world.runtime.sessions() as session:
        asset_id = session.scalars(
            select(Grant.asset_id).where(Grant.account_id == own.id, Grant.present.is_(True))
        ).first()
        assert asset_id is not None
        with pytest.raises(Conflict, match=r"Bastion's own system user.*cut Bastion off"):
            members.remove_account(
                session,
                workspace_id=world.workspace_id,
                account_id=own.id,
                actor=admin,
                force=True,
            )
        with pytest.raises(Conflict, match=r"Bastion's own system user.*never demotes it"):
            members.change_role(
                session,
                workspace_id=world.workspace_id,
                account_id=own.id,
                role="EMPLOYEE",
                actor=admin,
            )
        with pytest.raises(Conflict, match=r"Bastion's own system user.*unable to see or manage"):
            members.set_asset_tasks(
                session,
                workspace_id=world.workspace_id,
                account_id=own.id,
                asset_tasks={asset_id: ["ANALYZE"]},
                actor=admin,
                force=True,
            )
    assert operations(world) == 0


def test_token_hygiene_flags_full_control_departed_creators_and_the_token_expiry(
    world: World,
) -> None:
    world.check()
    scenario = world.sim.dump()
    with world.runtime.sessions() as session:
        found = system_users(session, session.get_one(App, world.app_id))
    rows = {row.account.external_id: row for row in found.rows}
    own = rows[world.sim.admin_system_user_id]
    assert found.rows[0] is own and own.is_bastion and own.full_control
    assert found.hygiene.bastion is own
    assert found.hygiene.full_control == sum(
        1 for s in scenario["system_users"] if s["role"] == "ADMIN"
    )
    creator = next(
        p for p in scenario["people"] if p["id"] == scenario["system_users"][0]["created_by_id"]
    )
    assert own.created_by == creator["name"]
    assert own.created_at is not None and own.holdings
    assert own.creator is not None and not own.creator_left
    assert found.hygiene.creator_left == 0
    assert (found.hygiene.token_expires_at, found.hygiene.token_expiry_known) == (None, False)

    # The creator leaves the company; Bastion's token gets an expiry.
    expiry = utcnow() + timedelta(days=10)
    with world.runtime.sessions.begin() as session:
        deprovision_user(
            session,
            workspace_id=world.workspace_id,
            user_id=own.creator.id,
            source=UserSource.CSV,
            actor=Actor.system("tests"),
            check_delay=timedelta(minutes=5),
        )
        session.get_one(App, world.app_id).token_expires_at = expiry
    with world.runtime.sessions() as session:
        after = system_users(session, session.get_one(App, world.app_id))
    assert after.hygiene.creator_left == len(scenario["system_users"])
    assert all(row.creator_left for row in after.rows)
    assert after.hygiene.token_expires_at == expiry
    with world.runtime.sessions() as session:
        assert session.get_one(User, own.creator.id).status.value == "deprovisioned"


def test_the_blast_radius_fires_where_only_a_system_user_would_keep_control(
    world: World, cast: Cast
) -> None:
    world.check()
    with world.runtime.sessions() as session:
        person, asset_id = sole_person_manager(session)
        external_id = session.get_one(Account, person).external_id
        radius = members.blast_radius(session, workspace_id=world.workspace_id, account_id=person)
    orphaned = {a.asset_id: a for a in radius.orphaned_assets}
    assert asset_id in orphaned
    assert (orphaned[asset_id].people, orphaned[asset_id].partners) == ((), ())
    assert not radius.is_last_admin and radius.admins_left
    with (
        world.runtime.sessions() as session,
        pytest.raises(Conflict, match=r"nobody with full control.*system users do not count"),
    ):
        members.remove_account(
            session,
            workspace_id=world.workspace_id,
            account_id=person,
            actor=Actor.user(cast.owner),
        )
    assert operations(world) == 0
    with world.runtime.sessions.begin() as session:
        forced = members.remove_account(
            session,
            workspace_id=world.workspace_id,
            account_id=person,
            actor=Actor.user(cast.owner),
            force=True,
        )
        assert forced.kind == OperationKind.REMOVE
    run_due_operations(world.runtime)
    with world.runtime.sessions() as session:
        assert session.get_one(Operation, forced.id).state == OperationState.SUCCEEDED
    assert external_id not in {p["id"] for p in world.sim.dump()["people"]}


def test_the_blast_radius_names_who_keeps_each_asset(world: World) -> None:
    world.check()
    with world.runtime.sessions() as session:
        managers: dict[int, list[Account]] = {}
        for grant, account in session.execute(
            select(Grant, Account)
            .join(Account, Account.id == Grant.account_id)
            .where(Grant.present.is_(True), Account.kind == AccountKind.PERSON)
        ):
            if "MANAGE" in grant.tasks:
                managers.setdefault(grant.asset_id, []).append(account)
        asset_id, (leaving, *staying) = next(
            (asset_id, holders)
            for asset_id, holders in sorted(managers.items())
            if len(holders) > 1
        )
        radius = members.blast_radius(
            session, workspace_id=world.workspace_id, account_id=leaving.id
        )
    kept = next(a for a in radius.assets if a.asset_id == asset_id)
    assert not kept.orphaned
    assert set(kept.people) == {a.name for a in staying}
    # Bastion's own system user holds MANAGE there too, and is named nowhere.
    assert "Bastion Access Governance" not in {n for a in radius.assets for n in a.people}
