"""A person deprovisioned while a check of their app finishes is never lost under it.

The deprovisioning asks the app for a check soon (``request_app_checks``); a finishing check sets
the app's next check to the next day. On PostgreSQL both lock the app's row, the check before it
reads the directory for its load: so the check either sees the person gone, or the request comes
after it and keeps its time. (SQLite has one writer at a time, and a commit during the fetch makes
the load read the directory again: ``tests/checks/test_check_stored_read.py``.)
"""

from __future__ import annotations

import threading
import time
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Engine, select, text
from sqlalchemy.exc import OperationalError
from sqlalchemy.orm import Session

import bastion.actions.checks as checks
from bastion.actions.actors import Actor
from bastion.actions.directory import deprovision_user
from bastion.checks.classify import Classifier
from bastion.connectors.meta.simulator import Simulator, generate_scenario
from bastion.security.vault import KeyRing
from bastion.storage.models import Account, App, utcnow
from bastion.storage.models.enums import AppStatus, RunState, UserSource
from tests.checks.conftest import World, _Mailbox, build_runtime, connected_world

CHECK_DELAY = timedelta(minutes=5)


@pytest.fixture
def pg_world(
    postgres_engine: Engine, tmp_path: Path, key_ring: KeyRing, mailbox: _Mailbox
) -> World:
    sim = Simulator(generate_scenario("small", seed=42))
    runtime = build_runtime(postgres_engine, tmp_path, sim, key_ring, mailbox.port)  # type: ignore[attr-defined]
    world = connected_world(runtime, sim, key_ring, mailbox)
    assert world.check().state == RunState.SUCCEEDED
    return world


@pytest.mark.postgres
def test_a_check_holds_its_apps_row_while_it_reads_the_directory_for_its_load(
    pg_world: World, monkeypatch: pytest.MonkeyPatch
) -> None:
    world = pg_world
    seen: list[bool] = []
    read = Classifier.read

    def read_while_another_tries_the_row(session: Session, app: App, options: Any) -> Classifier:
        with world.runtime.engine.connect() as other:
            try:
                other.execute(
                    text("SELECT id FROM apps WHERE id = :id FOR UPDATE NOWAIT"), {"id": app.id}
                )
                seen.append(False)
            except OperationalError:
                seen.append(True)
        return read(session, app, options)

    monkeypatch.setattr(checks.Classifier, "read", staticmethod(read_while_another_tries_the_row))
    run = world.check()
    assert run.state == RunState.SUCCEEDED, run.error
    assert seen == [True]


@pytest.mark.postgres
def test_a_deprovisioning_waiting_for_a_finishing_check_keeps_the_check_it_asks_for(
    pg_world: World,
) -> None:
    world = pg_world
    engine = world.runtime.engine
    with world.runtime.sessions.begin() as session:
        person_id = session.scalars(
            select(Account.matched_user_id).where(
                Account.app_id == world.app_id,
                Account.present.is_(True),
                Account.matched_user_id.is_not(None),
            )
        ).first()
        assert person_id is not None
        # A check is due already (asked for a minute ago), the one now finishing.
        session.get_one(App, world.app_id).next_check_at = utcnow() - timedelta(minutes=1)
    errors: list[BaseException] = []

    def deprovision() -> None:
        try:
            with world.runtime.sessions.begin() as session:
                deprovision_user(
                    session,
                    workspace_id=world.workspace_id,
                    user_id=person_id,
                    source=UserSource.SCIM,
                    actor=Actor.system("scim"),
                    check_delay=CHECK_DELAY,
                )
        except BaseException as exc:
            errors.append(exc)

    with engine.connect() as finishing:
        # The check's load holds the app's row (``_lock_app``) ...
        finishing.execute(
            text("SELECT id FROM apps WHERE id = :id FOR UPDATE"), {"id": world.app_id}
        )
        worker = threading.Thread(target=deprovision)
        worker.start()
        _wait_for_a_blocked_lock(engine)
        # ... and ends setting the next check to the next day, as a finished check does.
        finishing.execute(
            text("UPDATE apps SET next_check_at = :later, status = 'healthy' WHERE id = :id"),
            {"later": utcnow() + timedelta(days=1), "id": world.app_id},
        )
        finishing.commit()
        worker.join(timeout=60)
    assert not worker.is_alive() and not errors, errors
    app = world.app()
    assert app.status == AppStatus.REQUIRES_CHECK
    assert app.next_check_at is not None
    assert app.next_check_at <= utcnow() + CHECK_DELAY


def _wait_for_a_blocked_lock(engine: Engine) -> None:
    """Until some session of this database waits for a row lock."""
    deadline = time.monotonic() + 30
    with engine.connect() as watcher:
        while time.monotonic() < deadline:
            waiting = watcher.scalar(
                text(
                    "SELECT count(*) FROM pg_locks l JOIN pg_stat_activity a ON a.pid = l.pid "
                    "WHERE NOT l.granted AND a.datname = current_database()"
                )
            )
            watcher.rollback()
            if waiting:
                return
            time.sleep(0.02)
    raise AssertionError("the deprovisioning never waited for the check's lock")
