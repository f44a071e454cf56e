"""What a check reads of the database before it writes, read while the fetch waits for the app.

A check's fetch spends most of its time waiting for Meta's next page of people. On SQLite, the
directory (for matching) and the app's stored accounts, assets and grants (for the comparison)
are read meanwhile, on the connection the load then writes through, a thousand rows a step in
the round trips of the people's pages (``Connector.fetch_snapshot``'s ``idle``). SQLite tells a
connection whether another one committed since a given moment (``PRAGMA data_version``): the
load takes what was read only when none did, which it asks once it holds the database's write
lock, so that what it compares is exactly what it would have read itself; otherwise it reads
again, as it does on PostgreSQL, which has no such counter (there, an app's first check writes
its assets and grants during the fetch instead: ``bastion/checks/early.py``).
"""

from __future__ import annotations

from collections.abc import Generator, Iterator
from typing import NamedTuple

from sqlalchemy import Connection, Engine
from sqlalchemy.orm import Session, sessionmaker

from bastion.checks.classify import Classifier, DirectoryRows, read_directory
from bastion.checks.load import EarlyRows, StoredRows, plan_grants, read_stored
from bastion.connectors.base import AssetsRead
from bastion.matching import MatchingOptions


class StoredView(NamedTuple):
    """What was read, as the load's transaction sees it: the directory, the app's rows (with
    the fetched grants compared already, if the fetch handed them over) and the classifier
    built on the directory, with the present accounts decided; on an app's first check on
    PostgreSQL, what was written already (``bastion/checks/early.py``)."""

    directory: DirectoryRows
    rows: StoredRows
    classifier: Classifier
    early: EarlyRows | None = None


class StoredRead:
    """The directory and the app's accounts, assets and grants, read in steps on a connection
    of its own, and what can be worked out of them before the load: the present accounts'
    tabs (``Classifier.decide_stored``) and, once the fetch hands them over, the grants
    compared (``plan_grants``)."""

    def __init__(
        self,
        connection: Connection,
        *,
        workspace_id: int,
        app_id: int,
        options: MatchingOptions | None = None,
    ) -> None:
        self.connection = connection
        self._since = _data_version(connection)
        # Set once everything is read (the grants are compared after, into its rows).
        self._view: StoredView | None = None
        self._fetched: AssetsRead | None = None
        self._steps = self._read(workspace_id, app_id, options)

    @classmethod
    def open(
        cls,
        engine: Engine,
        *,
        workspace_id: int,
        app_id: int,
        options: MatchingOptions | None = None,
    ) -> StoredRead | None:
        """A read for this engine's database, or None where it could not be trusted."""
        if engine.dialect.name != "sqlite":
            return None
        connection = engine.connect()
        try:
            return cls(connection, workspace_id=workspace_id, app_id=app_id, options=options)
        except BaseException:
            connection.close()
            raise

    def work(self, fetched: AssetsRead) -> Iterator[None]:
        """The read, a step at a time, then the fetched grants compared with the stored ones
        (``plan_grants``); the steps left are taken by ``finish``."""
        self._fetched = fetched
        return self._steps

    def finish(self) -> None:
        for _ in self._steps:
            pass

    def session(self, sessions: sessionmaker[Session]) -> Session:
        """A session that writes through this read's connection (the one ``current`` asks)."""
        return sessions(bind=self.connection)

    def current(self, session: Session) -> StoredView | None:
        """What was read, if it is what ``session``'s transaction sees: no other connection
        committed since the read began, and the transaction holds the write lock, so none can
        before it ends. Only a session made by ``session`` (above) can tell: SQLite counts the
        other connections' commits for each connection apart."""
        connection = session.connection()
        driver = connection.connection.driver_connection
        if driver is not self.connection.connection.driver_connection:
            return None
        holds_the_write_lock = bool(getattr(driver, "in_transaction", False))
        if self._view is None or not holds_the_write_lock:
            return None
        if _data_version(connection) != self._since:
            return None
        return self._view

    def close(self) -> None:
        """Close the connection and let what was read go."""
        self.connection.close()
        self._view = self._fetched = None

    def _read(
        self, workspace_id: int, app_id: int, options: MatchingOptions | None
    ) -> Generator[None, None, None]:
        directory = yield from read_directory(self.connection, workspace_id)
        classifier = Classifier(directory, options)
        yield
        rows = yield from read_stored(self.connection, app_id)
        yield from classifier.decide_stored(self.connection, app_id)
        self._view = StoredView(directory, rows, classifier)
        # Only reads were made: the connection's transaction ends before the load begins its own.
        self.connection.rollback()
        if self._fetched is not None:
            rows.grant_plan = yield from plan_grants(rows, self._fetched)


def _data_version(connection: Connection) -> int:
    return int(connection.exec_driver_sql("PRAGMA data_version").scalar_one())
