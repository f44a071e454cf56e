"""Check for updates, end to end against the simulator and a directory from the same seed."""

from __future__ import annotations

import dataclasses
from datetime import timedelta

import pytest
from sqlalchemy import event, func, select

from bastion.actions.actors import Actor
from bastion.actions.checks import start_check
from bastion.actions.operations import run_due_operations
from bastion.actions.reports import apply_report
from bastion.connectors.meta import RetryPolicy
from bastion.email_delivery import send_due_notifications
from bastion.errors import Conflict
from bastion.storage.models import (
    Account,
    Asset,
    Change,
    CheckRun,
    Grant,
    Report,
    ReportItem,
    utcnow,
)
from bastion.storage.models.enums import (
    AccountState,
    ChangeKind,
    ReportItemState,
    ReportState,
    RunState,
    RunTrigger,
)
from tests.checks.conftest import World


def _predicted_states(world: World) -> dict[str, str]:
    """What the generated directory says each Meta account should be, worked out here by hand."""
    scenario = world.sim.scenario_snapshot()
    known = set()
    for person in scenario.directory_users():
        for address in (person.email, *person.secondary_emails):
            local, _, domain = address.strip().lower().partition("@")
            known.add(
                f"{local.split('+')[0]}@{'gmail.com' if domain == 'googlemail.com' else domain}"
            )
    dump = world.sim.dump()
    predicted = {}
    for row in dump["people"] + dump["invitations"]:
        local, _, domain = (row["email"] or "").strip().lower().partition("@")
        key = f"{local.split('+')[0]}@{'gmail.com' if domain == 'googlemail.com' else domain}"
        predicted[row["id"]] = "onboarded" if key in known else "unmatched"
    for row in dump["system_users"]:
        predicted[row["id"]] = "system_user"  # apart from the people, never matched
    return predicted


def test_first_check_imports_everything_and_classifies_as_the_directory_predicts(
    world: World,
) -> None:
    run = world.check()
    assert run.state == RunState.SUCCEEDED, run.error
    dump = world.sim.dump()
    with world.runtime.sessions() as session:
        states = dict(
            session.execute(
                select(Account.external_id, Account.state).where(Account.present.is_(True))
            ).all()
        )
        assets = session.scalar(select(func.count()).select_from(Asset))
        grants = session.scalar(select(func.count()).select_from(Grant))
        changes = session.scalar(select(func.count()).select_from(Change))
    predicted = _predicted_states(world)
    assert {k: v.value for k, v in states.items()} == predicted
    assert "onboarded" in predicted.values() and "unmatched" in predicted.values()
    assert assets == sum(len(v) for v in dump["assets"].values())
    assert grants == run.counts["grants"] > 0
    assert changes == 0  # the first check is the baseline
    assert run.counts["baseline"] == 1
    assert run.graph_operations > 0
    app = world.app()
    assert app.status.value == "healthy"
    assert app.last_check_at is not None and app.next_check_at is not None


def test_accounts_a_check_adds_are_written_in_their_tab_and_not_written_again(
    world: World,
) -> None:
    statements: list[str] = []

    def note(_conn: object, _cursor: object, statement: str, *_args: object) -> None:
        statements.append(" ".join(statement.split()))

    event.listen(world.runtime.engine, "before_cursor_execute", note)
    try:
        run = world.check()
    finally:
        event.remove(world.runtime.engine, "before_cursor_execute", note)
    assert run.state == RunState.SUCCEEDED, run.error
    # Only the stamp of the run that saw them, which a first check has nothing to change in.
    rewrites = [
        s
        for s in statements
        if s.upper().startswith("UPDATE ACCOUNTS") and "last_seen_run_id" not in s
    ]
    assert rewrites == []
    with world.runtime.sessions() as session:
        accounts = session.scalars(select(Account)).all()
    matched = [a for a in accounts if a.matched_user_id is not None]
    assert matched and all(a.state == AccountState.ONBOARDED for a in matched)
    assert all(a.match_rule and a.match_confidence and a.matched_at for a in matched)
    assert {a.external_id: a.state.value for a in accounts} == _predicted_states(world)


