"""What a check reads of the database during its fetch is used only while it is still current.

On SQLite the directory and the app's grants are read while the fetch waits for Meta's pages
(bastion/checks/stored.py); a commit by anyone else in between makes the load read them again.
"""

from __future__ import annotations

import asyncio
import dataclasses
import json
from datetime import timedelta
from pathlib import Path

import httpx
import pytest
from sqlalchemy import Engine, Text, cast, select, update
from sqlalchemy.orm import Session

from bastion.actions.actors import Actor
from bastion.actions.apps import connector_for
from bastion.actions.checks import start_check
from bastion.actions.directory import create_person
from bastion.checks.classify import _ACCOUNT_COLUMNS, Classifier, _AccountRow, read_directory
from bastion.checks.load import (
    SnapshotLoader,
    StoredGrants,
    StoredRows,
    _account_details,
    _details_facts,
    _record_facts,
    explanations_since,
    pair_key,
    plan_grants,
    read_stored,
)
from bastion.checks.steps import drained
from bastion.checks.stored import StoredRead
from bastion.concurrency import run_sync
from bastion.connectors.base import AssetRecord, AssetsRead, GrantRecord, Snapshot
from bastion.connectors.meta.simulator import Simulator, create_simulator_app, generate_scenario
from bastion.directory_records import EmailRecord, PersonRecord
from bastion.security.vault import KeyRing
from bastion.storage.models import Account, App, Asset, Change, CheckRun, Grant, User
from bastion.storage.models.enums import (
    AccountKind,
    AccountState,
    RunState,
    RunTrigger,
    UserSource,
)
from tests.checks.conftest import World, _Mailbox, build_runtime, connected_world


@pytest.fixture
def sqlite_world(
    sqlite_engine: Engine, tmp_path: Path, key_ring: KeyRing, mailbox: _Mailbox
) -> World:
    """The read during the fetch is SQLite's alone (PostgreSQL reads in the load)."""
    sim = Simulator(generate_scenario("small", seed=42))
    runtime = build_runtime(sqlite_engine, tmp_path, sim, key_ring, mailbox.port)  # type: ignore[attr-defined]
    return connected_world(runtime, sim, key_ring, mailbox)


def _open(world: World) -> StoredRead:
    stored = StoredRead.open(
        world.runtime.engine, workspace_id=world.workspace_id, app_id=world.app_id
    )
    assert stored is not None
    stored.finish()
    return stored


def test_what_was_read_is_used_when_nobody_committed_since(sqlite_world: World) -> None:
    world = sqlite_world
    assert world.check().state == RunState.SUCCEEDED
    stored = _open(world)
    try:
        with stored.session(world.runtime.sessions) as session, session.begin():
            # A read-only transaction holds no write lock: another writer could still commit.
            assert stored.current(session) is None
            session.execute(update(CheckRun).values(error=None))
            current = stored.current(session)
            assert current is not None
            connection = session.connection()
            assert current[0] == drained(read_directory(connection, world.workspace_id))
            assert current[1] == drained(read_stored(connection, world.app_id))
            assert current[1].accounts and current[1].assets and current[1].grants
    finally:
        stored.close()


def test_a_session_on_another_connection_cannot_vouch_for_the_read(sqlite_world: World) -> None:
    world = sqlite_world
    stored = _open(world)
    try:
        with world.runtime.sessions.begin() as session:
            session.execute(update(CheckRun).values(error=None))
            assert stored.current(session) is None
    finally:
        stored.close()


def test_a_commit_by_another_connection_makes_the_load_read_again(sqlite_world: World) -> None:
    world = sqlite_world
    assert world.check().state == RunState.SUCCEEDED
    stored = _open(world)
    try:
        with world.runtime.sessions.begin() as other:
            other.execute(update(User).values(display_name=User.display_name + " (renamed)"))
        with stored.session(world.runtime.sessions) as session, session.begin():
            session.execute(update(CheckRun).values(error=None))
            assert stored.current(session) is None
    finally:
        stored.close()


