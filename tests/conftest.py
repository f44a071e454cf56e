"""Shared fixtures: databases (SQLite always, PostgreSQL when configured), sessions, keys.

PostgreSQL tests run when ``BASTION_TEST_DATABASE_URL`` names a database; without it they skip
with the reason, except under CI (``CI=true`` or ``BASTION_REQUIRE_POSTGRES=1``), where a missing
PostgreSQL is a failure so nothing silently skips.
"""

from __future__ import annotations

import os
import socket
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest
import uvicorn
from sqlalchemy import Engine, inspect, text
from sqlalchemy.orm import Session, sessionmaker

from bastion.security.vault import KeyRing, new_key_entry
from bastion.storage.db import make_engine, make_session_factory
from bastion.storage.models import Base
from bastion.storage.schema import upgrade

if TYPE_CHECKING:
    from tests.support.oidc_provider import LoopbackOpenIDProvider, StartOpenIDProvider

POSTGRES_URL = os.environ.get("BASTION_TEST_DATABASE_URL")


def _truthy(name: str) -> bool:
    return os.environ.get(name, "").lower() in ("1", "true", "yes")


REQUIRE_POSTGRES = _truthy("CI") or _truthy("BASTION_REQUIRE_POSTGRES")


def postgres_url_or_skip() -> str:
    if POSTGRES_URL:
        return POSTGRES_URL
    if REQUIRE_POSTGRES:
        pytest.fail("BASTION_TEST_DATABASE_URL is not set, and CI requires the PostgreSQL tests")
    pytest.skip("no PostgreSQL: set BASTION_TEST_DATABASE_URL to run this test against one")


def reset_postgres(engine: Engine) -> None:
    with engine.begin() as connection:
        connection.execute(text("DROP SCHEMA public CASCADE"))
        connection.execute(text("CREATE SCHEMA public"))


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """An empty database, once on SQLite and once on PostgreSQL."""
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'bastion.db'}"
        return
    url = postgres_url_or_skip()
    engine = make_engine(url)
    reset_postgres(engine)
    engine.dispose()
    yield url


@pytest.fixture
def engine(database_url: str) -> Iterator[Engine]:
    """A migrated database on each backend."""
    engine = make_engine(database_url)
    upgrade(engine)
    yield engine
    engine.dispose()


@pytest.fixture
def sqlite_engine(tmp_path: Path) -> Iterator[Engine]:
    """A migrated SQLite database, for tests where the backend does not matter."""
    engine = make_engine(f"sqlite:///{tmp_path / 'bastion.db'}")
    upgrade(engine)
    yield engine
    engine.dispose()


@pytest.fixture
def sessions(engine: Engine) -> sessionmaker[Session]:
    return make_session_factory(engine)


@pytest.fixture
def session(sessions: sessionmaker[Session]) -> Iterator[Session]:
    with sessions() as session:
        yield session


@pytest.fixture
def key_entry() -> str:
    return new_key_entry("k1")


@pytest.fixture
def key_ring(key_entry: str) -> KeyRing:
    return KeyRing.parse(key_entry)


def table_names(engine: Engine) -> set[str]:
    return set(inspect(engine).get_table_names()) - {"alembic_version"}


def model_table_names() -> set[str]:
    return set(Base.metadata.tables)


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


@contextmanager
def serve_on_loopback(app: Any) -> Iterator[str]:
    """Serve an ASGI app on a free 127.0.0.1 port in a thread; yields its base URL."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = int(sock.getsockname()[1])
    server = uvicorn.Server(
        uvicorn.Config(
            app,
            host="127.0.0.1",
            port=port,
            log_level="warning",
            lifespan="off",
            ws="none",
            timeout_graceful_shutdown=1,
        )
    )
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 10
    while not server.started and time.monotonic() < deadline:
        time.sleep(0.02)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(timeout=10)


@pytest.fixture
def start_openid_provider() -> Iterator[StartOpenIDProvider]:
    """Starts a test OpenID Provider per call (skips without Node); all stop at teardown.

    A factory, because the redirect URI names the relying party's port, known only once the test
    has started it. See tests/support/oidc_provider.py.
    """
    # Imported here, so `pytest` run without the checkout on sys.path still loads this conftest.
    from tests.support.oidc_provider import LoopbackOpenIDProvider

    started: list[LoopbackOpenIDProvider] = []

    def start(**settings: Any) -> LoopbackOpenIDProvider:
        provider = LoopbackOpenIDProvider(**settings)
        started.append(provider)
        provider.start()
        return provider

    yield start
    for provider in started:
        provider.stop()