def test_a_second_check_with_no_difference_writes_no_change(world: World) -> None:
    world.check()
    second = world.check()
    assert second.state == RunState.SUCCEEDED
    assert second.counts["changes"] == 0
    with world.runtime.sessions() as session:
        assert session.scalar(select(func.count()).select_from(Change)) == 0


def test_a_person_removed_by_hand_is_a_change_made_outside_bastion(world: World) -> None:
    world.check()
    victim = next(p for p in world.sim.dump()["people"] if p["role"] == "EMPLOYEE")
    world.sim.remove_person(victim["id"])
    run = world.check()
    with world.runtime.sessions() as session:
        changes = session.scalars(select(Change).where(Change.run_id == run.id)).all()
        account = session.scalars(select(Account).where(Account.external_id == victim["id"])).one()
    removed = [c for c in changes if c.kind == ChangeKind.ACCOUNT_REMOVED]
    assert len(removed) == 1
    assert removed[0].account_id == account.id
    assert removed[0].outside_bastion is True
    assert not account.present and account.gone_at is not None
    assert all(c.kind in (ChangeKind.ACCOUNT_REMOVED, ChangeKind.GRANT_REMOVED) for c in changes)


def test_a_role_change_and_a_new_grant_made_by_hand_are_recorded(world: World) -> None:
    world.check()
    person = next(p for p in world.sim.dump()["people"] if p["role"] == "EMPLOYEE")
    world.sim.set_role(person["id"], "ADMIN")
    run = world.check()
    with world.runtime.sessions() as session:
        kinds = [c.kind for c in session.scalars(select(Change).where(Change.run_id == run.id))]
    assert kinds == [ChangeKind.ROLE_CHANGED]


def test_a_deprovisioned_person_lands_in_the_report_is_emailed_and_removed_once(
    world: World,
) -> None:
    first = world.check()
    # The scenario's directory already has leavers holding seats: their report went out first.
    assert first.counts["report_items_added"] >= 1
    sent = send_due_notifications(world.runtime.sessions, world.runtime.settings)
    subjects = [m["Subject"] for m in world.mailbox.messages]
    assert sent == len(subjects)
    assert sum("still have access" in s for s in subjects) == 1
    # Every other message is a matched person's invitation, one each.
    invitations = [m["To"] for m in world.mailbox.messages if "You have access to" in m["Subject"]]
    assert len(invitations) == sent - 1 == len(set(invitations))
    world.mailbox.messages.clear()
    person = next(p for p in world.sim.dump()["people"] if p["role"] == "EMPLOYEE" and p["email"])
    from tests.checks.test_directory_flow import deactivate_over_scim

    deactivate_over_scim(world, person["email"])
    run = world.check(trigger=RunTrigger.DIRECTORY)
    assert run.counts["report_items_added"] >= 1
    with world.runtime.sessions() as session:
        report = session.scalars(select(Report).where(Report.state == ReportState.OPEN)).one()
        items = session.scalars(select(ReportItem).where(ReportItem.report_id == report.id)).all()
        ours = [
            i for i in items if session.get_one(Account, i.account_id).external_id == person["id"]
        ]
    assert len(ours) == 1

    assert send_due_notifications(world.runtime.sessions, world.runtime.settings) == 1
    [mail] = world.mailbox.messages
    assert mail["To"] == "owner@northwind.test"
    assert "still have access" in mail["Subject"]
    body = mail.get_payload()[0].get_payload(decode=True).decode()
    assert person["email"] in body

    # A check that finds nothing new adds no duplicate item and sends no second e-mail.
    world.check()
    assert send_due_notifications(world.runtime.sessions, world.runtime.settings) == 0

    with world.runtime.sessions.begin() as session:
        apply_report(
            session,
            workspace_id=world.workspace_id,
            report_id=report.id,
            actor=Actor.user(world.admin_id),
            item_ids=[ours[0].id],
        )
    assert run_due_operations(world.runtime) == {"succeeded": 1}
    people = {p["id"] for p in world.sim.dump()["people"]}
    assert person["id"] not in people
    held = [
        a
        for assets in world.sim.dump()["assets"].values()
        for a in assets
        if any(u.get("user_id", u.get("id")) == person["id"] for u in a.get("assigned_users", []))
    ]
    assert held == []
    deletes = world.sim.request_log.summary()["by_route"]
    assert sum(v for k, v in deletes.items() if k.startswith("DELETE")) == 1

    after = world.check()
    with world.runtime.sessions() as session:
        item = session.get_one(ReportItem, ours[0].id)
        changes = session.scalars(select(Change).where(Change.run_id == after.id)).all()
    assert item.state == ReportItemState.APPLIED
    assert changes == []  # already mirrored locally; the check confirms nothing else moved


