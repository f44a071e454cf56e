"""The operations outbox against the simulator: deferrals, manual steps, crash recovery."""

from __future__ import annotations

import dataclasses
import signal
import subprocess
import sys
import threading
import time
from datetime import timedelta

import pytest
from sqlalchemy import select, update

from bastion.actions import members
from bastion.actions.actors import Actor
from bastion.actions.operation_leases import hold_lease
from bastion.actions.operations import (
    claim_operation,
    execute_operation,
    queue_operation,
    run_due_operations,
)
from bastion.errors import Conflict
from bastion.jobs import Jobs
from bastion.runtime import Runtime
from bastion.storage.models import Account, App, Asset, Operation, utcnow
from bastion.storage.models.enums import OperationKind, OperationState, RunState
from tests.checks.conftest import World, simulator_on_socket, worker_env


def _employee(world: World) -> dict[str, str]:
    return next(p for p in world.sim.dump()["people"] if p["role"] == "EMPLOYEE")


def _queue_removal(world: World, person_id: str) -> int:
    with world.runtime.sessions.begin() as session:
        app = session.get_one(App, world.app_id)
        return queue_operation(
            session,
            app=app,
            kind=OperationKind.REMOVE,
            actor=Actor.user(world.admin_id),
            target_external_id=person_id,
        ).id


def _operation(world: World, operation_id: int) -> Operation:
    with world.runtime.sessions() as session:
        return session.get_one(Operation, operation_id)


def _time_passes(world: World, operation_id: int) -> None:
    """Make a deferred operation due, as if its next attempt time had come."""
    with world.runtime.sessions.begin() as session:
        session.execute(
            update(Operation)
            .where(Operation.id == operation_id)
            .values(next_attempt_at=utcnow() - timedelta(seconds=1))
        )


def _deletes(world: World) -> int:
    routes = world.sim.request_log.summary()["by_route"]
    return sum(count for route, count in routes.items() if route.startswith("DELETE"))


def test_a_rate_limited_removal_is_deferred_then_succeeds(world: World) -> None:
    world.check()
    person = _employee(world)
    operation_id = _queue_removal(world, person["id"])
    world.sim.inject_fault("rate_limit", method="DELETE", code=80004)

    assert run_due_operations(world.runtime) == {"deferred": 1}
    deferred = _operation(world, operation_id)
    assert deferred.state == OperationState.DEFERRED
    assert deferred.next_attempt_at is not None and deferred.next_attempt_at > utcnow()
    assert run_due_operations(world.runtime) == {}  # not due yet: nothing is sent

    _time_passes(world, operation_id)
    assert run_due_operations(world.runtime) == {"succeeded": 1}
    assert person["id"] not in {p["id"] for p in world.sim.dump()["people"]}


def test_a_restricted_business_defers_the_removal_and_shows_until_when(world: World) -> None:
    world.check()
    person = _employee(world)
    operation_id = _queue_removal(world, person["id"])
    world.sim.inject_fault("restricted", method="DELETE")

    assert run_due_operations(world.runtime) == {"deferred": 1}
    operation = _operation(world, operation_id)
    assert "Deferred" not in (operation.last_error or "")
    assert operation.last_error
    app = world.app()
    assert app.status.value == "restricted"
    assert app.restricted_until is not None
    assert operation.next_attempt_at is not None
    assert operation.next_attempt_at >= app.restricted_until - timedelta(seconds=1)

    _time_passes(world, operation_id)
    assert run_due_operations(world.runtime) == {"succeeded": 1}


def test_two_factor_makes_a_manual_step_that_the_next_check_confirms(world: World) -> None:
    world.check()
    person = _employee(world)
    operation_id = _queue_removal(world, person["id"])
    world.sim.inject_fault("two_factor", method="DELETE")

    assert run_due_operations(world.runtime) == {"manual": 1}
    manual = _operation(world, operation_id)
    assert manual.manual_steps and "Business" in manual.manual_steps

    world.sim.remove_person(person["id"])  # an admin does it by hand in Business Manager
    run = world.check()
    assert run.counts["manual_operations_confirmed"] == 1
    confirmed = _operation(world, operation_id)
    assert confirmed.state == OperationState.SUCCEEDED
    assert confirmed.result == {"outcome": "confirmed_by_check"}


