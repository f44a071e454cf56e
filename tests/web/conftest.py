"""Pages against a whole Bastion: the checks' world (simulator, directory, connected app) served
by ``create_app`` on a loopback port; jobs run immediately, in the request that queues them."""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import pytest

from bastion.app import create_app
from bastion.jobs import Jobs
from tests.checks.conftest import World, mailbox, world  # noqa: F401 - fixtures used here
from tests.conftest import serve_on_loopback
from tests.web.web_support import sign_in_admin


@pytest.fixture
def client(world: World) -> Iterator[httpx.Client]:  # noqa: F811 - the imported fixture
    jobs = Jobs(world.runtime, immediate=True)
    with (
        serve_on_loopback(create_app(world.runtime, jobs=jobs)) as base_url,
        httpx.Client(base_url=base_url, follow_redirects=False, timeout=60) as client,
    ):
        yield client
    jobs.close()


@pytest.fixture
def admin(client: httpx.Client, world: World) -> httpx.Client:  # noqa: F811
    """The client signed in as the world's admin (who chose their own password)."""
    sign_in_admin(client, world)
    return client