def test_a_check_that_would_remove_too_much_is_stopped_and_changes_nothing(world: World) -> None:
    first = world.check()
    send_due_notifications(world.runtime.sessions, world.runtime.settings)
    world.mailbox.messages.clear()
    people = [p for p in world.sim.dump()["people"] if p["role"] == "EMPLOYEE"]
    total = first.counts["accounts"]
    for person in people[: int(total * 0.3) + 1]:
        world.sim.remove_person(person["id"])
    with world.runtime.sessions() as session:
        before = session.scalar(select(func.count()).where(Account.present.is_(True)))
    run = world.check()
    assert run.state == RunState.STOPPED_BY_SAFEGUARD
    assert "safeguard" in (run.error or "")
    with world.runtime.sessions() as session:
        assert session.scalar(select(func.count()).where(Account.present.is_(True))) == before
        assert session.scalar(select(func.count()).select_from(Change)) == 0
    assert world.app().status.value == "requires_check"
    assert send_due_notifications(world.runtime.sessions, world.runtime.settings) == 1
    assert "stopped by the safeguard" in world.mailbox.messages[0]["Subject"]

    overridden = world.check(override_safeguard=True)
    assert overridden.state == RunState.SUCCEEDED
    assert overridden.counts["account_removed"] == int(total * 0.3) + 1


def test_a_failed_fetch_changes_nothing_and_says_why(world: World) -> None:
    world.check()
    world.sim.inject_fault("http_500", count=50)
    run = world.check()
    assert run.state == RunState.FAILED
    assert run.error
    with world.runtime.sessions() as session:
        assert session.scalar(select(func.count()).where(Account.present.is_(False))) == 0
    assert world.app().status.value == "error"


def test_a_rate_limit_of_minutes_ends_the_check_at_once_and_moves_the_next_one(
    world: World,
) -> None:
    world.check()
    slept: list[float] = []

    async def sleep(seconds: float) -> None:
        slept.append(seconds)

    # The connector's own policy (sleep only through short waits), with the sleeps recorded.
    world.runtime = dataclasses.replace(
        world.runtime,
        connector_options=dataclasses.replace(
            world.runtime.connector_options, retry=RetryPolicy(sleep=sleep)
        ),
    )
    world.sim.inject_fault("rate_limit", method="GET", path=f"/{world.sim.business_id}")
    before = utcnow()
    run = world.check()
    assert run.state == RunState.FAILED
    assert all(wait <= 5.0 for wait in slept)  # Meta's five minutes are not slept through
    app = world.app()
    assert app.next_check_at is not None
    assert before + timedelta(minutes=5) <= app.next_check_at <= utcnow() + timedelta(minutes=5)
    assert run.error and run.error.startswith(
        f"Rate limited until {app.next_check_at:%Y-%m-%d %H:%M} UTC"
    )
    assert app.status_reason == run.error
    assert app.status.value == "healthy"  # nothing is wrong with the app itself


def test_a_revoked_token_puts_the_app_in_review_configuration(world: World) -> None:
    world.check()
    world.sim.revoke_token(world.sim.token)
    run = world.check()
    assert run.state == RunState.FAILED
    app = world.app()
    assert app.status.value == "review_configuration"
    assert app.status_reason and world.sim.token not in app.status_reason
    with world.runtime.sessions() as session:
        assert session.scalar(select(func.count()).where(Account.present.is_(False))) == 0