def test_a_failed_removal_can_be_retried(world: World) -> None:
    from bastion.actions.operations import retry_operation

    world.check()
    operation_id = _queue_removal(world, "999999999")  # nobody: Meta says it does not exist
    counts = run_due_operations(world.runtime)
    operation = _operation(world, operation_id)
    # A removal of someone already gone is done, not failed.
    assert counts == {"succeeded": 1}, operation.last_error
    assert operation.result and operation.result["outcome"] == "already_done"
    with (
        pytest.raises(Conflict, match="only failed or deferred"),
        world.runtime.sessions.begin() as session,
    ):
        retry_operation(
            session,
            workspace_id=world.workspace_id,
            operation_id=operation_id,
            actor=Actor.user(world.admin_id),
        )


def test_an_operation_is_written_once_per_idempotency_key(world: World) -> None:
    with world.runtime.sessions.begin() as session:
        app = session.get_one(App, world.app_id)
        first = queue_operation(
            session,
            app=app,
            kind=OperationKind.REMOVE,
            actor=Actor.user(world.admin_id),
            target_external_id="123",
            idempotency_key="key-1",
        )
        again = queue_operation(
            session,
            app=app,
            kind=OperationKind.REMOVE,
            actor=Actor.user(world.admin_id),
            target_external_id="123",
            idempotency_key="key-1",
        )
    assert first.id == again.id