def test_only_sqlite_reads_during_the_fetch(world: World) -> None:
    # PostgreSQL has no counter of other connections' commits: its load reads for itself.
    stored = StoredRead.open(
        world.runtime.engine, workspace_id=world.workspace_id, app_id=world.app_id
    )
    assert (stored is not None) == (world.runtime.engine.dialect.name == "sqlite")
    if stored is not None:
        stored.close()


class JoinDuringTheFetch(httpx.AsyncBaseTransport):
    """Passes requests to the simulator; once armed, the first batch request waits a moment
    (the check's reads during the fetch are done by then) while a person joins the directory."""

    def __init__(self, sim: Simulator) -> None:
        self.inner = httpx.ASGITransport(app=create_simulator_app(sim))
        self.joiner: tuple[World, str] | None = None
        self.done = False

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        if self.joiner is not None and not self.done and request.method == "POST":
            self.done = True
            await asyncio.sleep(0.3)
            world, email = self.joiner
            with world.runtime.sessions.begin() as session:
                create_person(
                    session,
                    workspace_id=world.workspace_id,
                    person=PersonRecord(
                        user_name=email,
                        display_name="Jo Joiner",
                        external_id="joiner-1",
                        active=True,
                        emails=(EmailRecord(email, "work", True),),
                    ),
                    source=UserSource.SCIM,
                    actor=Actor.system("tests"),
                    check_delay=timedelta(minutes=5),
                )
        return await self.inner.handle_async_request(request)


@pytest.fixture
def joining_world(engine: Engine, tmp_path: Path, key_ring: KeyRing, mailbox: _Mailbox) -> World:
    sim = Simulator(generate_scenario("small", seed=42, people=260, assignments=600))
    runtime = build_runtime(engine, tmp_path, sim, key_ring, mailbox.port)  # type: ignore[attr-defined]
    transport = JoinDuringTheFetch(sim)
    runtime = dataclasses.replace(
        runtime,
        connector_options=dataclasses.replace(runtime.connector_options, transport=transport),
    )
    return connected_world(runtime, sim, key_ring, mailbox, {"transport": transport})


def test_a_person_who_joins_the_directory_during_the_fetch_is_matched_by_that_check(
    joining_world: World,
) -> None:
    world = joining_world
    assert world.check().state == RunState.SUCCEEDED
    with world.runtime.sessions() as session:
        unmatched = _first_unmatched_person(session)
        account_id, email = unmatched.id, unmatched.email
        assert email is not None
    transport: JoinDuringTheFetch = world.extra["transport"]
    transport.joiner = (world, email)
    run = world.check()
    assert run.state == RunState.SUCCEEDED, run.error
    assert transport.done
    with world.runtime.sessions() as session:
        account = session.get_one(Account, account_id)
        joiner = session.scalars(select(User).where(User.external_id == "joiner-1")).one()
    assert (account.state, account.matched_user_id) == (AccountState.ONBOARDED, joiner.id)


def _first_unmatched_person(session: Session) -> Account:
    """The first present person's account in the Unmatched tab that has an e-mail address."""
    return session.scalars(
        select(Account)
        .where(
            Account.present.is_(True),
            Account.state == AccountState.UNMATCHED,
            Account.kind == AccountKind.PERSON,
            Account.email.is_not(None),
        )
        .order_by(Account.id)
        .limit(1)
    ).one()


def _fetched(world: World) -> Snapshot:
    with world.runtime.sessions() as session:
        app = session.get_one(App, world.app_id)
        connector = connector_for(
            session, world.runtime.require_key_ring(), world.runtime.connector_options, app
        )

    async def fetch() -> Snapshot:
        try:
            return await connector.fetch_snapshot()
        finally:
            await connector.aclose()

    return run_sync(fetch())


def _loader(
    session: Session, app: App, run: CheckRun, *, baseline: bool, stored: StoredRows | None = None
) -> SnapshotLoader:
    """A load of ``app`` in ``run``, with everything since the app was connected to explain."""
    return SnapshotLoader(
        session,
        app,
        run,
        baseline=baseline,
        explanations=explanations_since(session, app.id, None),
        classifier=Classifier.read(session, app, None),
        stored=stored,
    )