def test_only_one_check_of_an_app_runs_at_a_time(world: World) -> None:
    with world.runtime.sessions.begin() as session:
        start_check(
            session,
            workspace_id=world.workspace_id,
            app_id=world.app_id,
            trigger=RunTrigger.MANUAL,
            actor=Actor.system("tests"),
        )
    with pytest.raises(Conflict, match="already running"), world.runtime.sessions.begin() as s:
        start_check(
            s,
            workspace_id=world.workspace_id,
            app_id=world.app_id,
            trigger=RunTrigger.MANUAL,
            actor=Actor.system("tests"),
        )
    with world.runtime.sessions() as session:
        assert session.scalar(select(func.count()).where(CheckRun.state == RunState.RUNNING)) == 1


def test_exempted_and_unmatched_accounts_keep_their_state_across_checks(world: World) -> None:
    world.check()
    with world.runtime.sessions.begin() as session:
        account = session.scalars(
            select(Account).where(Account.state == AccountState.UNMATCHED).limit(1)
        ).one()
        account.exemption_reason = "Agency seat, contract until June"
        account.state = AccountState.EXEMPTED
        account_id = account.id
    world.check()
    with world.runtime.sessions() as session:
        assert session.get_one(Account, account_id).state == AccountState.EXEMPTED


def test_an_expired_exemption_returns_the_account_to_unmatched_and_tells_the_owners(
    world: World,
) -> None:
    world.check()
    send_due_notifications(world.runtime.sessions, world.runtime.settings)
    world.mailbox.messages.clear()
    with world.runtime.sessions.begin() as session:
        account = session.scalars(
            select(Account).where(Account.state == AccountState.UNMATCHED).limit(1)
        ).one()
        account.exemption_reason = "Temporary agency seat"
        account.exemption_expires_at = utcnow() - timedelta(minutes=1)
        account.state = AccountState.EXEMPTED
        account_id = account.id
    run = world.check()
    with world.runtime.sessions() as session:
        account = session.get_one(Account, account_id)
    assert account.state == AccountState.UNMATCHED
    assert account.exemption_reason is None
    assert run.counts["changes"] == 0
    assert send_due_notifications(world.runtime.sessions, world.runtime.settings) == 1
    assert "exemptions expired" in world.mailbox.messages[0]["Subject"]


def test_only_an_owner_or_admin_applies_a_report_or_retries_an_operation(world: World) -> None:
    from bastion.actions.operations import retry_operation
    from bastion.actions.reports import dismiss_items
    from bastion.errors import PermissionDenied
    from bastion.storage.models import AppMember, Operation, User
    from bastion.storage.models.enums import AppRole, OperationState

    world.check()
    with world.runtime.sessions.begin() as session:
        member = session.scalars(
            select(User).where(User.role == "member", User.status == "active").limit(1)
        ).one()
        membership = session.scalars(
            select(AppMember).where(AppMember.user_id == member.id)
        ).first() or AppMember(
            workspace_id=world.workspace_id, app_id=world.app_id, user_id=member.id
        )
        membership.role = AppRole.COLLABORATOR
        session.add(membership)
        report = session.scalars(select(Report)).one()
        item = session.scalars(select(ReportItem)).first()
        assert item is not None
        failed = Operation(
            workspace_id=world.workspace_id,
            app_id=world.app_id,
            kind="remove",
            target_external_id="1",
            state=OperationState.FAILED,
        )
        session.add(failed)
        session.flush()
        ids = (member.id, report.id, item.id, failed.id)
    member_id, report_id, item_id, operation_id = ids
    collaborator = Actor.user(member_id)
    for attempt in (
        lambda s: apply_report(
            s, workspace_id=world.workspace_id, report_id=report_id, actor=collaborator
        ),
        lambda s: dismiss_items(
            s,
            workspace_id=world.workspace_id,
            report_id=report_id,
            item_ids=[item_id],
            reason="keep",
            actor=collaborator,
        ),
        lambda s: retry_operation(
            s, workspace_id=world.workspace_id, operation_id=operation_id, actor=collaborator
        ),
    ):
        with pytest.raises(PermissionDenied, match="owner"), world.runtime.sessions.begin() as s:
            attempt(s)
    with world.runtime.sessions() as session:
        assert session.get_one(ReportItem, item_id).state == ReportItemState.PENDING
