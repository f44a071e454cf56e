"""Cursor chains advance on their own: no chain waits for another's pages (no lock-step rounds)."""

from __future__ import annotations

import asyncio
import json
import math
from urllib.parse import parse_qs

import httpx
from meta_harness import ConnectorFactory, expected_snapshot, import_business, observed_snapshot

from bastion.connectors.meta.simulator import Simulator, create_simulator_app, generate_scenario
from bastion.connectors.meta.sync import LIST_PAGE_SIZE

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
                await self.people_read.wait()
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