def _load(world: World, snapshot: Snapshot, fetched: AssetsRead | None) -> tuple[object, ...]:
    """Load ``snapshot`` after the last check, with the grants compared beforehand when
    ``fetched`` is given; what it wrote, rolled back after."""
    session = world.runtime.sessions()
    try:
        app = session.get_one(App, world.app_id)
        run = session.scalars(select(CheckRun).where(CheckRun.app_id == app.id)).first()
        assert run is not None
        stored = drained(read_stored(session.connection(), app.id))
        if fetched is not None:
            stored.grant_plan = drained(plan_grants(stored, fetched))
            assert stored.grant_plan.unchanged and stored.grant_plan.rest
        result = _loader(session, app, run, baseline=False, stored=stored).load(snapshot)
        grants = session.execute(
            select(Grant.account_id, Grant.asset_id, Grant.tasks, Grant.present)
            .where(Grant.app_id == app.id)
            .order_by(Grant.account_id, Grant.asset_id)
        ).all()
        changes = session.execute(
            select(Change.kind, Change.summary, Change.account_id, Change.asset_id)
            .where(Change.app_id == app.id)
            .order_by(Change.kind, Change.summary)
        ).all()
        return result.counts, result.changes, result.unresolved_grants, grants, changes
    finally:
        session.rollback()
        session.close()


def test_grants_compared_during_the_fetch_load_as_the_load_comparing_them_all(
    sqlite_world: World,
) -> None:
    world = sqlite_world
    assert world.check().state == RunState.SUCCEEDED
    read = _fetched(world)
    grants = list(read.grants)
    # A person who left (their grants are the app's still, but nobody's in the snapshot)...
    gone = grants[0].account_external_id
    accounts = tuple(a for a in read.accounts if a.external_id != gone)
    # ...a grant whose tasks changed, one dropped, one listed twice (the first counts), and one
    # on an asset the app did not have before.
    changed = next(i for i, g in enumerate(grants) if g.account_external_id != gone)
    grants[changed] = dataclasses.replace(grants[changed], tasks=("MANAGE", "ADVERTISE"))
    dropped = grants.pop(changed + 1)
    twice = grants[changed + 2]
    grants.append(dataclasses.replace(twice, tasks=("ANALYZE",)))
    new_asset = AssetRecord("asset-new", "New page", "page", "owned", None)
    grants.append(GrantRecord(twice.account_external_id, "asset-new", ("ANALYZE",)))
    fetched = AssetsRead((*read.assets, new_asset), tuple(grants))
    # Partners' people are added after the fetch: their grants follow the fetched ones.
    partner_grant = GrantRecord(
        grants[changed + 3].account_external_id, dropped.asset_external_id, ("ADVERTISE",)
    )
    snapshot = dataclasses.replace(
        read, accounts=accounts, assets=fetched.assets, grants=(*fetched.grants, partner_grant)
    )
    planned = _load(world, snapshot, fetched)
    assert planned == _load(world, snapshot, None)
    counts, changes, unresolved, _grants, _changes = planned
    assert unresolved > 0 and changes > 0
    assert counts["grant_changed"] >= 1 and counts["grant_removed"] >= 1


def test_an_account_the_load_changes_is_sorted_again_not_as_decided_during_the_fetch(
    sqlite_world: World,
) -> None:
    world = sqlite_world
    assert world.check().state == RunState.SUCCEEDED
    with world.runtime.sessions() as session:
        unmatched = _first_unmatched_person(session)
        external_id, account_id = unmatched.external_id, unmatched.id
        person = session.scalars(
            select(User).where(User.workspace_id == world.workspace_id).order_by(User.id)
        ).first()
        assert person is not None and person.email
        person_id, email = person.id, person.email
    # The app now shows the account with a directory person's address: the tab decided
    # during the fetch, from the stored row, no longer holds.
    seat = world.sim.state.people[external_id]
    world.sim.state.people[external_id] = dataclasses.replace(seat, email=email)
    run = world.check()
    assert run.state == RunState.SUCCEEDED, run.error
    with world.runtime.sessions() as session:
        account = session.get_one(Account, account_id)
    assert account.email == email
    assert (account.state, account.matched_user_id) != (AccountState.UNMATCHED, None)
    assert account.matched_user_id == person_id


