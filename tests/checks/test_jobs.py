"""The real queue with two worker processes: one app's checks never overlap, two apps' do.

Runs on the embedded SQLite queue always, on PostgreSQL with the PostgreSQL database, and on
Redis when BASTION_TEST_REDIS_URL is set (CI requires it).
"""

from __future__ import annotations

import asyncio
import dataclasses
import itertools
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from typing import Any

import pytest
from sqlalchemy import select, update

from bastion.actions.actors import Actor
from bastion.actions.apps import ConnectRequest, connect_app
from bastion.actions.users import create_admin
from bastion.connectors.meta.simulator import create_simulator_app
from bastion.jobs import Jobs
from bastion.settings import load_settings
from bastion.storage.models import App, CheckRun
from bastion.storage.models.enums import RunState, RunTrigger
from tests.checks.conftest import World, worker_env
from tests.conftest import redis_url_or_skip, serve_on_loopback
from tests.factories import make_workspace

# How long the first Graph call of one app's check waits for the other app's check to make its
# own. Far longer than a worker takes to start on a loaded machine; shorter than the workers'
# Graph timeout below, so the held call is never given up on and retried.
RENDEZVOUS_SECONDS = 120
WORKER_GRAPH_TIMEOUT_SECONDS = "300"


@pytest.fixture(params=["database", "redis"])
def queue_world(request: pytest.FixtureRequest, world: World) -> Iterator[World]:
    """The world with its queue on the test's database (SQLite file or PostgreSQL) or Redis."""
    settings = world.runtime.settings
    env = {
        "BASTION_DATA_DIR": str(settings.data_dir),
        "BASTION_SMTP_FROM": settings.smtp_from,
    }
    url = world.runtime.engine.url
    if request.param == "redis":
        redis_url = redis_url_or_skip()
        import redis

        redis.Redis.from_url(redis_url).flushdb()
        env["BASTION_QUEUE_URL"] = redis_url
    elif url.get_backend_name() == "postgresql":
        env["BASTION_QUEUE_URL"] = url.set(drivername="postgresql").render_as_string(
            hide_password=False
        )
    world.runtime = dataclasses.replace(world.runtime, settings=load_settings(env))
    yield world


def _second_app(world: World, token: str) -> tuple[int, int]:
    """The same business connected with its own token in a second workspace (one workspace
    connects a business once); returns the workspace's id and the app's."""
    with world.runtime.sessions.begin() as session:
        workspace = make_workspace(session, "globex")
        admin, _ = create_admin(
            session,
            workspace_id=workspace.id,
            email="owner@globex.test",
            name="Gil Owner",
            actor=Actor.system("tests"),
        )
    with world.runtime.sessions.begin() as session:
        app = connect_app(
            session,
            world.runtime.require_key_ring(),
            world.runtime.connector_options,
            workspace_id=workspace.id,
            request=ConnectRequest(
                kind="meta_business",
                label="Globex Meta",
                token=token,
                settings={"business_id": world.sim.business_id, "app_id": world.sim.app_id},
                login_method="password",
            ),
            actor=Actor.user(admin.id),
        )
        return workspace.id, app.id


def _runs(world: World) -> list[CheckRun]:
    with world.runtime.sessions() as session:
        return list(session.scalars(select(CheckRun).order_by(CheckRun.started_at)))


class Rendezvous:
    """The simulator, holding the first Graph call made with each of two tokens until the other
    token's first call has arrived (or ``timeout`` has passed).

    Each app has its own token, so the two apps' checks meet here only when both are running at
    once: two workers always meet, however slow the machine; one worker running the checks one
    after the other never does, and the first check waits out the timeout.
    """

    def __init__(self, app: Any, tokens: tuple[str, str], timeout: float) -> None:
        self.app = app
        self.sides = {f"Bearer {token}".encode(): side for side, token in enumerate(tokens)}
        self.timeout = timeout
        self.arrived = (asyncio.Event(), asyncio.Event())
        self.met: list[bool] = []

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        headers = dict(scope.get("headers", ()))
        side = self.sides.get(headers.get(b"authorization", b""))
        if side is not None and not self.arrived[side].is_set():
            self.arrived[side].set()
            try:
                await asyncio.wait_for(self.arrived[1 - side].wait(), self.timeout)
                self.met.append(True)
            except TimeoutError:
                self.met.append(False)
        await self.app(scope, receive, send)


