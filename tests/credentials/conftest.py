"""Saved logins against a whole Bastion: the checks' world (simulator, SMTP server, SQLite and
PostgreSQL) with its app switched to username and password (``vault_world.py``)."""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import pytest

from bastion.app import create_app
from bastion.jobs import Jobs
from tests.checks.conftest import World, mailbox, world  # noqa: F401 - fixtures used here
from tests.conftest import serve_on_loopback
from tests.credentials.vault_world import Vault, seat_vault


@pytest.fixture
def vault(world: World) -> Vault:  # noqa: F811 - the imported fixture
    return seat_vault(world)


@pytest.fixture
def base_url(world: World) -> Iterator[str]:  # noqa: F811
    jobs = Jobs(world.runtime, immediate=True)
    with serve_on_loopback(create_app(world.runtime, jobs=jobs)) as url:
        yield url
    jobs.close()


@pytest.fixture
def browser(base_url: str) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=base_url, follow_redirects=False, timeout=60) as client:
        yield client
