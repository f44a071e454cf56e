"""Shared fixtures: databases (SQLite always, PostgreSQL when configured), sessions, keys.

PostgreSQL tests run when ``BASTION_TEST_DATABASE_URL`` names a database; without it they skip
with the reason, except under CI (``CI=true`` or ``BASTION_REQUIRE_POSTGRES=1``), where a missing
PostgreSQL is a failure so nothing silently skips. Redis tests likewise with
``BASTION_TEST_REDIS_URL`` and ``BASTION_REQUIRE_REDIS``. Under CI (or
``BASTION_REQUIRE_NO_SKIPS=1``) any skipped test fails the run.

Under ``pytest -n N`` (pytest-xdist) each worker keeps to its own: a PostgreSQL database created
beside the configured one (``<name>_gw0``, …) and dropped at the end, the Redis database below
the configured one per worker (``/15`` for gw0, ``/14`` for gw1, …), a block of loopback ports
(all in ``tests/support/worker_resources.py``), and pytest's own temporary directories.
"""

from __future__ import annotations

import shutil
import socket
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest
import uvicorn
from sqlalchemy import Connection, Engine, inspect, text
from sqlalchemy.engine import make_url
from sqlalchemy.exc import DBAPIError
from sqlalchemy.orm import Session, sessionmaker

from bastion.security.passwords import use_cheap_hashing_for_tests
from bastion.security.vault import KeyRing, new_key_entry
from bastion.storage.db import make_engine, make_session_factory
from bastion.storage.models import Base
from bastion.storage.schema import upgrade
from tests.support.worker_resources import (  # noqa: F401 - the tests import them from here
    FORBID_SKIPS,
    POSTGRES_URL,
    REQUIRE_POSTGRES,
    drop_worker_databases,
    free_port,
    postgres_url_or_skip,
    redis_url_or_skip,
)

if TYPE_CHECKING:
    from tests.support.oidc_provider import LoopbackOpenIDProvider, StartOpenIDProvider

# Before any test module is imported (bastion.actions.sessions hashes a dummy password at import):
# argon2id at its production cost takes a good part of a second a hash on a busy machine, and the
# tests hash at every admin created and every sign-in. tests/unit/test_passwords_and_tokens.py
# checks the production cost is still argon2-cffi's default.
use_cheap_hashing_for_tests()


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
    if "engine" not in request.fixturenames:
        # The engine fixture empties a migrated database faster; the others want it empty.
        engine = make_engine(url)
        reset_postgres(engine)
        engine.dispose()
    yield url


