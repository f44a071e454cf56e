"""The minute tick: it queues the checks and operations that are due, and only those."""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import select, update

from bastion.actions.actors import Actor
from bastion.actions.operations import queue_operation
from bastion.jobs import Jobs
from bastion.storage.models import App, CheckRun, Operation, utcnow
from bastion.storage.models.enums import OperationKind, OperationState, RunTrigger
from tests.checks.conftest import World
from tests.checks.test_directory_flow import deactivate_over_scim


def _runs(world: World) -> list[CheckRun]:
    with world.runtime.sessions() as session:
        return list(session.scalars(select(CheckRun).order_by(CheckRun.id)))


def test_the_tick_runs_due_checks_and_operations_once(world: World) -> None:
    with Jobs(world.runtime, immediate=True) as jobs:
        assert jobs.tick()["checks"] == 1  # a newly connected app is due at once
        [first] = _runs(world)
        assert first.trigger == RunTrigger.CONNECT and first.state.value == "succeeded"
        next_check = world.app().next_check_at
        assert next_check is not None and next_check > utcnow()
        assert jobs.tick()["checks"] == 0

        person = next(p for p in world.sim.dump()["people"] if p["role"] == "EMPLOYEE")
        deactivate_over_scim(world, person["email"])
        assert jobs.tick()["checks"] == 0  # asked for within minutes, not yet due
        with world.runtime.sessions.begin() as session:
            session.execute(update(App).values(next_check_at=utcnow() - timedelta(seconds=1)))
        assert jobs.tick()["checks"] == 1
        assert _runs(world)[-1].trigger == RunTrigger.DIRECTORY

        with world.runtime.sessions.begin() as session:
            operation_id = queue_operation(
                session,
                app=session.get_one(App, world.app_id),
                kind=OperationKind.REMOVE,
                actor=Actor.user(world.admin_id),
                target_external_id=person["id"],
            ).id
        assert jobs.tick()["operations"] == 1
        assert jobs.tick()["operations"] == 0
    with world.runtime.sessions() as session:
        assert session.get_one(Operation, operation_id).state == OperationState.SUCCEEDED
