"""An app's first check on PostgreSQL writes its assets and grants while the people still page
(``bastion/checks/early.py``), and ends with exactly the rows the load alone would write."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Engine, text

import bastion.checks.early as early
import bastion.connectors.meta.sync as sync
from bastion.checks.load import EarlyRows
from bastion.checks.stored import StoredView
from bastion.connectors.meta.simulator import Simulator, generate_scenario
from bastion.connectors.meta.transform import SnapshotBuilder
from bastion.security.vault import KeyRing
from bastion.storage.models.enums import RunState
from tests.checks.conftest import World, _Mailbox, build_runtime, connected_world
from tests.conftest import _migrated_postgres

pytestmark = pytest.mark.postgres


class Spy:
    """What the early writes wrote, and whether the load went on with it."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch) -> None:
        self.written: list[EarlyRows] = []
        self.handed: list[StoredView] = []
        written, current = early.EarlyWrites._written, early.EarlyWrites.current

        def spied_written(writes: early.EarlyWrites, fetched: Any) -> EarlyRows:
            view = written(writes, fetched)
            self.written.append(view)
            return view

        def spied_current(writes: early.EarlyWrites, session: Any) -> StoredView | None:
            view = current(writes, session)
            if view is not None:
                self.handed.append(view)
            return view

        monkeypatch.setattr(early.EarlyWrites, "_written", spied_written)
        monkeypatch.setattr(early.EarlyWrites, "current", spied_current)


def _world(
    sim: Simulator, engine: Engine, tmp_path: Path, key_ring: KeyRing, mailbox: _Mailbox
) -> World:
    runtime = build_runtime(engine, tmp_path, sim, key_ring, mailbox.port)  # type: ignore[attr-defined]
    return connected_world(runtime, sim, key_ring, mailbox)


def _rows(engine: Engine) -> dict[str, Any]:
    """The app's rows by external ids (row ids aside), and who each person's seat is."""
    queries = {
        "accounts": "SELECT external_id, kind, name, email, app_role, state, matched_user_id, "
        "match_rule, present, details::text, first_seen_run_id FROM accounts",
        "assets": "SELECT external_id, name, type, ownership, owner_business_id, present, "
        "first_seen_run_id, last_seen_run_id FROM assets",
        "grants": "SELECT a.external_id, s.external_id, g.tasks::text, g.present, "
        "g.first_seen_run_id FROM grants g JOIN accounts a ON a.id = g.account_id "
        "JOIN assets s ON s.id = g.asset_id",
        "grant_count": "SELECT count(*) FROM grants",
        "members": "SELECT user_id, role, onboarding_status FROM app_members",
        "partner_grants": "SELECT p.external_id, s.external_id, g.tasks::text "
        "FROM partner_grants g JOIN partners p ON p.id = g.partner_id "
        "JOIN assets s ON s.id = g.asset_id",
        "seats": "SELECT matched_user_id, (array_agg(external_id ORDER BY id))[1] FROM accounts "
        "WHERE matched_user_id IS NOT NULL AND kind <> 'invitation' GROUP BY matched_user_id",
    }
    with engine.connect() as connection:
        return {
            name: sorted(repr(tuple(row)) for row in connection.execute(text(query)))
            for name, query in queries.items()
        }


# A first check in a new database: the world, its run and its rows (``_rows``).
FirstCheck = Callable[[], tuple[World, Any, dict[str, Any]]]


def _checked_alone(first_check: FirstCheck, monkeypatch: pytest.MonkeyPatch) -> tuple[Any, Any]:
    """The run and the rows of a first check whose load writes everything itself."""
    with monkeypatch.context() as alone:
        alone.setattr(early.EarlyWrites, "open", classmethod(lambda cls, *a, **k: None))
        _, reference, expected = first_check()
    return reference, expected


@pytest.fixture
def first_check(
    postgres_engine: Engine, tmp_path: Path, key_ring: KeyRing, mailbox: _Mailbox
) -> Iterator[FirstCheck]:
    """Runs an app's first check of one business in a new database each time: its run's
    counts and rows."""
    url = postgres_engine.url.render_as_string(hide_password=False)
    sim = Simulator(generate_scenario("small", seed=42, people=180, assignments=500))

    def run() -> tuple[World, Any, dict[str, Any]]:
        for used in engines:
            used.dispose()  # the last world's connections, before its rows are deleted
        engine = _migrated_postgres(url)
        engines.append(engine)
        world = _world(sim, engine, tmp_path, key_ring, mailbox)
        checked = world.check()
        assert checked.state == RunState.SUCCEEDED, checked.error
        return world, checked, _rows(engine)

    engines: list[Engine] = []
    yield run
    for engine in engines:
        engine.dispose()


def test_the_first_check_writes_during_the_fetch_what_the_load_alone_would(
    first_check: FirstCheck,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    reference, expected = _checked_alone(first_check, monkeypatch)
    spy = Spy(monkeypatch)

    world, run, rows = first_check()

    assert len(spy.written) == len(spy.handed) == 1
    assert spy.written[0].grants and spy.handed[0].early is spy.written[0]
    assert rows == expected
    assert run.counts == reference.counts
    # A second check compares with what the first wrote, and finds nothing changed.
    again = world.check()
    assert again.state == RunState.SUCCEEDED
    assert again.counts["changes"] == 0
    assert len(spy.written) == 1


def test_grants_of_accounts_the_snapshot_lacks_and_grants_listed_twice_load_as_alone(
    first_check: FirstCheck,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # Every tenth person's record is lost: their grants have no account to belong to.
    add_people = SnapshotBuilder.add_people

    def lossy(builder: SnapshotBuilder, nodes: Any) -> None:
        add_people(builder, [n for n in nodes if int(str(n.get("id"))[-1]) != 7])

    monkeypatch.setitem(sync._ADD_ACCOUNTS, "business_users", lossy)
    # And every asset lists its first assignee twice: one grant, two records.
    add_assignees = SnapshotBuilder.add_assignees

    def twice(builder: SnapshotBuilder, asset_id: str, nodes: Any) -> None:
        nodes = list(nodes)
        add_assignees(builder, asset_id, nodes[:1] + nodes)

    monkeypatch.setattr(SnapshotBuilder, "add_assignees", twice)
    reference, expected = _checked_alone(first_check, monkeypatch)
    spy = Spy(monkeypatch)

    _, run, rows = first_check()

    assert spy.handed
    assert reference.counts["unresolved_grants"] > 0
    assert sum(spy.written[0].records_of.values()) > sum(spy.written[0].pairs.values())
    assert run.counts == reference.counts
    assert rows == expected


def test_when_the_writes_fail_the_load_writes_everything(
    first_check: FirstCheck,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    reference, expected = _checked_alone(first_check, monkeypatch)
    insert_rows = early.insert_rows
    calls: list[str] = []

    def failing(connection: Any, table: Any, *args: Any, **kwargs: Any) -> None:
        calls.append(table.name)
        if table.name == "grants":
            # The assets went in already: the transaction is rolled back, not half-kept.
            raise RuntimeError("the server went away")
        insert_rows(connection, table, *args, **kwargs)

    monkeypatch.setattr(early, "insert_rows", failing)
    spy = Spy(monkeypatch)

    _, run, rows = first_check()

    assert calls == ["assets", "grants"]
    assert not spy.handed
    assert run.counts == reference.counts
    assert rows == expected
