"""Engines and sessions. One session per request or job; SQLite gets WAL and foreign keys."""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from sqlalchemy import Engine, create_engine, event, text
from sqlalchemy.engine import make_url
from sqlalchemy.orm import Session, sessionmaker

from bastion.errors import ConfigurationError

MIN_SQLITE = (3, 35, 0)


def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA synchronous=NORMAL")
    # Writers wait for each other instead of failing at once ("database is locked").
    cursor.execute("PRAGMA busy_timeout=30000")
    # Temporary tables in memory, not in a file of their own: a check's first load stages its
    # inserts through them (bastion/storage/bulk.py), 0.1 s of a large business's.
    cursor.execute("PRAGMA temp_store=MEMORY")
    cursor.close()


def make_engine(url: str, **kwargs: Any) -> Engine:
    """An engine for ``url``; ``postgresql://`` URLs use psycopg 3."""
    parsed = make_url(url)
    # A database error's message would otherwise carry the statement's values (people's names
    # and e-mails) into tracebacks and logs.
    kwargs.setdefault("hide_parameters", True)
    if parsed.drivername in ("postgresql", "postgres"):
        parsed = parsed.set(drivername="postgresql+psycopg")
    if parsed.get_backend_name() == "sqlite":
        if sqlite3.sqlite_version_info < MIN_SQLITE:
            raise ConfigurationError(
                f"Bastion needs SQLite {'.'.join(map(str, MIN_SQLITE))} or newer (for "
                f"INSERT … RETURNING); this Python's sqlite3 is {sqlite3.sqlite_version}"
            )
        if parsed.database and parsed.database != ":memory:":
            Path(parsed.database).parent.mkdir(parents=True, exist_ok=True)
        engine = create_engine(parsed, **kwargs)
        event.listen(engine, "connect", _sqlite_pragmas)
        return engine
    kwargs.setdefault("pool_pre_ping", True)
    return create_engine(parsed, **kwargs)


def make_session_factory(engine: Engine) -> sessionmaker[Session]:
    return sessionmaker(engine, expire_on_commit=False)


@contextmanager
def transaction(factory: sessionmaker[Session]) -> Iterator[Session]:
    """A session whose work is committed at the end, or rolled back whole on any error."""
    with factory() as session, session.begin():
        yield session


def refresh_planner_statistics(session: Session, tables: tuple[str, ...]) -> None:
    """Let PostgreSQL's planner see the rows this transaction has written so far.

    A bulk load in one transaction (a CSV import) leaves the planner believing the tables are as
    small as before, so it scans a whole workspace for each next batch; ANALYZE counts the
    transaction's own rows. SQLite's planner keeps no such figures and needs nothing.
    """
    if session.get_bind().dialect.name == "postgresql":
        session.execute(text("ANALYZE " + ", ".join(tables)))
