"""Cursor chains advance on their own: no chain waits for another's pages (no lock-step rounds)."""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import gc
import json
import math
import time
from collections.abc import Iterator
from urllib.parse import parse_qs

import httpx
from meta_harness import (
    ConnectorFactory,
    expected_snapshot,
    import_business,
    observed_snapshot,
    run,
)

from bastion.connectors.base import AccountRecord, AssetsRead, GrantRecord, Snapshot
from bastion.connectors.meta import MetaConnector
from bastion.connectors.meta.simulator import Simulator, create_simulator_app, generate_scenario
from bastion.connectors.meta.sync import LIST_PAGE_SIZE, fetch_business
from bastion.connectors.meta.transform import snapshot_from_graph

PEOPLE = 260


class HoldAssetPagesUntilThePeopleAreRead(httpx.AsyncBaseTransport):
    """Holds every batch that reads asset pages until the people's last page was asked for.

    With lock-step rounds the people's next page is only sent once the round's asset batch has
    answered, so the held batch and the people chain wait for each other until the client gives up.
    """

    def __init__(self, inner: httpx.AsyncBaseTransport, people_pages: int) -> None:
        self.inner = inner
        self.people_pages = people_pages
        self.people_asked: set[str] = set()
        self.people_read = asyncio.Event()
        self.assets_asked = asyncio.Event()
        self.held = 0

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        if request.method == "POST":
            form = parse_qs((await request.aread()).decode())
            urls = [element["relative_url"] for element in json.loads(form["batch"][0])]
            # A page asked again (a retry) is still the same page.
            self.people_asked |= {url for url in urls if "/business_users" in url}
            if len(self.people_asked) >= self.people_pages:
                self.people_read.set()
            if any("/business_users" not in url for url in urls) and not self.people_read.is_set():
                self.held += 1
                self.assets_asked.set()
                await self.people_read.wait()
            elif not self.people_read.is_set():
                # A people page takes a moment, as over a network: long enough for the client to
                # ask for asset pages meanwhile (which are held), if it does at all.
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self.assets_asked.wait(), 2)
        return await self.inner.handle_async_request(request)


def test_the_people_chain_reads_to_its_end_while_asset_pages_are_still_unanswered(
    sim: Simulator, connect: ConnectorFactory
) -> None:
    sim.load(generate_scenario("small", seed=7, people=PEOPLE, assignments=1000, pages=2, pixels=1))
    # The first page comes inline with the business; every further one is a batched read.
    follow_up_pages = math.ceil(PEOPLE / LIST_PAGE_SIZE) - 1
    transport = HoldAssetPagesUntilThePeopleAreRead(
        httpx.ASGITransport(app=create_simulator_app(sim)), follow_up_pages
    )
    snapshot = import_business(connect(transport=transport))
    assert transport.held >= 1  # asset pages were indeed waiting while the people were read
    assert observed_snapshot(snapshot) == expected_snapshot(sim.dump())


def test_the_snapshot_built_while_reading_is_the_one_transformed_at_once(
    sim: Simulator, connect: ConnectorFactory
) -> None:
    # Pages capped at 7 items: many chains of every kind, asset assignees among them, so assets
    # are transformed while the people still page.
    sim.load(generate_scenario("small", seed=7, people=PEOPLE, assignments=1000, pages=2, pixels=1))
    sim.update_settings(max_page_size=7)

    async def both_ways(meta: MetaConnector) -> tuple[Snapshot, Snapshot]:
        streamed = await meta.fetch_snapshot()
        fetched = await fetch_business(meta.client, meta.business_id)
        at_once = snapshot_from_graph(
            fetched,
            graph_operations=streamed.graph_operations,
            http_requests=streamed.http_requests,
        )
        return streamed, at_once

    streamed, at_once = run(connect(), both_ways)
    assert streamed == at_once
    assert len(streamed.grants) > 100 and len(streamed.accounts) > PEOPLE
    assert observed_snapshot(streamed) == expected_snapshot(sim.dump())


def test_the_callers_idle_work_runs_while_the_people_page_and_the_rest_is_left_to_it(
    sim: Simulator, connect: ConnectorFactory
) -> None:
    # The assets come whole with the business; the people take ten pages after it.
    sim.load(generate_scenario("small", seed=7, people=10 * LIST_PAGE_SIZE, assignments=300))
    taken: list[int] = []
    handed: list[AssetsRead] = []

    def work() -> Iterator[None]:
        for step in range(100_000):
            time.sleep(0.0001)
            taken.append(step)
            yield

    steps = work()

    def idle(fetched: AssetsRead) -> Iterator[None]:
        handed.append(fetched)
        return steps

    async def with_idle_work(meta: MetaConnector) -> tuple[Snapshot, Snapshot]:
        return await meta.fetch_snapshot(idle), await meta.fetch_snapshot()

    streamed, alone = run(connect(), with_idle_work)
    during = len(taken)
    assert 0 < during < 100_000
    # What is left goes on where the fetch stopped, and the read is the same either way.
    assert next(steps) is None and taken[-1] == during
    assert streamed == dataclasses.replace(
        alone, graph_operations=streamed.graph_operations, http_requests=streamed.http_requests
    )
    # The work was handed the assets and grants once, final: the snapshot's very tuples.
    assert len(handed) == 1
    assert handed[0].assets is streamed.assets and handed[0].grants is streamed.grants
    assert len(streamed.grants) > 100


def test_the_records_go_with_the_snapshot_without_waiting_for_the_collector(
    sim: Simulator, connect: ConnectorFactory
) -> None:
    # With idle work, so that every task the fetch starts (the idle one too) is cancelled at
    # its end: no reference cycle may hold the records the snapshot lets go.
    sim.load(generate_scenario("small", seed=7, people=3 * LIST_PAGE_SIZE, assignments=300))

    def idle(_fetched: AssetsRead) -> Iterator[None]:
        while True:
            yield

    def records_alive() -> int:
        return sum(isinstance(o, GrantRecord | AccountRecord) for o in gc.get_objects())

    gc.collect()
    before = records_alive()
    gc.disable()
    try:
        snapshot = run(connect(), lambda meta: meta.fetch_snapshot(idle))
        assert len(snapshot.grants) > 100
        assert records_alive() >= before + len(snapshot.grants)
        del snapshot
        assert records_alive() == before
    finally:
        gc.enable()
