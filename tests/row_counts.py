"""What the database holds, for the bad-input tests to compare before and after a refusal."""

from __future__ import annotations

from sqlalchemy import Engine, func, inspect, select, table, text

# The tables bad input could reach; compared row by row. Others are compared by their counts
# (a refused request still marks its API token used or touches its web session).
WRITTEN_BY_INPUT = ("users", "user_emails", "teams", "team_members", "apps", "secrets")


def row_counts(engine: Engine) -> dict[str, int]:
    """Rows per table (Alembic's own table left out)."""
    names = sorted(set(inspect(engine).get_table_names()) - {"alembic_version"})
    with engine.connect() as connection:
        return {
            name: int(connection.scalar(select(func.count()).select_from(table(name))) or 0)
            for name in names
        }


def database_state(engine: Engine) -> dict[str, object]:
    """Every table's row count, and every row of the tables input writes to."""
    state: dict[str, object] = dict(row_counts(engine))
    with engine.connect() as connection:
        for name in WRITTEN_BY_INPUT:
            rows = connection.execute(text(f"SELECT * FROM {name}"))
            state[f"{name} rows"] = sorted(repr(tuple(row)) for row in rows)
    return state