def test_two_workers_never_overlap_checks_of_one_app_and_run_two_apps_in_parallel(
    queue_world: World, key_entry: str
) -> None:
    world = queue_world
    second_token = world.sim.make_token()
    first_app = world.app_id
    second_workspace, second_app = _second_app(world, second_token)
    workspaces = {first_app: world.workspace_id, second_app: second_workspace}
    # Only the checks queued below may run: the workers' minute tick would otherwise also queue
    # the first checks that connecting an app makes due.
    with world.runtime.sessions.begin() as session:
        session.execute(update(App).values(next_check_at=None))
    # Slow enough answers that the first app's second check is likely taken while its first
    # still runs, and must then wait for it or be skipped.
    world.sim.set_latency(150)
    rendezvous = Rendezvous(
        create_simulator_app(world.sim), (world.sim.token, second_token), RENDEZVOUS_SECONDS
    )
    with Jobs(world.runtime) as jobs, serve_on_loopback(rendezvous) as graph_url:
        env = worker_env(world, graph_url, key_entry)
        env["BASTION_GRAPH_TIMEOUT_SECONDS"] = WORKER_GRAPH_TIMEOUT_SECONDS
        workers = [
            subprocess.Popen(
                [sys.executable, "-m", "bastion", "worker", "--workers", "1"],
                env=env,
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
            )
            for _ in range(2)
        ]
        try:
            results = [
                jobs.enqueue_check(
                    workspace_id=workspaces[app_id],
                    app_id=app_id,
                    trigger=RunTrigger.MANUAL,
                    user_id=None,
                )
                for app_id in (first_app, second_app, first_app)
            ]
            # Every task's own answer: its run's state, or "skipped" when the app's check was
            # already running. Waiting for the answers, not for a quiet moment, leaves no task
            # half done when the workers stop.
            outcomes: dict[int, str] = {}
            deadline = time.monotonic() + RENDEZVOUS_SECONDS + 120
            while len(outcomes) < len(results):
                for index, result in enumerate(results):
                    if index not in outcomes and (outcome := result.get()) is not None:
                        outcomes[index] = outcome
                assert all(w.poll() is None for w in workers), "a worker stopped by itself"
                assert time.monotonic() < deadline, (
                    f"checks did not finish: {outcomes} "
                    f"{[(r.app_id, r.state.value, r.error) for r in _runs(world)]}"
                )
                time.sleep(0.1)
        finally:
            for worker in workers:
                worker.send_signal(signal.SIGINT)
            for worker in workers:
                try:
                    worker.wait(timeout=30)
                except subprocess.TimeoutExpired:
                    worker.kill()
                    worker.wait()
    assert rendezvous.met == [True, True], (
        "the two apps' checks never ran at the same time: one worker ran them in turn"
    )
    assert outcomes[0] == outcomes[1] == RunState.SUCCEEDED.value, outcomes
    assert outcomes[2] in (RunState.SUCCEEDED.value, "skipped"), outcomes
    runs = _runs(world)
    assert all(r.state == RunState.SUCCEEDED for r in runs), [(r.id, r.error) for r in runs]
    first = [r for r in runs if r.app_id == first_app]
    second = [r for r in runs if r.app_id == second_app]
    assert len(first) == (2 if outcomes[2] == RunState.SUCCEEDED.value else 1)
    assert len(second) == 1
    for earlier, later in itertools.pairwise(first):
        assert earlier.finished_at is not None and earlier.finished_at <= later.started_at
    # Both checks were running when their first calls met, so their runs overlap.
    other = second[0]
    assert other.finished_at is not None and first[0].finished_at is not None
    assert first[0].started_at < other.finished_at and other.started_at < first[0].finished_at
