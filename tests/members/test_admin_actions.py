"""Admin actions every interface shares: full control only with a confirmation for accounts
nobody vouches for, asset tasks that really change, stale invitations cancelled once by the
checks, one app per business, and the counts an applied report removes."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import select, update

from bastion.actions import members
from bastion.actions.actors import Actor
from bastion.actions.apps import AppChanges, ConnectRequest, connect_app, disconnect_app, update_app
from bastion.actions.operations import run_due_operations
from bastion.actions.reports import preview_apply
from bastion.errors import Conflict, InvalidInput
from bastion.storage.models import (
    Account,
    App,
    Asset,
    AuditEvent,
    Grant,
    Operation,
    Report,
    utcnow,
)
from bastion.storage.models.enums import (
    AccountKind,
    AccountState,
    AssetType,
    OperationKind,
    ReportState,
)
from tests.checks.conftest import World
from tests.members.member_world import Cast, accounts, cast_roles


@pytest.fixture
def cast(world: World) -> Cast:
    return cast_roles(world)


def operations(world: World, kind: OperationKind | None = None) -> list[Operation]:
    with world.runtime.sessions() as session:
        query = select(Operation).order_by(Operation.id)
        if kind is not None:
            query = query.where(Operation.kind == kind)
        return list(session.scalars(query))


def last_event(world: World, action: str) -> AuditEvent:
    with world.runtime.sessions() as session:
        event = session.scalars(
            select(AuditEvent).where(AuditEvent.action == action).order_by(AuditEvent.seq.desc())
        ).first()
        assert event is not None
        return event


def deletes(world: World) -> int:
    routes = world.sim.request_log.summary()["by_route"]
    return sum(count for route, count in routes.items() if route.startswith("DELETE"))


def employee(world: World, state: AccountState) -> Account:
    return next(
        a for a in accounts(world, state=state, kind=AccountKind.PERSON) if a.app_role == "EMPLOYEE"
    )


def test_making_an_unmatched_account_an_admin_needs_the_confirmation(
    world: World, cast: Cast
) -> None:
    stranger = employee(world, AccountState.UNMATCHED)
    with world.runtime.sessions() as session, pytest.raises(members.UnvouchedFullControl) as no:
        members.change_role(
            session,
            workspace_id=world.workspace_id,
            account_id=stranger.id,
            role="ADMIN",
            actor=Actor.user(cast.owner),
        )
    assert no.value.code == "confirmation_required"
    assert (stranger.name or stranger.email or "") in no.value.message
    assert "unmatched" in no.value.message and "confirm_unvouched" in no.value.message
    assert operations(world) == []

    with world.runtime.sessions.begin() as session:
        members.change_role(
            session,
            workspace_id=world.workspace_id,
            account_id=stranger.id,
            role="ADMIN",
            actor=Actor.user(cast.owner),
            confirm_unvouched=True,
        )
    assert [o.parameters for o in operations(world)] == [{"role": "ADMIN"}]
    assert last_event(world, "account.role_change_requested").details["unvouched_confirmed"]


def test_an_onboarded_person_is_made_an_admin_without_asking(world: World, cast: Cast) -> None:
    vouched = employee(world, AccountState.ONBOARDED)
    with world.runtime.sessions.begin() as session:
        members.change_role(
            session,
            workspace_id=world.workspace_id,
            account_id=vouched.id,
            role="ADMIN",
            actor=Actor.user(cast.admin),
        )
    assert last_event(world, "account.role_change_requested").details == {
        "account": vouched.id,
        "operation_id": operations(world)[0].id,
        "before": "EMPLOYEE",
        "after": "ADMIN",
        "unvouched_confirmed": False,
    }


def _asset_without_manage(world: World, account: Account) -> Asset:
    with world.runtime.sessions() as session:
        managed = {
            grant.asset_id
            for grant in session.scalars(select(Grant).where(Grant.account_id == account.id))
            if "MANAGE" in grant.tasks
        }
        return next(
            a
            for a in session.scalars(
                select(Asset).where(
                    Asset.app_id == world.app_id, Asset.type == AssetType.AD_ACCOUNT
                )
            )
            if a.id not in managed
        )


def test_giving_manage_to_an_account_nobody_vouches_for_needs_the_confirmation(
    world: World, cast: Cast
) -> None:
    stranger = employee(world, AccountState.UNMATCHED)
    asset = _asset_without_manage(world, stranger)
    with world.runtime.sessions() as session, pytest.raises(members.UnvouchedFullControl) as no:
        members.set_asset_tasks(
            session,
            workspace_id=world.workspace_id,
            account_id=stranger.id,
            asset_tasks={asset.id: ["MANAGE"]},
            actor=Actor.user(cast.admin),
        )
    assert f"MANAGE on {asset.name}" in no.value.message
    with world.runtime.sessions.begin() as session:
        # Lesser tasks need no confirmation.
        members.set_asset_tasks(
            session,
            workspace_id=world.workspace_id,
            account_id=stranger.id,
            asset_tasks={asset.id: ["ANALYZE"]},
            actor=Actor.user(cast.admin),
        )
        members.set_asset_tasks(
            session,
            workspace_id=world.workspace_id,
            account_id=stranger.id,
            asset_tasks={asset.id: ["MANAGE"]},
            actor=Actor.user(cast.admin),
            confirm_unvouched=True,
        )
    assert [o.parameters["tasks"] for o in operations(world, OperationKind.GRANT_TASKS)] == [
        ["ANALYZE"],
        ["MANAGE"],
    ]
    assert last_event(world, "account.tasks_change_requested").details["unvouched_confirmed"]


def test_unticking_tasks_takes_them_away_in_meta(world: World, cast: Cast) -> None:
    with world.runtime.sessions() as session:
        account, grant = next(
            (a, g)
            for a, g, t in session.execute(
                select(Account, Grant, Asset.type)
                .join(Grant, Grant.account_id == Account.id)
                .join(Asset, Asset.id == Grant.asset_id)
                .where(
                    Account.app_id == world.app_id,
                    Account.state == AccountState.ONBOARDED,
                    Grant.present.is_(True),
                )
                .order_by(Grant.id)
            )
            if t == AssetType.AD_ACCOUNT and "ADVERTISE" in g.tasks
        )
    with world.runtime.sessions.begin() as session:
        queued = members.set_asset_tasks(
            session,
            workspace_id=world.workspace_id,
            account_id=account.id,
            asset_tasks={grant.asset_id: ["ANALYZE"]},
            actor=Actor.user(cast.admin),
            force=True,
        )
        kinds = [(o.kind, o.parameters["tasks"]) for o in queued]
    given_up = sorted(set(grant.tasks) - {"ANALYZE"})
    assert (OperationKind.REVOKE_TASKS, given_up) in kinds
    assert run_due_operations(world.runtime).get("failed") is None
    world.check()
    with world.runtime.sessions() as session:
        assert session.get_one(Grant, grant.id).tasks == ["ANALYZE"]


def _age_invitations(world: World, days: int, count: int) -> list[Account]:
    """The first ``count`` invitations were first seen ``days`` ago."""
    invitations = accounts(world, kind=AccountKind.INVITATION)[:count]
    with world.runtime.sessions.begin() as session:
        session.execute(
            update(Account)
            .where(Account.id.in_([a.id for a in invitations]))
            .values(created_at=utcnow() - timedelta(days=days))
        )
    return invitations


def test_an_app_cancels_its_stale_invitations_at_its_checks_exactly_once(
    world: World, cast: Cast
) -> None:
    stale = _age_invitations(world, days=10, count=2)
    assert len(accounts(world, kind=AccountKind.INVITATION)) > len(stale)
    world.check()
    assert operations(world, OperationKind.CANCEL_INVITATION) == []  # off by default

    with world.runtime.sessions.begin() as session:
        update_app(
            session,
            world.runtime.require_key_ring(),
            world.runtime.connector_options,
            workspace_id=world.workspace_id,
            app_id=world.app_id,
            changes=AppChanges(auto_cancel_invitations_days=7),
            actor=Actor.user(cast.owner),
        )
    world.sim.request_log.clear()
    first = world.check()
    second = world.check()  # before any worker ran them: nothing queued twice
    assert first.counts["stale_invitations_cancelled"] == 2
    assert second.counts["stale_invitations_cancelled"] == 0
    cancels = operations(world, OperationKind.CANCEL_INVITATION)
    assert sorted(o.account_id for o in cancels) == sorted(a.id for a in stale)
    event = last_event(world, "app.invitation_cancel_requested")
    assert event.actor == "system:check"
    assert event.details["stale"] is True and event.details["older_than_days"] == 7

    assert run_due_operations(world.runtime) == {"succeeded": 2}
    world.check()
    world.check()
    assert run_due_operations(world.runtime) == {}
    assert deletes(world) == 2
    left = {a.id for a in accounts(world, kind=AccountKind.INVITATION)}
    assert left.isdisjoint(a.id for a in stale) and left


def test_an_admin_lists_pending_invitations_with_their_age(world: World, cast: Cast) -> None:
    (old,) = _age_invitations(world, days=40, count=1)
    with world.runtime.sessions() as session:
        found = members.pending_invitations(
            session,
            workspace_id=world.workspace_id,
            app_id=world.app_id,
            older_than_days=30,
            actor=Actor.user(cast.owner),
        )
    assert found[0].account.id == old.id and found[0].age_days == 40
    assert [f.older_than_limit for f in found] == [True] + [False] * (len(found) - 1)
    assert found[0].expires_at is not None


@pytest.mark.parametrize("days", [0, 3651])
def test_an_app_limit_outside_its_range_is_refused_naming_the_field(
    world: World, days: int
) -> None:
    with world.runtime.sessions() as session, pytest.raises(InvalidInput) as refused:
        update_app(
            session,
            world.runtime.require_key_ring(),
            world.runtime.connector_options,
            workspace_id=world.workspace_id,
            app_id=world.app_id,
            changes=AppChanges(auto_cancel_invitations_days=days),
            actor=Actor.user(world.admin_id),
        )
    assert refused.value.field == "auto_cancel_invitations_days"


def _connect_again(world: World, label: str) -> App:
    with world.runtime.sessions.begin() as session:
        return connect_app(
            session,
            world.runtime.require_key_ring(),
            world.runtime.connector_options,
            workspace_id=world.workspace_id,
            request=ConnectRequest(
                kind="meta_business",
                label=label,
                token=world.sim.token,
                settings={"business_id": world.sim.business_id, "app_id": world.sim.app_id},
                login_method="sso",
            ),
            actor=Actor.user(world.admin_id),
        )


def test_the_same_business_is_connected_once_until_its_app_is_disconnected(
    world: World,
) -> None:
    world.sim.request_log.clear()
    with pytest.raises(Conflict) as refused:
        _connect_again(world, "Northwind again")
    assert "Northwind Meta" in refused.value.message
    assert world.sim.business_id in refused.value.message
    assert world.sim.request_log.operations == 0  # refused before asking Meta
    with world.runtime.sessions.begin() as session:
        disconnect_app(
            session,
            workspace_id=world.workspace_id,
            app_id=world.app_id,
            actor=Actor.user(world.admin_id),
        )
    assert _connect_again(world, "Northwind again").label == "Northwind again"


def test_applying_a_report_is_counted_in_people_and_seats_first(world: World) -> None:
    world.check()
    with world.runtime.sessions() as session:
        report = session.scalars(select(Report).where(Report.state == ReportState.OPEN)).one()
        preview = preview_apply(
            session, workspace_id=world.workspace_id, report_id=report.id, actor=Actor.cli()
        )
        assert preview.item_ids and preview.people >= 1
        assert preview.seats + preview.invitations == len(preview.item_ids)
        assert preview.summary.startswith(f"{preview.people} ")
        chosen = preview_apply(
            session,
            workspace_id=world.workspace_id,
            report_id=report.id,
            actor=Actor.cli(),
            item_ids=preview.item_ids[:1],
        )
    assert chosen.item_ids == preview.item_ids[:1] and chosen.people == 1
    assert operations(world) == []  # counting queues nothing


def test_the_command_line_claims_an_account_for_the_admin_it_names(
    world: World, cast: Cast
) -> None:
    target = employee(world, AccountState.UNMATCHED)
    with world.runtime.sessions() as session, pytest.raises(InvalidInput):
        members.claim_owner(
            session, workspace_id=world.workspace_id, account_id=target.id, actor=Actor.cli()
        )
    with world.runtime.sessions.begin() as session:
        members.claim_owner(
            session,
            workspace_id=world.workspace_id,
            account_id=target.id,
            actor=Actor.cli(),
            claimant_id=cast.admin,
        )
    claimed = accounts(world, id=target.id)[0]
    assert claimed.matched_user_id == cast.admin and claimed.state == AccountState.ONBOARDED