def test_an_added_accounts_row_has_the_columns_classify_reads() -> None:
    assert _AccountRow._fields == tuple(column.key for column in _ACCOUNT_COLUMNS)


def test_stored_grants_keep_each_grants_id_tasks_and_presence() -> None:
    grants = StoredGrants()
    big = 2**40 + 7  # ids past 32 bits keep clear of the task list's number
    grants.add(pair_key(1, 2), big, ("ADVERTISE", "ANALYZE"), True)
    grants.add(pair_key(1, 3), 5, ("MANAGE",), False)
    grants.add(pair_key(4, 2), 6, ("ADVERTISE", "ANALYZE"), True)
    assert len(grants) == 3
    assert grants.get(pair_key(1, 2)) == (big, ("ADVERTISE", "ANALYZE"), True)
    assert grants.get(pair_key(1, 3)) == (5, ("MANAGE",), False)
    assert grants.get(pair_key(2, 1)) is None
    assert grants.holds(pair_key(4, 2), ("ADVERTISE", "ANALYZE"))
    assert not grants.holds(pair_key(4, 2), ("ADVERTISE",))
    assert not grants.holds(pair_key(1, 3), ("MANAGE",))  # not present
    assert not grants.holds(pair_key(9, 9), ("MANAGE",))
    same = StoredGrants()  # numbered in another order, still the same grants
    same.add(pair_key(1, 3), 5, ("MANAGE",), False)
    same.add(pair_key(4, 2), 6, ("ADVERTISE", "ANALYZE"), True)
    same.add(pair_key(1, 2), big, ("ADVERTISE", "ANALYZE"), True)
    assert same == grants and dict(same.items()) == dict(grants.items())
    same.add(pair_key(1, 3), 5, ("MANAGE",), True)
    assert same != grants


def test_a_re_check_rewrites_the_accounts_whose_details_changed_and_only_those(
    world: World,
) -> None:
    assert world.check().state == RunState.SUCCEEDED
    with world.runtime.sessions.begin() as session:
        people = session.scalars(
            select(Account)
            .where(Account.app_id == world.app_id, Account.kind == AccountKind.PERSON)
            .order_by(Account.id)
            .limit(3)
        ).all()
        changed, reordered, untouched = (a.external_id for a in people)
        keys = list(people[1].details)
        # The same details written with their keys in another order: another text, the same
        # details, which a check leaves as they are.
        session.execute(
            update(Account)
            .where(Account.id == people[1].id)
            .values(details=dict(reversed(list(people[1].details.items()))))
        )
    before = _details_texts(world)
    seat = world.sim.state.people[changed]
    flipped = "not_enabled" if seat.two_fac_status == "enabled" else "enabled"
    world.sim.state.people[changed] = dataclasses.replace(seat, two_fac_status=flipped)
    run = world.check()
    assert run.state == RunState.SUCCEEDED, run.error
    after = _details_texts(world)
    assert json.loads(after[changed])["two_factor_status"] == flipped
    assert json.loads(before[reordered]) == json.loads(after[reordered])
    assert len(keys) > 1 and list(json.loads(before[reordered])) == keys[::-1]
    assert {k for k in after if after[k] != before[k]} == {changed}
    assert after[untouched] == before[untouched]