def test_a_worker_killed_mid_removal_is_resumed_without_a_second_delete(
    world: World, key_entry: str
) -> None:
    world.check()
    person = _employee(world)
    operation_id = _queue_removal(world, person["id"])
    # The DELETE reaches Meta and is applied, but the answer takes 3 s: the worker dies waiting.
    world.sim.inject_fault("hang", method="DELETE", hang_seconds=3)
    with simulator_on_socket(world.sim) as graph_url:
        worker = subprocess.Popen(
            [sys.executable, "-m", "bastion", "worker", "--workers", "1"],
            env=worker_env(world, graph_url, key_entry),
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        try:
            with Jobs(world.runtime) as jobs:
                jobs.enqueue_operation(operation_id)
            deadline = time.monotonic() + 60
            while world.sim.faults.faults:  # the hang fault is consumed when the DELETE arrives
                assert worker.poll() is None, "the worker stopped by itself"
                assert time.monotonic() < deadline, "the worker never sent the DELETE"
                time.sleep(0.02)
            worker.send_signal(signal.SIGKILL)
            worker.wait(timeout=10)
        finally:
            if worker.poll() is None:
                worker.kill()
            worker.wait(timeout=10)
        stuck = _operation(world, operation_id)
        assert stuck.state == OperationState.RUNNING
        deadline = time.monotonic() + 10
        while person["id"] in {p["id"] for p in world.sim.dump()["people"]}:
            assert time.monotonic() < deadline, "the hung DELETE never completed"
            time.sleep(0.05)

    # Later, the lapsed claim is taken over by another worker (here, this process).
    with world.runtime.sessions.begin() as session:
        session.execute(
            update(Operation)
            .where(Operation.id == operation_id)
            .values(lease_expires_at=utcnow() - timedelta(seconds=1))
        )
    assert run_due_operations(world.runtime) == {"succeeded": 1}
    resumed = _operation(world, operation_id)
    assert resumed.result is not None and resumed.result["outcome"] == "already_done"
    assert resumed.attempts == 2
    assert _deletes(world) == 1


def _with_lease(world: World, seconds: float) -> Runtime:
    """The world's runtime with another operation lease length (renewed every third of it)."""
    settings = world.runtime.settings.model_copy(update={"operation_lease_seconds": seconds})
    return dataclasses.replace(world.runtime, settings=settings)


def _start_worker(env: dict[str, str]) -> subprocess.Popen[bytes]:
    return subprocess.Popen(
        [sys.executable, "-m", "bastion", "worker", "--workers", "1"],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )


def _people(world: World) -> set[str]:
    return {p["id"] for p in world.sim.dump()["people"]}


def test_a_worker_killed_after_meta_removed_the_person_is_resumed_by_another_within_seconds(
    world: World, key_entry: str
) -> None:
    world.check()
    person = _employee(world)
    operation_id = _queue_removal(world, person["id"])
    # Meta removes the person at once but holds its answer: the worker is killed after the
    # removal and before Bastion recorded it.
    world.sim.inject_fault("slow_answer", method="DELETE", hang_seconds=5)
    workers: list[subprocess.Popen[bytes]] = []
    with simulator_on_socket(world.sim) as graph_url:
        env = worker_env(world, graph_url, key_entry) | {"BASTION_OPERATION_LEASE_SECONDS": "3"}
        try:
            workers.append(_start_worker(env))
            with Jobs(world.runtime) as jobs:
                jobs.enqueue_operation(operation_id)
            deadline = time.monotonic() + 60
            while person["id"] in _people(world):
                assert workers[0].poll() is None, "the worker stopped by itself"
                assert time.monotonic() < deadline, "the worker never sent the DELETE"
                time.sleep(0.02)
            workers.append(_start_worker(env))  # another worker, on another machine say
            workers[0].send_signal(signal.SIGKILL)
            killed_at = time.monotonic()
            workers[0].wait(timeout=10)
            assert _operation(world, operation_id).state == OperationState.RUNNING
            while _operation(world, operation_id).state == OperationState.RUNNING:
                assert workers[1].poll() is None, "the second worker stopped by itself"
                assert time.monotonic() - killed_at < 30, "not resumed within 30 s of the kill"
                time.sleep(0.05)
            deadline = time.monotonic() + 10
            while _deletes(world) == 0:  # the held answer to the first DELETE goes out
                assert time.monotonic() < deadline, "the held DELETE never completed"
                time.sleep(0.05)
        finally:
            for worker in workers:
                if worker.poll() is None:
                    worker.kill()
                worker.wait(timeout=10)
    resumed = _operation(world, operation_id)
    assert resumed.state == OperationState.SUCCEEDED
    assert resumed.result is not None and resumed.result["outcome"] == "already_done"
    assert resumed.attempts == 2
    assert _deletes(world) == 1
    assert person["id"] not in _people(world)


def test_a_slow_call_keeps_its_lease_so_no_other_worker_takes_the_operation(
    world: World,
) -> None:
    world.check()
    person = _employee(world)
    operation_id = _queue_removal(world, person["id"])
    runtime = _with_lease(world, 0.6)  # renewed every 0.2 s; Meta takes 2 s to answer
    world.sim.inject_fault("hang", method="DELETE", hang_seconds=2)
    outcome: list[Operation | None] = []
    worker = threading.Thread(
        target=lambda: outcome.append(execute_operation(runtime, operation_id))
    )
    worker.start()
    deadline = time.monotonic() + 10
    while _operation(world, operation_id).state != OperationState.RUNNING:
        assert time.monotonic() < deadline, "the operation was never claimed"
        time.sleep(0.01)
    looks = []
    while worker.is_alive():
        looks.append(run_due_operations(runtime))  # another worker looking for work
        time.sleep(0.1)
    worker.join()
    assert len(looks) > 5 and all(found == {} for found in looks)
    done = _operation(world, operation_id)
    assert done.state == OperationState.SUCCEEDED and done.attempts == 1
    assert done.lease_expires_at is None
    assert _deletes(world) == 1


def test_a_worker_whose_lease_ran_out_cannot_renew_or_record_over_the_next_one(
    world: World,
) -> None:
    operation_id = _queue_removal(world, "123")
    lease = timedelta(seconds=15)
    with world.runtime.sessions.begin() as session:
        first = claim_operation(session, operation_id, lease=lease)
        assert first is not None and first[1] is False
        first_attempt = first[0].attempts
    with world.runtime.sessions.begin() as session:
        assert claim_operation(session, operation_id, lease=lease) is None  # still held
        # The first worker stalls past its lease.
        session.execute(
            update(Operation)
            .where(Operation.id == operation_id)
            .values(lease_expires_at=utcnow() - timedelta(seconds=1))
        )
    with world.runtime.sessions.begin() as session:
        second = claim_operation(session, operation_id, lease=lease)
        assert second is not None and second[1] is True  # resumed: the app is read first
    with world.runtime.sessions.begin() as session:
        assert not hold_lease(
            session, operation_id=operation_id, attempt=first_attempt, lease=lease
        )
        assert hold_lease(
            session, operation_id=operation_id, attempt=first_attempt + 1, lease=lease
        )


def test_the_app_stays_restricted_while_a_restricted_removal_waits_even_after_a_check(
    world: World,
) -> None:
    world.check()
    person = _employee(world)
    operation_id = _queue_removal(world, person["id"])
    world.sim.inject_fault("restricted", method="DELETE")
    assert run_due_operations(world.runtime) == {"deferred": 1}
    restricted = world.app()
    assert restricted.status.value == "restricted"
    assert restricted.restricted_until is not None and restricted.restricted_until > utcnow()

    assert world.check().state == RunState.SUCCEEDED  # reads still work during a restriction
    after_check = world.app()
    assert after_check.status.value == "restricted"
    assert after_check.restricted_until == restricted.restricted_until
    assert after_check.status_reason == restricted.status_reason

    # Meta's end time has passed, but the removal has not been sent again yet.
    with world.runtime.sessions.begin() as session:
        session.execute(
            update(App)
            .where(App.id == world.app_id)
            .values(restricted_until=utcnow() - timedelta(minutes=1))
        )
    world.check()
    assert world.app().status.value == "restricted"

    _time_passes(world, operation_id)
    assert run_due_operations(world.runtime) == {"succeeded": 1}
    lifted = world.app()
    assert (lifted.status.value, lifted.restricted_until) == ("healthy", None)
    world.check()
    assert world.app().status.value == "healthy"


def _pixel_and_holder(world: World) -> tuple[str, str]:
    """A pixel and an employee who holds tasks on it."""
    dump = world.sim.dump()
    employees = {p["id"] for p in dump["people"] if p["role"] == "EMPLOYEE"}
    return next(
        (pixel["id"], holder["user_id"])
        for pixel in dump["assets"]["pixels"]
        for holder in pixel["assigned_users"]
        if holder["user_id"] in employees
    )


def test_taking_a_persons_last_pixel_task_is_a_manual_step_the_next_check_confirms(
    world: World,
) -> None:
    world.check()
    pixel, user = _pixel_and_holder(world)
    with world.runtime.sessions.begin() as session:
        account = session.scalars(select(Account).where(Account.external_id == user)).one()
        asset = session.scalars(select(Asset).where(Asset.external_id == pixel)).one()
        (operation,) = members.set_asset_tasks(
            session,
            workspace_id=world.workspace_id,
            account_id=account.id,
            asset_tasks={asset.id: []},
            actor=Actor.user(world.admin_id),
        )
        operation_id = operation.id
    world.sim.request_log.clear()

    assert run_due_operations(world.runtime) == {"manual": 1}
    manual = _operation(world, operation_id)
    assert manual.manual_steps is not None
    assert "Data sources > Pixels" in manual.manual_steps and pixel in manual.manual_steps
    assert _deletes(world) == 0  # Meta has no DELETE on a pixel's assigned_users
    holders = next(a for a in world.sim.dump()["assets"]["pixels"] if a["id"] == pixel)
    assert user in {h["user_id"] for h in holders["assigned_users"]}

    world.sim.revoke_tasks(asset_id=pixel, user_id=user)  # done by hand in Business Manager
    run = world.check()
    assert run.counts["manual_operations_confirmed"] == 1
    confirmed = _operation(world, operation_id)
    assert confirmed.state == OperationState.SUCCEEDED
    assert confirmed.result == {"outcome": "confirmed_by_check"}


def _queue_partner_removal(world: World, partner_id: str, relation: str) -> int:
    with world.runtime.sessions.begin() as session:
        app = session.get_one(App, world.app_id)
        return queue_operation(
            session,
            app=app,
            kind=OperationKind.REMOVE_PARTNER,
            actor=Actor.user(world.admin_id),
            target_external_id=partner_id,
            parameters={"relation": relation},
        ).id


def test_a_partner_removal_runs_through_the_outbox(world: World) -> None:
    world.check()
    client = next(p for p in world.sim.dump()["partners"] if p["relation"] == "client")
    operation_id = _queue_partner_removal(world, client["id"], "client")

    assert run_due_operations(world.runtime) == {"succeeded": 1}
    assert client["id"] not in world.sim.state.partners
    done = _operation(world, operation_id)
    assert done.result is not None and done.result["outcome"] == "applied"


def test_a_partner_removal_refused_for_two_factor_is_confirmed_by_the_next_check(
    world: World,
) -> None:
    world.check()
    agency = next(p for p in world.sim.dump()["partners"] if p["relation"] == "agency")
    operation_id = _queue_partner_removal(world, agency["id"], "agency")
    world.sim.inject_fault("two_factor", method="DELETE", path="/agencies")

    assert run_due_operations(world.runtime) == {"manual": 1}
    manual = _operation(world, operation_id)
    assert manual.manual_steps and "Partners" in manual.manual_steps

    world.sim.remove_partner(agency["id"])  # an admin does it by hand
    run = world.check()
    assert run.counts["manual_operations_confirmed"] == 1
    assert _operation(world, operation_id).state == OperationState.SUCCEEDED
