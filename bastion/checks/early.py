"""An app's first check on PostgreSQL: its assets and grants written while the people still page.

A first check inserts every row it reads, and on PostgreSQL most of an insert's time is the
server's, keeping the tables' indexes (a large business's 50,000 grants: most of a second), in a
process of its own. So once the fetch holds the assets and grants final, long before the last
page of people (``Connector.fetch_snapshot``'s ``idle``), a thread hands them to the server, on
the connection and in the transaction the load then goes on with (``session``). Nothing is
committed before the load ends: a fetch that fails leaves the database as it was, its
transaction rolled back when the connection closes (``close``), and the safeguard, the changes
and what is marked gone are the load's, after the whole fetch, as on every check.

The grants name accounts not written yet, whose people may still be paging: each account
holding a grant has its id taken from the table's sequence first, in the order of the accounts'
external ids, and the load writes it with that id (``EarlyRows``); the grants of an account the
snapshot does not list go again before the load ends. A person's accounts holding grants are so
numbered before those holding none, where the load alone numbers them in the snapshot's order.

SQLite has one writer at a time: there the fetch only reads (``bastion/checks/stored.py``).
Whatever goes wrong in the thread leaves the load to write everything itself, as without it.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from typing import Any

from sqlalchemy import Connection, Engine, exists, func, select
from sqlalchemy.orm import Session, sessionmaker

from bastion.checks.classify import Classifier, read_directory
from bastion.checks.load import (
    ASSET_COLUMNS,
    GRANT_COLUMNS,
    EarlyRows,
    StoredGrants,
    StoredRows,
    asset_facts,
    first_seen,
    pair_key,
)
from bastion.checks.steps import drained
from bastion.checks.stored import StoredView
from bastion.concurrency import prompt_switching
from bastion.connectors.base import AssetsRead
from bastion.logs import get_logger
from bastion.matching import MatchingOptions
from bastion.storage.bulk import insert_rows
from bastion.storage.models import Account, Asset, CheckRun, Grant, table_of, utcnow
from bastion.storage.models.enums import RunState

log = get_logger(__name__)
ROWS_PER_COPY = 5000


class EarlyWrites:
    """The first check's assets and grants, written in a thread while the fetch reads on."""

    def __init__(
        self,
        connection: Connection,
        *,
        workspace_id: int,
        app_id: int,
        run_id: int,
        options: MatchingOptions | None = None,
    ) -> None:
        self.connection = connection
        self._workspace_id, self._app_id, self._run_id = workspace_id, app_id, run_id
        self._options = options
        self._thread: threading.Thread | None = None
        self._early: EarlyRows | None = None
        self._failed: BaseException | None = None

    @classmethod
    def open(
        cls,
        engine: Engine,
        *,
        workspace_id: int,
        app_id: int,
        run_id: int,
        options: MatchingOptions | None = None,
    ) -> EarlyWrites | None:
        """Writes for this check, if it is the app's first on PostgreSQL with nothing stored."""
        if engine.dialect.name != "postgresql":
            return None
        connection = engine.connect()
        try:
            if _has_history(connection, app_id):
                connection.close()
                return None
            return cls(
                connection,
                workspace_id=workspace_id,
                app_id=app_id,
                run_id=run_id,
                options=options,
            )
        except BaseException:
            connection.close()
            raise

    def work(self, fetched: AssetsRead) -> Iterator[None]:
        """Start the thread; the fetch has nothing to step through."""
        self._thread = threading.Thread(
            target=self._write, args=(fetched,), name="bastion-early-writes", daemon=True
        )
        self._thread.start()
        return iter(())

    def finish(self) -> None:
        """Wait for the thread. If it failed, what it wrote is rolled back: the load writes all."""
        if self._thread is not None:
            self._thread.join()
            self._thread = None
        if self._failed is not None:
            log.warning(
                "check writes before the load failed; the load writes everything",
                app_id=self._app_id,
                error=type(self._failed).__name__,
            )
            self.connection.rollback()
            self._failed = None

    def session(self, sessions: sessionmaker[Session]) -> Session:
        """A session that goes on with this connection's transaction and ends it."""
        return sessions(bind=self.connection, join_transaction_mode="control_fully")

    def current(self, session: Session) -> StoredView | None:
        """What was written, if ``session`` goes on with the transaction it was written in,
        with the directory as that transaction sees it now (as a load without these writes
        reads it)."""
        connection = session.connection()
        if connection is not self.connection or self._early is None:
            return None
        directory = drained(read_directory(connection, self._workspace_id))
        return StoredView(
            directory,
            StoredRows({}, {}, StoredGrants()),
            Classifier(directory, self._options),
            self._early,
        )

    def close(self) -> None:
        """Wait for the thread, then close the connection (rolling back what was not committed)."""
        if self._thread is not None:
            self._thread.join()
            self._thread = None
        self.connection.close()
        self._early = None

    def _write(self, fetched: AssetsRead) -> None:
        try:
            # The people's pages are taken while this runs: they wait less for it.
            with prompt_switching():
                self._early = self._written(fetched)
        except BaseException as exc:  # the load then writes everything itself
            self._failed = exc

    def _written(self, fetched: AssetsRead) -> EarlyRows:
        connection, now = self.connection, utcnow()
        shared = first_seen(self._workspace_id, self._app_id, self._run_id, now)
        reserved = _reserve(connection, Asset, len(fetched.assets))
        asset_ids = {r.external_id: i for r, i in zip(fetched.assets, reserved, strict=True)}
        if fetched.assets:
            insert_rows(
                connection,
                table_of(Asset),
                ("id", "external_id", *ASSET_COLUMNS),
                [
                    (asset_ids[r.external_id], r.external_id, *asset_facts(r))
                    for r in fetched.assets
                ],
                shared,
            )
        holders = sorted({g.account_external_id for g in fetched.grants})
        account_ids = dict(zip(holders, _reserve(connection, Account, len(holders)), strict=True))
        pairs: dict[str, int] = {}
        records_of: dict[str, int] = {}
        # A grant listed twice follows itself: they are sorted by asset, then account.
        last = -1
        texts: dict[tuple[str, ...], str] = {}
        # Copied a few thousand at a time, so that the rows never all live at once.
        rows: list[tuple[int, int, str]] = []
        grants = table_of(Grant)
        unresolved = 0
        for record in fetched.grants:
            asset_id = asset_ids.get(record.asset_external_id)
            if asset_id is None:
                unresolved += 1
                continue
            holder = record.account_external_id
            records_of[holder] = records_of.get(holder, 0) + 1
            account_id = account_ids[holder]
            key = pair_key(account_id, asset_id)
            if key == last:
                continue
            last = key
            pairs[holder] = pairs.get(holder, 0) + 1
            text = texts.get(record.tasks)
            if text is None:
                text = texts[record.tasks] = json.dumps(sorted(record.tasks))
            rows.append((account_id, asset_id, text))
            if len(rows) == ROWS_PER_COPY:
                insert_rows(connection, grants, GRANT_COLUMNS, rows, shared, ready=("tasks",))
                rows = []
        insert_rows(connection, grants, GRANT_COLUMNS, rows, shared, ready=("tasks",))
        return EarlyRows(
            assets=fetched.assets,
            asset_ids=asset_ids,
            grants=fetched.grants,
            account_ids=account_ids,
            pairs=pairs,
            records_of=records_of,
            unresolved=unresolved,
        )


def _has_history(connection: Connection, app_id: int) -> bool:
    """Whether the app has a successful check or any stored row: then this is no first check."""
    return bool(
        connection.scalar(
            select(
                exists().where(CheckRun.app_id == app_id, CheckRun.state == RunState.SUCCEEDED)
                | exists().where(Account.app_id == app_id)
                | exists().where(Asset.app_id == app_id)
                | exists().where(Grant.app_id == app_id)
            )
        )
    )


def _reserve(connection: Connection, model: type[Any], count: int) -> list[int]:
    """``count`` ids from the table's sequence, ascending; nobody else is handed them."""
    if not count:
        return []
    sequence = func.pg_get_serial_sequence(table_of(model).name, "id")
    series = func.generate_series(1, count).table_valued("n")
    ids = connection.scalars(select(func.nextval(sequence)).select_from(series))
    return sorted(int(value) for value in ids)
