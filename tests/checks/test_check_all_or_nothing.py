"""A check whose fetch fails on the people's very last page leaves the database as it was.

The business is large enough for the people to take several pages, and differs from what the
last check saw (a person gone, a role changed, a person added), so a check that applied anything
before the whole fetch succeeded would leave a trace: an account marked gone, a Change, a grant.
"""

from __future__ import annotations

import dataclasses
import json
import math
from pathlib import Path
from urllib.parse import parse_qs

import httpx
import pytest
from sqlalchemy import Connection, Engine, inspect, text

import bastion.checks.early as early
from bastion.connectors.meta.simulator import Simulator, create_simulator_app, generate_scenario
from bastion.connectors.meta.sync import LIST_PAGE_SIZE
from bastion.security.vault import KeyRing
from bastion.storage.models.enums import RunState
from tests.checks.conftest import World, _Mailbox, build_runtime, connected_world

PEOPLE = 260
# What a check writes even when it fails: its own run, the audit of it (and the workspace's
# audit chain head), and the app's status.
WRITTEN_BY_A_FAILED_CHECK = {"check_runs", "audit_events", "workspaces", "apps", "alembic_version"}


class FailTheLastPeoplePage(httpx.AsyncBaseTransport):
    """Passes requests to the simulator; once armed, the request that asks for the people's
    last page meets a server error on that page, every time it is asked."""

    def __init__(self, sim: Simulator, follow_up_pages: int) -> None:
        self.sim = sim
        self.inner = httpx.ASGITransport(app=create_simulator_app(sim))
        self.follow_up_pages = follow_up_pages
        self.armed = False
        self.people_pages: set[str] = set()
        self.failed = False

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        if self.armed and request.method == "POST":
            form = parse_qs((await request.aread()).decode())
            urls = [element["relative_url"] for element in json.loads(form["batch"][0])]
            self.people_pages |= {url for url in urls if "/business_users" in url}
            if any("/business_users" in url for url in urls) and (
                len(self.people_pages) == self.follow_up_pages
            ):
                # Enough for the client's retries too; the fault matches that page alone.
                self.sim.inject_fault("http_500", count=10, path="/business_users")
                self.failed = True
        return await self.inner.handle_async_request(request)


@pytest.fixture
def paged_world(engine: Engine, tmp_path: Path, key_ring: KeyRing, mailbox: _Mailbox) -> World:
    sim = Simulator(generate_scenario("small", seed=42, people=PEOPLE, assignments=600))
    runtime = build_runtime(engine, tmp_path, sim, key_ring, mailbox.port)  # type: ignore[attr-defined]
    transport = FailTheLastPeoplePage(sim, math.ceil(PEOPLE / LIST_PAGE_SIZE) - 1)
    runtime = dataclasses.replace(
        runtime,
        connector_options=dataclasses.replace(runtime.connector_options, transport=transport),
    )
    return connected_world(runtime, sim, key_ring, mailbox, {"transport": transport})


def _rows(engine: Engine) -> dict[str, list[str]]:
    """Every row of every table a successful check could write."""
    names = sorted(set(inspect(engine).get_table_names()) - WRITTEN_BY_A_FAILED_CHECK)
    with engine.connect() as connection:
        return {name: _table_rows(connection, name) for name in names}


def _table_rows(connection: Connection, name: str) -> list[str]:
    return sorted(repr(tuple(row)) for row in connection.execute(text(f"SELECT * FROM {name}")))


def test_a_fault_on_the_last_people_page_leaves_the_database_as_it_was(
    paged_world: World,
) -> None:
    world = paged_world
    assert world.check().state == RunState.SUCCEEDED
    people = [p for p in world.sim.dump()["people"] if p["role"] == "EMPLOYEE"]
    world.sim.remove_person(people[0]["id"])
    world.sim.set_role(people[1]["id"], "ADMIN")
    world.sim.add_person(name="Nina New", email="nina.new@example.test")
    before = _rows(world.runtime.engine)
    transport: FailTheLastPeoplePage = world.extra["transport"]
    transport.armed = True

    run = world.check()

    assert transport.failed  # the fault did meet the last page, not an earlier one
    assert run.state == RunState.FAILED
    assert "business_users" in (run.error or "")
    assert _rows(world.runtime.engine) == before

    # The same differences are applied by the next check that reads everything.
    world.sim.clear_faults()
    transport.armed = False
    again = world.check()
    assert again.state == RunState.SUCCEEDED
    assert again.counts["account_removed"] == 1
    assert again.counts["role_changed"] == 1
    assert again.counts["account_added"] == 1


def test_an_apps_first_check_failing_on_the_last_people_page_writes_none_of_its_rows(
    paged_world: World, monkeypatch: pytest.MonkeyPatch
) -> None:
    # On PostgreSQL the first check writes its assets and grants while the people page
    # (bastion/checks/early.py): the failure must take them back.
    written: list[object] = []
    writes = early.EarlyWrites._written

    def spied(self: early.EarlyWrites, fetched: object) -> object:
        written.append(writes(self, fetched))  # type: ignore[arg-type]
        return written[-1]

    monkeypatch.setattr(early.EarlyWrites, "_written", spied)
    world = paged_world
    before = _rows(world.runtime.engine)
    transport: FailTheLastPeoplePage = world.extra["transport"]
    transport.armed = True

    run = world.check()

    assert transport.failed
    assert run.state == RunState.FAILED
    assert bool(written) == (world.runtime.engine.dialect.name == "postgresql")
    assert _rows(world.runtime.engine) == before
    world.sim.clear_faults()
    transport.armed = False
    again = world.check()
    assert again.state == RunState.SUCCEEDED
    assert again.counts["grants"] > 0
