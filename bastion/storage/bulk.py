"""Bulk writes for the check's hot paths: many rows at once, with no per-row SQL building.

A check writes tens of thousands of rows of a few shapes; SQLAlchemy's per-row work (building the
parameters, running each value's type processor) costs several times the database's own. Here
each column's bind processor is still applied, so a row written here reads back exactly as one
the ORM wrote, but only to the columns that have one, and once for a value every row shares.
PostgreSQL takes inserts through ``COPY`` (psycopg 3); other databases the driver's
``executemany``. The ORM stays for single-row actions.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable, Collection, Iterator, Mapping, Sequence
from typing import Any

from sqlalchemy import Connection, Select, Table

Processor = Callable[[Any], Any]


def _processors(
    connection: Connection, table: Table, names: Sequence[str]
) -> list[Processor | None]:
    dialect = connection.dialect
    return [table.c[name].type.dialect_impl(dialect).bind_processor(dialect) for name in names]


def _converted(
    connection: Connection,
    table: Table,
    names: Sequence[str],
    rows: Sequence[Sequence[Any]],
    ready: Collection[str] = (),
) -> list[tuple[Any, ...]]:
    active = [
        (i, p)
        for i, p in enumerate(_processors(connection, table, names))
        if p is not None and names[i] not in ready
    ]
    if not active:
        return [tuple(row) for row in rows]
    out: list[tuple[Any, ...]] = []
    for row in rows:
        values = list(row)
        for index, processor in active:
            values[index] = processor(values[index])
        out.append(tuple(values))
    return out


def _placeholder(connection: Connection) -> str:
    style = connection.dialect.paramstyle
    if style == "qmark":
        return "?"
    if style in ("format", "pyformat"):
        return "%s"
    raise NotImplementedError(f"bulk writes do not know the {style} parameter style")


def _quoted(connection: Connection, names: Sequence[str]) -> str:
    quote = connection.dialect.identifier_preparer.quote
    return ", ".join(quote(name) for name in names)


def insert_rows(
    connection: Connection,
    table: Table,
    columns: Sequence[str],
    rows: Sequence[Sequence[Any]],
    shared: Mapping[str, Any] | None = None,
    *,
    ready: Collection[str] = (),
) -> None:
    """Insert ``rows`` (one value per name in ``columns``), each with the ``shared`` values too.

    Values of the columns named in ``ready`` are already what the driver takes (a JSON column's
    text, say) and are passed as they are.

    Columns given neither take their Python-side default, as a Core insert would (evaluated once
    for the whole batch).
    """
    if not rows:
        return
    shared = dict(shared or {})
    for column in table.columns:
        if column.name in shared or column.name in columns or column.default is None:
            continue
        default: Any = column.default
        if default.is_scalar:
            shared[column.name] = default.arg
        elif default.is_callable:
            shared[column.name] = default.arg(None)
    names = [*columns, *shared]
    extra = _converted(connection, table, list(shared), [list(shared.values())])[0]
    converted = _converted(connection, table, columns, rows, ready)
    target = connection.dialect.identifier_preparer.format_table(table)
    worth_a_stage = bool(columns and shared) and len(converted) > STAGE_INSERTS_FROM
    if connection.dialect.name == "sqlite" and worth_a_stage:
        _insert_through_stage(connection, target, columns, converted, list(shared), extra)
        return
    data = [(*row, *extra) for row in converted]
    if _copies(connection):
        driver = connection.connection.driver_connection
        assert driver is not None
        with (
            driver.cursor() as cursor,
            cursor.copy(f"COPY {target} ({_quoted(connection, names)}) FROM STDIN") as copy,
        ):
            for row in data:
                copy.write_row(row)
        return
    marks = ", ".join([_placeholder(connection)] * len(names))
    connection.exec_driver_sql(
        # Table and column names come from the metadata, quoted; every value is a parameter.
        f"INSERT INTO {target} ({_quoted(connection, names)}) VALUES ({marks})",  # noqa: S608
        data,
    )


# SQLite's driver binds every value of every row: past this many rows, only the values that differ
# from row to row are bound for each (into a temporary table, whose columns take the target's
# type affinities, so values convert alike), and those every row shares once, in one
# INSERT … SELECT in the rows' order (50,000 grants: 0.27 → 0.17 s). PostgreSQL has COPY.
STAGE_INSERTS_FROM = 1000


def _insert_through_stage(
    connection: Connection,
    target: str,
    columns: Sequence[str],
    rows: Sequence[tuple[Any, ...]],
    shared: Sequence[str],
    extra: Sequence[Any],
) -> None:
    quote = connection.dialect.identifier_preparer.quote
    staged = quote("bulk_insert")
    mark = _placeholder(connection)
    listed = _quoted(connection, columns)
    connection.exec_driver_sql(
        f"CREATE TEMPORARY TABLE {staged} AS SELECT {listed} FROM {target} WHERE 0 = 1"  # noqa: S608
    )
    try:
        connection.exec_driver_sql(
            f"INSERT INTO {staged} ({listed}) VALUES ({', '.join([mark] * len(columns))})",  # noqa: S608
            list(rows),
        )
        connection.exec_driver_sql(
            f"INSERT INTO {target} ({_quoted(connection, [*columns, *shared])}) "  # noqa: S608
            f"SELECT {listed}, {', '.join([mark] * len(shared))} FROM {staged} ORDER BY rowid",
            tuple(extra),
        )
    finally:
        connection.exec_driver_sql(f"DROP TABLE {staged}")


def update_rows(
    connection: Connection,
    table: Table,
    columns: Sequence[str],
    rows: Sequence[Sequence[Any]],
    key: str = "id",
) -> None:
    """Set ``columns`` on each row whose ``key`` is the last value of its tuple.

    Columns not set that have a Python-side ``onupdate`` (``updated_at``) take it, as a Core
    update would (evaluated once for the whole batch).
    """
    if not rows:
        return
    stamps: dict[str, Any] = {}
    for column in table.columns:
        update: Any = column.onupdate
        if column.name in columns or update is None:
            continue
        if update.is_scalar:
            stamps[column.name] = update.arg
        elif update.is_callable:
            stamps[column.name] = update.arg(None)
    if stamps:
        columns = [*columns, *stamps]
        values = list(stamps.values())
        rows = [[*row[:-1], *values, row[-1]] for row in rows]
    data = _converted(connection, table, [*columns, key], rows)
    quote = connection.dialect.identifier_preparer.quote
    target = connection.dialect.identifier_preparer.format_table(table)
    if _copies(connection) and len(data) > COPY_UPDATES_FROM:
        _update_through_copy(connection, target, [*columns, key], data)
        return
    mark = _placeholder(connection)
    assignments = ", ".join(f"{quote(name)} = {mark}" for name in columns)
    connection.exec_driver_sql(
        f"UPDATE {target} SET {assignments} WHERE {quote(key)} = {mark}",  # noqa: S608
        data,
    )


# PostgreSQL runs each statement of an ``executemany`` on its own (5,000 updates by id: 0.24 s);
# past this many rows the new values go through COPY into a temporary table and one UPDATE
# joins it (0.03 s).
COPY_UPDATES_FROM = 200


def _copies(connection: Connection) -> bool:
    return connection.dialect.name == "postgresql" and connection.dialect.driver == "psycopg"


def _update_through_copy(
    connection: Connection, target: str, names: Sequence[str], data: Sequence[tuple[Any, ...]]
) -> None:
    """``UPDATE … FROM`` a temporary copy of the new values; the last name is the key."""
    quote = connection.dialect.identifier_preparer.quote
    *columns, key = names
    staged = quote("bulk_update")
    listed = _quoted(connection, names)
    driver = connection.connection.driver_connection
    assert driver is not None
    with driver.cursor() as cursor:
        # The temporary table takes the target's column types, so every value is read as it would
        # be by the table itself; it is dropped at the end of the transaction, or right here.
        cursor.execute(
            f"CREATE TEMPORARY TABLE {staged} ON COMMIT DROP AS "  # noqa: S608
            f"SELECT {listed} FROM {target} WITH NO DATA"
        )
        # One row per key, the last given, as a statement per row would leave it.
        last = {row[-1]: row for row in data}
        with cursor.copy(f"COPY {staged} ({listed}) FROM STDIN") as copy:
            for row in last.values():
                copy.write_row(row)
        assignments = ", ".join(f"{quote(name)} = {staged}.{quote(name)}" for name in columns)
        cursor.execute(
            f"UPDATE {target} SET {assignments} FROM {staged} "  # noqa: S608
            f"WHERE {target}.{quote(key)} = {staged}.{quote(key)}"
        )
        cursor.execute(f"DROP TABLE {staged}")


def plain_rows(
    connection: Connection, statement: Select[*tuple[Any, ...]]
) -> list[tuple[Any, ...]]:
    """The rows of a SELECT as the driver gives them: no result processing at all.

    Only for columns whose values need none (integers, text; a boolean may come back as 0 or 1):
    reading tens of thousands of rows this way costs a third of a Core result's iteration.
    """
    return list(each_plain_row(connection, statement))


def each_plain_row(
    connection: Connection, statement: Select[*tuple[Any, ...]]
) -> Iterator[tuple[Any, ...]]:
    """``plain_rows`` one at a time, fetched in batches: a caller that keeps only what it makes
    of each row never holds the whole list of them. On PostgreSQL through a cursor of the
    server's, in the connection's transaction: a client's cursor would hold the whole result in
    the driver's memory (a large business's 53,000 grants: 4 MB, at a check's peak)."""
    compiled = statement.compile(dialect=connection.dialect)
    params = compiled.construct_params()
    if compiled.positiontup is not None:
        arguments: Any = tuple(params[name] for name in compiled.positiontup)
    else:
        arguments = params
    driver = connection.connection.driver_connection
    assert driver is not None
    on_server = connection.dialect.name == "postgresql"
    cursor = driver.cursor(name=_cursor_name()) if on_server else driver.cursor()
    try:
        cursor.execute(compiled.string, arguments)
        while batch := cursor.fetchmany(SERVER_ROWS_BATCH if on_server else PLAIN_ROWS_BATCH):
            yield from batch
    finally:
        cursor.close()


PLAIN_ROWS_BATCH = 2000
# Each batch from the server's cursor is a round trip.
SERVER_ROWS_BATCH = 5000
_cursor_numbers = itertools.count(1)


def _cursor_name() -> str:
    """A name for a server's cursor, unique in the process (a connection may hold several)."""
    return f"bastion_rows_{next(_cursor_numbers)}"
