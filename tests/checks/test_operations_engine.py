"""The operations outbox against the simulator: deferrals, manual steps, crash recovery."""

from __future__ import annotations

import asyncio
import dataclasses
import signal
import subprocess
import sys
import threading
import time
from datetime import timedelta
from typing import Any

import httpx
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
from bastion.connectors.meta.simulator import create_simulator_app
from bastion.errors import Conflict
from bastion.jobs import Jobs
from bastion.runtime import Runtime
from bastion.storage.models import Account, App, Asset, Operation, utcnow
from bastion.storage.models.enums import OperationKind, OperationState, RunState
from tests.checks.conftest import World, worker_env
from tests.conftest import serve_on_loopback

# Only a bound on a test gone wrong: every held call is released by the test itself.
HOLD_SECONDS = 120


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


class HeldDelete:
    """The simulator, holding the first DELETE until the test releases it: before Meta carries
    it out, or (``carried_out=True``) after, with only the answer held.

    The test, not a sleep, decides when the call goes on, so however slow the machine the
    worker is still waiting when the test acts.
    """

    def __init__(self, app: Any, *, carried_out: bool = False) -> None:
        self.app = app
        self.carried_out = carried_out
        self.arrived = threading.Event()  # and carried out, when ``carried_out``
        self.release = threading.Event()
        self._taken = False

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] != "http" or scope["method"] != "DELETE" or self._taken:
            await self.app(scope, receive, send)
            return
        self._taken = True
        # Read now: the caller may be gone (killed) when the request goes on.
        body = b""
        while (message := await receive())["type"] == "http.request":
            body += message.get("body", b"")
            if not message.get("more_body"):
                break
        replayed = False

        async def replay() -> dict[str, Any]:
            nonlocal replayed
            if replayed:
                return await receive()
            replayed = True
            return {"type": "http.request", "body": body, "more_body": False}

        if self.carried_out:
            answer: list[Any] = []

            async def keep(message: Any) -> None:
                answer.append(message)

            await self.app(scope, replay, keep)
            self.arrived.set()
            await asyncio.to_thread(self.release.wait, HOLD_SECONDS)
            for message in answer:
                await send(message)
        else:
            self.arrived.set()
            await asyncio.to_thread(self.release.wait, HOLD_SECONDS)
            await self.app(scope, replay, send)

    def wait_for_arrival(self, worker: subprocess.Popen[bytes] | threading.Thread) -> None:
        deadline = time.monotonic() + HOLD_SECONDS
        while not self.arrived.wait(0.05):
            alive = (
                worker.is_alive()
                if isinstance(worker, threading.Thread)
                else (worker.poll() is None)
            )
            assert alive, "the worker stopped before it sent the DELETE"
            assert time.monotonic() < deadline, "the worker never sent the DELETE"


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
    # The DELETE reaches Meta and is applied, but only after the worker, waiting for the answer,
    # has died.
    held = HeldDelete(create_simulator_app(world.sim))
    with serve_on_loopback(held) as graph_url:
        worker = subprocess.Popen(
            [sys.executable, "-m", "bastion", "worker", "--workers", "1"],
            env=worker_env(world, graph_url, key_entry),
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        try:
            with Jobs(world.runtime) as jobs:
                jobs.enqueue_operation(operation_id)
            held.wait_for_arrival(worker)
            worker.send_signal(signal.SIGKILL)
            worker.wait(timeout=30)
        finally:
            if worker.poll() is None:
                worker.kill()
            worker.wait(timeout=30)
            held.release.set()
        assert _operation(world, operation_id).state == OperationState.RUNNING
        deadline = time.monotonic() + HOLD_SECONDS
        while person["id"] in {p["id"] for p in world.sim.dump()["people"]}:
            assert time.monotonic() < deadline, "the held DELETE never completed"
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
    held = HeldDelete(create_simulator_app(world.sim), carried_out=True)
    workers: list[subprocess.Popen[bytes]] = []
    with serve_on_loopback(held) as graph_url:
        env = worker_env(world, graph_url, key_entry) | {"BASTION_OPERATION_LEASE_SECONDS": "3"}
        try:
            workers.append(_start_worker(env))
            with Jobs(world.runtime) as jobs:
                jobs.enqueue_operation(operation_id)
            held.wait_for_arrival(workers[0])
            assert person["id"] not in _people(world)
            workers.append(_start_worker(env))  # another worker, on another machine say
            workers[0].send_signal(signal.SIGKILL)
            killed_at = time.monotonic()
            workers[0].wait(timeout=30)
            assert _operation(world, operation_id).state == OperationState.RUNNING
            held.release.set()  # the answer goes out to no one
            # Within a 3 s lease, a 1 s look and the second worker's start on a loaded machine;
            # still less than the minute between two ticks.
            while _operation(world, operation_id).state == OperationState.RUNNING:
                assert workers[1].poll() is None, "the second worker stopped by itself"
                assert time.monotonic() - killed_at < 45, "not resumed within 45 s of the kill"
                time.sleep(0.05)
        finally:
            held.release.set()
            for worker in workers:
                if worker.poll() is None:
                    worker.kill()
                worker.wait(timeout=30)
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
    held = HeldDelete(create_simulator_app(world.sim))
    runtime = _with_lease(world, 3)  # renewed every second
    runtime = dataclasses.replace(
        runtime,
        connector_options=dataclasses.replace(
            runtime.connector_options, transport=httpx.ASGITransport(app=held)
        ),
    )
    outcome: list[Operation | None] = []
    worker = threading.Thread(
        target=lambda: outcome.append(execute_operation(runtime, operation_id))
    )
    worker.start()
    looks = []
    try:
        held.wait_for_arrival(worker)
        # Meta answers only once the lease the call started with has run out.
        first_lease = _operation(world, operation_id).lease_expires_at
        assert first_lease is not None
        while utcnow() < first_lease + timedelta(seconds=1):
            looks.append(run_due_operations(runtime))  # another worker looking for work
            time.sleep(0.1)
    finally:
        held.release.set()
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
