"""The admin commands the API has too: role, tasks, claiming, invitations, guests, bulk, app
settings, local partners, a manual step done, and applying a report after saying what it removes."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import select, update
from typer.testing import CliRunner

from bastion.cli import app
from bastion.storage.models import (
    Account,
    App,
    Asset,
    LocalPartner,
    Operation,
    Report,
    User,
    utcnow,
)
from bastion.storage.models.enums import (
    AccountKind,
    AccountState,
    AssetType,
    OperationKind,
    OperationState,
    ReportState,
)
from tests.checks.conftest import World, worker_env
from tests.members.member_world import accounts

runner = CliRunner()
WS = ("--workspace", "northwind")


@pytest.fixture
def env(world: World, key_entry: str) -> dict[str, str]:
    world.check()
    return worker_env(world, "http://graph.invalid", key_entry) | {"COLUMNS": "200"}


def bastion(env: dict[str, str], *args: str, code: int = 0, input: str | None = None) -> str:
    result = runner.invoke(app, [*args, *WS], env=env, input=input)
    assert result.exit_code == code, result.output
    return result.output


def ops(world: World) -> list[Operation]:
    with world.runtime.sessions() as session:
        return list(session.scalars(select(Operation).order_by(Operation.id)))


def stranger(world: World) -> Account:
    return next(
        a
        for a in accounts(world, state=AccountState.UNMATCHED, kind=AccountKind.PERSON)
        if a.app_role == "EMPLOYEE"
    )


def a_page(world: World) -> Asset:
    with world.runtime.sessions() as session:
        found = session.scalars(
            select(Asset).where(Asset.app_id == world.app_id, Asset.type == AssetType.PAGE)
        ).first()
        assert found is not None
        return found


def test_full_control_for_an_unmatched_account_needs_confirm_unmatched(
    world: World, env: dict[str, str]
) -> None:
    account, page = stranger(world), a_page(world)
    refused = bastion(env, "members", "role", str(account.id), "ADMIN", code=2)
    assert "it is unmatched" in refused and "--confirm-unmatched" in refused
    refused = bastion(
        env, "members", "tasks", str(account.id), "--asset", f"{page.id}=MANAGE", code=2
    )
    assert f"MANAGE on {page.name}" in refused and "--confirm-unmatched" in refused
    assert ops(world) == []

    role = bastion(env, "members", "role", str(account.id), "ADMIN", "--confirm-unmatched")
    assert "role ADMIN queued" in role
    tasks = bastion(
        env,
        "members",
        "tasks",
        str(account.id),
        "--asset",
        f"{page.id}=manage,analyze",
        "--confirm-unmatched",
    )
    assert "grant_tasks ANALYZE, MANAGE on" in tasks
    assert [o.kind for o in ops(world)] == [OperationKind.SET_ROLE, OperationKind.GRANT_TASKS]
    bad = bastion(env, "members", "tasks", str(account.id), "--asset", "page=MANAGE", code=2)
    assert "ASSET_ID=TASK,TASK" in bad


def test_claim_unmatch_guest_unexempt_and_bulk(world: World, env: dict[str, str]) -> None:
    first, second, third = accounts(world, state=AccountState.UNMATCHED, kind=AccountKind.PERSON)[
        :3
    ]
    claimed = bastion(env, "members", "claim", str(first.id), "--user", str(world.admin_id))
    assert "claimed by user" in claimed
    assert accounts(world, id=first.id)[0].matched_user_id == world.admin_id
    assert "is unmatched" in bastion(env, "members", "unmatch", str(first.id))
    guest = bastion(
        env, "members", "guest", str(second.id), "--email", "fay@outside.test", "--name", "Fay"
    )
    assert "guest fay@outside.test" in guest
    assert accounts(world, id=second.id)[0].state == AccountState.GUEST

    bulk = bastion(
        env,
        "members",
        "bulk",
        str(world.app_id),
        "exempt",
        str(first.id),
        str(third.id),
        "999999",
        "--reason",
        "Shared inbox",
        code=1,
    )
    assert f"account {first.id}: done" in bulk and "account 999999: not an account" in bulk
    assert accounts(world, id=third.id)[0].state == AccountState.EXEMPTED
    assert "managed again" in bastion(env, "members", "unexempt", str(third.id))
    assert "--reason" in bastion(
        env, "members", "bulk", str(world.app_id), "exempt", str(first.id), code=2
    )


def test_inviting_listing_and_cancelling_invitations(world: World, env: dict[str, str]) -> None:
    page = a_page(world)
    invited = bastion(
        env,
        "members",
        "invite",
        "Northwind Meta",
        "--email",
        "new.hire@northwind.test",
        "--asset",
        f"{page.id}=ANALYZE",
    )
    assert "invitation of new.hire@northwind.test as EMPLOYEE queued" in invited
    assert ops(world)[-1].parameters["asset_tasks"] == {page.external_id: ["ANALYZE"]}

    invitations = accounts(world, kind=AccountKind.INVITATION)
    with world.runtime.sessions.begin() as session:
        session.execute(
            update(Account)
            .where(Account.id == invitations[0].id)
            .values(created_at=utcnow() - timedelta(days=40))
        )
    listed = bastion(env, "members", "invitations", str(world.app_id))
    assert invitations[0].email in listed and "40" in listed and "yes" in listed
    assert "cancelled only by hand" in listed
    stale = bastion(env, "members", "cancel-stale", str(world.app_id), "--older-than-days", "30")
    assert f"account {invitations[0].id}: cancellation queued" in stale
    one = bastion(env, "members", "cancel-invitation", str(invitations[1].id))
    assert "cancellation queued" in one
    cancels = [o for o in ops(world) if o.kind == OperationKind.CANCEL_INVITATION]
    assert [o.account_id for o in cancels] == [invitations[0].id, invitations[1].id]
    assert "nothing to do" in bastion(
        env, "members", "cancel-stale", str(world.app_id), "--older-than-days", "3650"
    )


def test_apps_update_sets_auto_cancel_and_disconnect_stops_managing(
    world: World, env: dict[str, str]
) -> None:
    saved = bastion(env, "apps", "update", "1", "--auto-cancel-invitations-days", "14")
    assert "cancelled at each check after 14 days" in saved
    assert world.app().auto_cancel_invitations_days == 14
    assert "each check cancels invitations older than 14 days" in bastion(
        env, "members", "invitations", "1"
    )
    out = bastion(env, "apps", "update", "1", "--no-auto-cancel-invitations", "--label", "NW")
    assert "by hand only" in out and world.app().label == "NW"
    assert "between 1 and 3650" in bastion(
        env, "apps", "update", "1", "--auto-cancel-invitations-days", "0", code=2
    )
    assert "contradict" in bastion(
        env, "apps", "update", "1", "--daily-at", "06:00", "--on-demand-only", code=2
    )
    assert world.app().daily_check_minute is not None
    assert bastion(env, "apps", "update", "1", "--daily-at", "07:30") and (
        world.app().daily_check_minute == 450
    )
    assert "is disconnected" in bastion(env, "apps", "disconnect", "1")
    with world.runtime.sessions() as session:
        assert session.get_one(App, world.app_id).disconnected_at is not None


def test_local_partners_and_guests_from_the_command_line(world: World, env: dict[str, str]) -> None:
    created = bastion(env, "local-partners", "create", "Acme Agency")
    assert "Acme Agency" in created
    with world.runtime.sessions() as session:
        partner = session.scalars(select(LocalPartner)).one()
    invited = bastion(
        env,
        "local-partners",
        "invite",
        str(partner.id),
        "--email",
        "pat@acme.test",
        "--partner-admin",
    )
    assert "pat@acme.test" in invited
    assert "pat@acme.test ★" in bastion(env, "local-partners", "list")
    assert "exists already" in bastion(env, "local-partners", "create", "acme agency", code=2)
    assert "fay@outside.test" in bastion(env, "guests", "invite", "--email", "fay@outside.test")
    with world.runtime.sessions() as session:
        guest = session.scalars(select(User).where(User.email_key == "fay@outside.test")).one()
    target = stranger(world)
    linked = bastion(env, "members", "match", str(target.id), "--user", str(guest.id))
    assert "(guest)" in linked


def test_operations_done_confirms_a_manual_step(world: World, env: dict[str, str]) -> None:
    account = stranger(world)
    bastion(env, "members", "role", str(account.id), "EMPLOYEE")
    (operation,) = ops(world)
    assert "not a manual step" in bastion(env, "operations", "done", str(operation.id), code=2)
    with world.runtime.sessions.begin() as session:
        session.execute(
            update(Operation)
            .where(Operation.id == operation.id)
            .values(state=OperationState.MANUAL)
        )
    assert "marked done" in bastion(env, "operations", "done", str(operation.id))
    assert ops(world)[0].state == OperationState.SUCCEEDED


def test_report_apply_says_what_it_removes_and_asks(world: World, env: dict[str, str]) -> None:
    with world.runtime.sessions() as session:
        report = session.scalars(select(Report).where(Report.state == ReportState.OPEN)).one()
    declined = bastion(env, "report", "apply", str(report.id), input="n\n", code=1)
    assert f"Applying report {report.id} removes" in declined and "seat" in declined
    assert "nothing applied" in declined and ops(world) == []
    accepted = bastion(env, "report", "apply", str(report.id), input="y\n")
    assert "removal(s) queued" in accepted
    queued = len(ops(world))
    assert queued >= 1
    assert "nothing left to apply" in bastion(env, "report", "apply", str(report.id), "--yes")
    assert len(ops(world)) == queued
