"""The real queue with two worker processes: one app's checks never overlap, two apps' do.

Runs on the embedded SQLite queue always, on PostgreSQL with the PostgreSQL database, and on
Redis when BASTION_TEST_REDIS_URL is set (CI requires it).
"""

from __future__ import annotations

import dataclasses
import itertools
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator

import pytest
from sqlalchemy import select, update

from bastion.actions.actors import Actor
from bastion.actions.apps import ConnectRequest, connect_app
from bastion.jobs import Jobs
from bastion.settings import load_settings
from bastion.storage.models import App, CheckRun
from bastion.storage.models.enums import RunState, RunTrigger
from tests.checks.conftest import World, simulator_on_socket, worker_env

REDIS_URL = os.environ.get("BASTION_TEST_REDIS_URL")
REQUIRE_REDIS = os.environ.get("BASTION_REQUIRE_REDIS", "").lower() in ("1", "true", "yes") or (
    os.environ.get("CI", "").lower() in ("1", "true", "yes")
)


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
        if not REDIS_URL:
            if REQUIRE_REDIS:
                pytest.fail("BASTION_TEST_REDIS_URL is not set, and CI requires the Redis tests")
            pytest.skip("no Redis: set BASTION_TEST_REDIS_URL to run the queue on Redis")
        import redis

        redis.Redis.from_url(REDIS_URL).flushdb()
        env["BASTION_QUEUE_URL"] = REDIS_URL
    elif url.get_backend_name() == "postgresql":
        env["BASTION_QUEUE_URL"] = url.set(drivername="postgresql").render_as_string(
            hide_password=False
        )
    world.runtime = dataclasses.replace(world.runtime, settings=load_settings(env))
    yield world


def _second_app(world: World) -> int:
    with world.runtime.sessions.begin() as session:
        app = connect_app(
            session,
            world.runtime.require_key_ring(),
            world.runtime.connector_options,
            workspace_id=world.workspace_id,
            request=ConnectRequest(
                kind="meta_business",
                label="Northwind Meta (second)",
                token=world.sim.token,
                settings={"business_id": world.sim.business_id, "app_id": world.sim.app_id},
                login_method="password",
            ),
            actor=Actor.user(world.admin_id),
        )
        return app.id


def _finished_runs(world: World) -> list[CheckRun]:
    with world.runtime.sessions() as session:
        return list(session.scalars(select(CheckRun).order_by(CheckRun.started_at)))


def test_two_workers_never_overlap_checks_of_one_app_and_run_two_apps_in_parallel(
    queue_world: World, key_entry: str
) -> None:
    world = queue_world
    first_app, second_app = world.app_id, _second_app(world)
    # Only the checks queued below may run: the workers' minute tick would otherwise also queue
    # the first checks that connecting an app makes due.
    with world.runtime.sessions.begin() as session:
        session.execute(update(App).values(next_check_at=None))
    world.sim.set_latency(150)
    with Jobs(world.runtime) as jobs, simulator_on_socket(world.sim) as graph_url:
        env = worker_env(world, graph_url, key_entry)
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
            for app_id in (first_app, second_app, first_app):
                jobs.enqueue_check(
                    workspace_id=world.workspace_id,
                    app_id=app_id,
                    trigger=RunTrigger.MANUAL,
                    user_id=None,
                )
            deadline = time.monotonic() + 120
            while True:
                runs = _finished_runs(world)
                done = [r for r in runs if r.state != RunState.RUNNING]
                if (
                    jobs.huey.pending_count() == 0
                    and len(done) == len(runs)
                    and {r.app_id for r in done} == {first_app, second_app}
                    and len(runs) >= 2
                ):
                    time.sleep(0.5)  # a third task may still be starting its run
                    if len(_finished_runs(world)) == len(runs) and all(
                        r.state != RunState.RUNNING for r in _finished_runs(world)
                    ):
                        break
                assert all(w.poll() is None for w in workers), "a worker stopped by itself"
                assert time.monotonic() < deadline, (
                    f"checks did not finish: pending={jobs.huey.pending_count()} "
                    f"{[(r.app_id, r.state.value, r.error) for r in runs]}"
                )
                time.sleep(0.1)
        finally:
            for worker in workers:
                worker.send_signal(signal.SIGINT)
            for worker in workers:
                try:
                    worker.wait(timeout=15)
                except subprocess.TimeoutExpired:
                    worker.kill()
                    worker.wait()
    runs = _finished_runs(world)
    assert all(r.state == RunState.SUCCEEDED for r in runs), [(r.id, r.error) for r in runs]
    first = [r for r in runs if r.app_id == first_app]
    second = [r for r in runs if r.app_id == second_app]
    assert 1 <= len(first) <= 2 and len(second) == 1
    for earlier, later in itertools.pairwise(first):
        assert earlier.finished_at is not None and earlier.finished_at <= later.started_at
    other = second[0]
    assert other.finished_at is not None and first[0].finished_at is not None
    assert first[0].started_at < other.finished_at and other.started_at < first[0].finished_at