@pytest.fixture(scope="session")
def migrated_sqlite(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A SQLite file at the newest migration, migrated once per worker and copied for each test
    (running the migrations takes longer than many tests; tests/integration/test_migrations.py
    runs them on empty databases)."""
    path = tmp_path_factory.mktemp("migrated") / "bastion.db"
    engine = make_engine(f"sqlite:///{path}")
    upgrade(engine)
    engine.dispose()  # the last connection closed, SQLite folds its WAL file into the database
    return path


@pytest.fixture
def postgres_engine() -> Iterator[Engine]:
    """A migrated PostgreSQL database alone, for what Bastion does only there."""
    engine = _migrated_postgres(postgres_url_or_skip())
    yield engine
    engine.dispose()


def _copy_of(migrated: Path, path: Path) -> Engine:
    shutil.copyfile(migrated, path)
    return make_engine(f"sqlite:///{path}")


@pytest.fixture
def engine(database_url: str, migrated_sqlite: Path) -> Iterator[Engine]:
    """A migrated database on each backend."""
    url = make_url(database_url)
    if url.get_backend_name() == "sqlite" and url.database:
        engine = _copy_of(migrated_sqlite, Path(url.database))
    else:
        engine = _migrated_postgres(database_url)
    yield engine
    engine.dispose()


# What this worker's PostgreSQL schema looked like right after it was migrated, by URL.
_postgres_schemas: dict[str, str] = {}

# Every table, column, constraint, index, trigger, enum value and sequence of the public schema
# and the revision it is at, in one digest.
_SCHEMA_DIGEST = text(
    """
    SELECT md5(string_agg(item, '|' ORDER BY item)) FROM (
        SELECT format('class %s %s', relname, relkind) AS item FROM pg_class
        WHERE relnamespace = 'public'::regnamespace
        UNION ALL
        SELECT format('column %s.%s %s %s %s', table_name, column_name, udt_name, is_nullable,
                      column_default)
        FROM information_schema.columns WHERE table_schema = 'public'
        UNION ALL
        SELECT format('constraint %s %s %s', conrelid::regclass, conname,
                      pg_get_constraintdef(oid))
        FROM pg_constraint WHERE connamespace = 'public'::regnamespace
        UNION ALL
        SELECT format('index %s', indexdef) FROM pg_indexes WHERE schemaname = 'public'
        UNION ALL
        SELECT format('trigger %s %s', tgrelid::regclass, pg_get_triggerdef(oid)) FROM pg_trigger
        WHERE NOT tgisinternal AND tgrelid::regclass::text NOT LIKE 'pg_%'
        UNION ALL
        SELECT format('enum %s %s %s', typname, enumsortorder, enumlabel)
        FROM pg_enum JOIN pg_type ON pg_type.oid = enumtypid
        WHERE typnamespace = 'public'::regnamespace
        UNION ALL
        SELECT format('revision %s', version_num) FROM alembic_version
    ) AS schema
    """
)


def _schema_digest(engine: Engine) -> str | None:
    try:
        with engine.connect() as connection:
            return str(connection.execute(_SCHEMA_DIGEST).scalar_one())
    except DBAPIError:  # no alembic_version (an emptied schema): not migrated
        return None


def _migrated_postgres(url: str) -> Engine:
    """This worker's PostgreSQL database at the newest migration, with no rows.

    Migrating takes seconds a test; emptying the tables of a database migrated earlier in this
    worker takes a fraction of one. It is emptied only while its schema is still exactly what the
    migrations made (a test may have downgraded it or, with ``database_url``, dropped it), and
    only while the migrations insert no rows (checked after each migration), so an emptied
    database holds what a migrated one would; otherwise it is dropped and migrated again.
    """
    engine = make_engine(url)
    migrated = _postgres_schemas.get(url)
    if migrated is not None and _schema_digest(engine) == migrated:
        _empty(engine)
        return engine
    _postgres_schemas.pop(url, None)
    reset_postgres(engine)
    upgrade(engine)
    with engine.connect() as connection:
        rows = " UNION ALL ".join(f"SELECT 1 FROM {t}" for t in _quoted_tables(connection))
        empty = connection.execute(text(f"SELECT NOT EXISTS ({rows})")).scalar_one()
    digest = _schema_digest(engine)
    if digest is not None and empty:
        _postgres_schemas[url] = digest
    return engine


def _empty(engine: Engine) -> None:
    """Delete the rows and restart the sequences used since they were made.

    Deleted without the foreign keys' triggers (``session_replication_role``, for superusers
    like the tests' ``postgres``), so in any order: truncating makes a new file for every table
    referencing one that holds rows, almost all of them, and took longer than many a test on a
    busy machine. Without the privilege, every table is truncated.
    """
    with engine.begin() as connection:
        tables = _quoted_tables(connection)
        try:
            with connection.begin_nested():
                connection.execute(text("SET LOCAL session_replication_role = replica"))
        except DBAPIError:
            connection.execute(text(f"TRUNCATE {', '.join(tables)} RESTART IDENTITY CASCADE"))
            return
        holding = " UNION ALL ".join(
            f"SELECT {i} WHERE EXISTS (SELECT 1 FROM {t})" for i, t in enumerate(tables)
        )
        for i in connection.execute(text(holding)).scalars():
            connection.execute(text(f"DELETE FROM {tables[i]}"))
        connection.execute(
            text(
                "SELECT setval(format('%I.%I', schemaname, sequencename)::regclass, start_value,"
                " false) FROM pg_sequences WHERE schemaname = 'public' AND last_value IS NOT NULL"
            )
        )


def _quoted_tables(connection: Connection) -> list[str]:
    quote = connection.dialect.identifier_preparer.quote
    return [quote(t) for t in inspect(connection).get_table_names() if t != "alembic_version"]


@pytest.fixture
def sqlite_engine(tmp_path: Path, migrated_sqlite: Path) -> Iterator[Engine]:
    """A migrated SQLite database, for tests where the backend does not matter."""
    engine = _copy_of(migrated_sqlite, tmp_path / "bastion.db")
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
    """Serve an ASGI app on a free 127.0.0.1 port in a thread; yields its base URL.

    The socket is bound and listening before the server starts, so the port cannot be taken in
    between and a client connecting early waits in the backlog instead of being refused.
    """
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    sock.listen(128)
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
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    deadline = time.monotonic() + 60
    while not server.started and thread.is_alive() and time.monotonic() < deadline:
        time.sleep(0.02)
    try:
        if not server.started:
            raise RuntimeError(f"the test server on port {port} did not start")
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(timeout=10)
        sock.close()


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


_skipped: list[str] = []


def pytest_runtest_logreport(report: pytest.TestReport) -> None:
    # Under xdist the controller receives every worker's reports, so it sees every skip.
    if report.skipped and not hasattr(report, "wasxfail"):
        _skipped.append(report.nodeid)


def pytest_sessionfinish(session: pytest.Session) -> None:
    drop_worker_databases()
    in_worker = hasattr(session.config, "workerinput")
    if FORBID_SKIPS and _skipped and not in_worker and session.exitstatus == pytest.ExitCode.OK:
        session.exitstatus = pytest.ExitCode.TESTS_FAILED


def pytest_terminal_summary(terminalreporter: Any) -> None:
    if FORBID_SKIPS and _skipped:
        terminalreporter.write_line(
            f"FAILED: CI runs every test, and {len(_skipped)} skipped: " + ", ".join(_skipped),
            red=True,
        )