def test_every_kind_of_account_is_compared_by_its_details_as_the_load_writes_them(
    sqlite_world: World,
) -> None:
    snapshot = _fetched(sqlite_world)
    kinds = {record.kind for record in snapshot.accounts}
    assert {"person", "invitation", "system_user"} <= kinds
    for record in snapshot.accounts:
        written = json.dumps(_account_details(record))
        assert _details_facts(written) == _record_facts(record), record
    # Details a record never writes are compared as a whole, not as a record's.
    assert _details_facts('{"first_name": "Ann", "legacy": "x"}') is None
    assert _details_facts('{"first_name": null}') is None
    assert _details_facts("[1, 2]") is None
    assert _details_facts("not json") is None


def test_details_holding_what_no_record_writes_are_rewritten_by_a_re_check(
    world: World,
) -> None:
    assert world.check().state == RunState.SUCCEEDED
    with world.runtime.sessions.begin() as session:
        first, second = session.scalars(
            select(Account)
            .where(Account.app_id == world.app_id, Account.kind == AccountKind.PERSON)
            .order_by(Account.id)
            .limit(2)
        ).all()
        written = {first.external_id: dict(first.details), second.external_id: second.details}
        session.execute(
            update(Account)
            .where(Account.id == first.id)
            .values(details={**first.details, "legacy": "kept by an older version"})
        )
        session.execute(
            update(Account)
            .where(Account.id == second.id)
            .values(details={**second.details, "first_name": None})
        )
    assert world.check().state == RunState.SUCCEEDED
    after = _details_texts(world)
    assert {k: json.loads(after[k]) for k in written} == written


def _details_texts(world: World) -> dict[str, str]:
    """Each account's details as stored: their JSON text."""
    with world.runtime.sessions() as session:
        rows = session.execute(
            select(Account.external_id, cast(Account.details, Text)).where(
                Account.app_id == world.app_id
            )
        )
        return {external_id: text for external_id, text in rows}


def _first_load(world: World, snapshot: Snapshot, *, baseline: bool) -> tuple[object, ...]:
    """Load ``snapshot`` as the app's first rows (a baseline or not); what it wrote, by
    external ids, rolled back after."""
    session = world.runtime.sessions()
    try:
        app = session.get_one(App, world.app_id)
        run = start_check(
            session,
            workspace_id=world.workspace_id,
            app_id=app.id,
            trigger=RunTrigger.MANUAL,
            actor=Actor.system("test"),
        )
        result = _loader(session, app, run, baseline=baseline).load(snapshot)
        holder, asset = Account.__table__.alias(), Asset.__table__.alias()
        grants = session.execute(
            select(
                holder.c.external_id, asset.c.external_id, cast(Grant.tasks, Text), Grant.present
            )
            .join(holder, holder.c.id == Grant.account_id)
            .join(asset, asset.c.id == Grant.asset_id)
            .order_by(holder.c.external_id, asset.c.external_id)
        ).all()
        counts = {k: result.counts.get(k) for k in ("grants", "grant_added", "accounts", "assets")}
        return counts, result.unresolved_grants, grants
    finally:
        session.rollback()
        session.close()


def test_a_first_checks_grants_are_written_as_the_comparison_would_write_them(
    sqlite_world: World,
) -> None:
    world = sqlite_world
    read = _fetched(world)
    grants = list(read.grants)
    # Tasks not in order; listed twice (the first counts); on an asset the snapshot lacks; of
    # an account it lacks.
    grants[5] = dataclasses.replace(grants[5], tasks=("MANAGE", "ADVERTISE"))
    grants.append(dataclasses.replace(grants[3], tasks=("ANALYZE",)))
    grants.append(GrantRecord(grants[0].account_external_id, "asset-unknown", ("ANALYZE",)))
    grants.append(GrantRecord("account-unknown", grants[0].asset_external_id, ("ANALYZE",)))
    snapshot = dataclasses.replace(read, grants=tuple(grants))
    baseline = _first_load(world, snapshot, baseline=True)
    assert baseline == _first_load(world, snapshot, baseline=False)
    counts, unresolved, rows = baseline
    assert unresolved == 2 and len(rows) == len(read.grants) == counts["grants"]
    assert counts["grant_added"] == len(rows)
