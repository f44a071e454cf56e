"""What each pytest-xdist worker has to itself, so two workers never share state: its
PostgreSQL database, its Redis database and a block of loopback ports. Without ``-n`` the
process is worker 0 and uses the configured databases themselves.

Kept out of ``tests/conftest.py``, which pytest imports as ``conftest`` while the tests import
it as ``tests.conftest``: two copies of a module that remembers what it created.
"""

from __future__ import annotations

import itertools
import os
import random
import socket
from collections.abc import Iterator

import pytest
from sqlalchemy import text
from sqlalchemy.engine import make_url

from bastion.storage.db import make_engine

POSTGRES_URL = os.environ.get("BASTION_TEST_DATABASE_URL")
REDIS_URL = os.environ.get("BASTION_TEST_REDIS_URL")
# pytest-xdist names its workers gw0, gw1, …; without -n there is no worker and no variable.
XDIST_WORKER = os.environ.get("PYTEST_XDIST_WORKER")
WORKER_INDEX = int(XDIST_WORKER.removeprefix("gw")) if XDIST_WORKER else 0
WORKER_COUNT = int(os.environ.get("PYTEST_XDIST_WORKER_COUNT", "1"))
if XDIST_WORKER:
    # A worker starts with COLUMNS=80 where a run without -n has none, and Rich fixes a
    # console's width from it when the console is made (the CLI's, at import): its tables would
    # be cut to 80 columns whatever width a test asks for.
    os.environ.pop("COLUMNS", None)


def _truthy(name: str) -> bool:
    return os.environ.get(name, "").lower() in ("1", "true", "yes")


REQUIRE_POSTGRES = _truthy("CI") or _truthy("BASTION_REQUIRE_POSTGRES")
REQUIRE_REDIS = _truthy("CI") or _truthy("BASTION_REQUIRE_REDIS")
FORBID_SKIPS = _truthy("CI") or _truthy("BASTION_REQUIRE_NO_SKIPS")

_worker_databases: list[str] = []


def postgres_url_or_skip() -> str:
    """This worker's PostgreSQL database: ``BASTION_TEST_DATABASE_URL`` itself without xdist."""
    if not POSTGRES_URL and REQUIRE_POSTGRES:
        pytest.fail("BASTION_TEST_DATABASE_URL is not set, and CI requires the PostgreSQL tests")
    if not POSTGRES_URL:
        pytest.skip("no PostgreSQL: set BASTION_TEST_DATABASE_URL to run this test against one")
    if XDIST_WORKER is None:
        return POSTGRES_URL
    if not _worker_databases:
        _worker_databases.append(_create_worker_database(POSTGRES_URL, XDIST_WORKER))
    return _worker_databases[0]


def _create_worker_database(url: str, worker: str) -> str:
    """A fresh database named after the configured one and the worker, on the same server."""
    base = make_url(url)
    name = f"{base.database}_{worker}"
    admin = make_engine(url, isolation_level="AUTOCOMMIT")
    quoted = admin.dialect.identifier_preparer.quote(name)
    try:
        with admin.connect() as connection:
            # A run that was killed leaves its database behind.
            connection.execute(text(f"DROP DATABASE IF EXISTS {quoted} WITH (FORCE)"))
            connection.execute(text(f"CREATE DATABASE {quoted}"))
    except Exception as exc:
        pytest.fail(
            f"cannot create {name} for xdist worker {worker} beside {base.database} ({exc}); "
            "grant the test user CREATEDB, or run pytest without -n",
            pytrace=False,
        )
    finally:
        admin.dispose()
    return base.set(database=name).render_as_string(hide_password=False)


def drop_worker_databases() -> None:
    if not (POSTGRES_URL and _worker_databases):
        return
    admin = make_engine(POSTGRES_URL, isolation_level="AUTOCOMMIT")
    try:
        with admin.connect() as connection:
            for url in _worker_databases:
                quoted = admin.dialect.identifier_preparer.quote(make_url(url).database or "")
                connection.execute(text(f"DROP DATABASE IF EXISTS {quoted} WITH (FORCE)"))
    finally:
        admin.dispose()
        _worker_databases.clear()


def redis_url_or_skip() -> str:
    """This worker's Redis database: the one ``BASTION_TEST_REDIS_URL`` names for the first
    worker (and without xdist), the one below it for the next, so no worker sees another's
    queue when a test empties its database."""
    if not REDIS_URL:
        if REQUIRE_REDIS:
            pytest.fail("BASTION_TEST_REDIS_URL is not set, and CI requires the Redis tests")
        pytest.skip("no Redis: set BASTION_TEST_REDIS_URL to run this test against one")
    url = make_url(REDIS_URL)
    base = int(url.database or 0)
    if base - WORKER_INDEX < 0:
        pytest.fail(
            f"BASTION_TEST_REDIS_URL names Redis database {base}, and xdist worker "
            f"{XDIST_WORKER} takes the one {WORKER_INDEX} below it: name a higher one (Redis "
            "has 0 to 15) or run fewer workers",
            pytrace=False,
        )
    return url.set(database=str(base - WORKER_INDEX)).render_as_string(hide_password=False)


def _worker_ports() -> Iterator[int]:
    # Below the kernel's ephemeral range (32768 and up on Linux), so no outgoing connection
    # takes a port between the check and its use, and one block per xdist worker, so two
    # workers never pick the same port.
    low, high = 10000, 32768
    block = min(2000, (high - low) // WORKER_COUNT)
    first = low + WORKER_INDEX * block
    offset = random.randrange(block)
    for step in itertools.count():
        yield first + (offset + step) % block


_ports = _worker_ports()


def free_port() -> int:
    """A loopback port nothing listens on, for a server in another process or library that
    must be told its port (a server in this process should use ``serve_on_loopback``)."""
    for _ in range(2000):
        port = next(_ports)
        with socket.socket() as probe:
            try:
                probe.bind(("127.0.0.1", port))
            except OSError:
                continue
            return port
    raise RuntimeError("no free loopback port in this worker's block")
