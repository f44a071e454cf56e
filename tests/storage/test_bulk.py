"""Bulk writes read back exactly as the ORM's rows do, on SQLite and PostgreSQL."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import Engine, func, select, text
from sqlalchemy.orm import Session

from bastion.storage.bulk import (
    COPY_UPDATES_FROM,
    SERVER_ROWS_BATCH,
    STAGE_INSERTS_FROM,
    each_plain_row,
    insert_rows,
    plain_rows,
    update_rows,
)
from bastion.storage.models import Notification, User, table_of
from bastion.storage.models.enums import NotificationState, UserSource, UserStatus
from tests.factories import make_workspace

COLUMNS = ("workspace_id", "kind", "recipients", "subject", "body_text", "body_html", "state")


def _row(n: Notification) -> tuple[object, ...]:
    return (
        n.workspace_id,
        n.kind,
        n.recipients,
        n.subject,
        n.body_text,
        n.body_html,
        n.state,
        n.attempts,
        n.next_attempt_at,
        n.app_member_id,
    )


def test_an_inserted_row_reads_back_as_the_orms(session: Session) -> None:
    workspace = make_workspace(session)
    due = datetime(2026, 12, 1, 9, 30, 0, 0, tzinfo=UTC)
    values = {
        "kind": "k",
        "recipients": ["a@example.com", "b@example.com"],
        "subject": "Subject ü",
        "body_text": "text",
        "body_html": "<p>html</p>",
        "next_attempt_at": due,
    }
    session.add(Notification(workspace_id=workspace.id, **values))
    session.flush()
    insert_rows(
        session.connection(),
        table_of(Notification),
        ("kind", "recipients", "subject", "body_text", "body_html"),
        [("k", ["a@example.com", "b@example.com"], "Subject ü", "text", "<p>html</p>")],
        {"workspace_id": workspace.id, "next_attempt_at": due},
    )
    orm, bulk = session.scalars(select(Notification).order_by(Notification.id)).all()
    # Defaults the insert did not name (state, attempts, created_at) are applied as the ORM does.
    assert _row(bulk) == _row(orm)
    assert bulk.state == NotificationState.PENDING
    assert bulk.created_at.tzinfo is not None


def test_many_rows_read_back_in_their_order_with_the_shared_values(session: Session) -> None:
    # Past STAGE_INSERTS_FROM rows SQLite binds the shared values once, through a stage.
    workspace = make_workspace(session)
    due = datetime(2026, 12, 1, 9, 30, tzinfo=UTC)
    count = STAGE_INSERTS_FROM + 7
    insert_rows(
        session.connection(),
        table_of(Notification),
        ("kind", "recipients", "subject"),
        [(f"k{i}", [f"p{i}@example.com"], f"Subject {i} ü") for i in range(count)],
        {"workspace_id": workspace.id, "next_attempt_at": due, "body_text": "", "body_html": "1"},
    )
    rows = session.scalars(select(Notification).order_by(Notification.id)).all()
    assert [(n.kind, n.recipients, n.subject) for n in rows] == [
        (f"k{i}", [f"p{i}@example.com"], f"Subject {i} ü") for i in range(count)
    ]
    # Shared values, defaults and text that looks like a number arrive as a row's own would.
    assert {(n.workspace_id, n.next_attempt_at, n.body_html, n.state) for n in rows} == {
        (workspace.id, due, "1", NotificationState.PENDING)
    }
    # The stage is gone: a second batch in the same transaction works.
    insert_rows(
        session.connection(),
        table_of(Notification),
        ("kind",),
        [(f"again{i}",) for i in range(count)],
        {
            "workspace_id": workspace.id,
            "recipients": [],
            "subject": "",
            "body_text": "",
            "body_html": "",
        },
    )
    assert session.scalar(select(func.count()).select_from(Notification)) == 2 * count


def test_ready_values_are_passed_as_they_are(session: Session) -> None:
    workspace = make_workspace(session)
    insert_rows(
        session.connection(),
        table_of(Notification),
        ("kind", "recipients", "subject", "body_text", "body_html"),
        [("k", '["x@example.com"]', "s", "t", "h")],
        {"workspace_id": workspace.id},
        ready=("recipients",),
    )
    assert session.scalars(select(Notification.recipients)).one() == ["x@example.com"]


def test_an_update_sets_the_columns_and_stamps_updated_at(session: Session) -> None:
    workspace = make_workspace(session)
    old = datetime.now(UTC) - timedelta(days=3)
    users = [
        User(
            workspace_id=workspace.id,
            user_name=f"p{i}@example.com",
            user_name_key=f"p{i}@example.com",
            email=f"p{i}@example.com",
            source=UserSource.SCIM,
            created_at=old,
            updated_at=old,
        )
        for i in range(3)
    ]
    session.add_all(users)
    session.flush()
    update_rows(
        session.connection(),
        table_of(User),
        ("status", "display_name"),
        [(UserStatus.DEPROVISIONED, "Gone", users[0].id), (UserStatus.ACTIVE, "Kept", users[1].id)],
    )
    session.expire_all()
    assert [(u.status, u.display_name) for u in users] == [
        (UserStatus.DEPROVISIONED, "Gone"),
        (UserStatus.ACTIVE, "Kept"),
        (UserStatus.ACTIVE, ""),
    ]
    assert users[0].updated_at > old + timedelta(days=2)
    assert users[2].updated_at == old


def test_many_updates_at_once_set_each_row_its_own_values(session: Session) -> None:
    # Past COPY_UPDATES_FROM rows PostgreSQL takes the values through a temporary table.
    workspace = make_workspace(session)
    count = COPY_UPDATES_FROM + 50
    notifications = [
        Notification(
            workspace_id=workspace.id,
            kind=f"k{i}",
            recipients=[],
            subject="",
            body_text="",
            body_html="",
        )
        for i in range(count + 1)
    ]
    session.add_all(notifications)
    session.flush()
    due = datetime(2026, 12, 1, 9, 30, tzinfo=UTC)
    update_rows(
        session.connection(),
        table_of(Notification),
        ("recipients", "attempts", "state", "next_attempt_at"),
        [
            ([f"p{i}@example.com"], i, NotificationState.FAILED, due + timedelta(minutes=i), n.id)
            for i, n in enumerate(notifications[:count])
        ],
    )
    # The temporary table went with the statement: a second batch in the same transaction works.
    # A row given twice ends as it was given last, as with one statement per row.
    update_rows(
        session.connection(),
        table_of(Notification),
        ("subject",),
        [
            *((f"first{i}", n.id) for i, n in enumerate(notifications[:count])),
            *((f"s{i}", n.id) for i, n in enumerate(notifications[:count])),
        ],
    )
    session.expire_all()
    for i, n in enumerate(notifications[:count]):
        assert (n.recipients, n.attempts, n.state, n.next_attempt_at, n.subject) == (
            [f"p{i}@example.com"],
            i,
            NotificationState.FAILED,
            due + timedelta(minutes=i),
            f"s{i}",
        )
    last = notifications[count]
    assert (last.recipients, last.attempts, last.state, last.subject) == (
        [],
        0,
        NotificationState.PENDING,
        "",
    )


def test_plain_rows_are_the_drivers_tuples(session: Session) -> None:
    workspace = make_workspace(session)
    other = make_workspace(session, "other")
    for ws, kind in ((workspace, "a"), (workspace, "b"), (other, "c")):
        session.add(
            Notification(
                workspace_id=ws.id, kind=kind, recipients=[], subject="", body_text="", body_html=""
            )
        )
    session.flush()
    rows = plain_rows(
        session.connection(),
        select(Notification.kind, Notification.attempts)
        .where(Notification.workspace_id == workspace.id)
        .order_by(Notification.kind),
    )
    assert rows == [("a", 0), ("b", 0)]


@pytest.mark.postgres
def test_postgresql_hands_plain_rows_over_a_batch_at_a_time(postgres_engine: Engine) -> None:
    # Read through a cursor of the server's: the driver never holds the whole result.
    count = 2 * SERVER_ROWS_BATCH + 3
    with postgres_engine.begin() as connection:
        rows = each_plain_row(connection, select(func.generate_series(1, count)))
        first = next(rows)
        open_cursors = connection.execute(
            text("SELECT count(*) FROM pg_cursors WHERE name LIKE 'bastion_rows_%'")
        ).scalar_one()
        rest = list(rows)
        left_open = connection.execute(
            text("SELECT count(*) FROM pg_cursors WHERE name LIKE 'bastion_rows_%'")
        ).scalar_one()
    assert open_cursors == 1 and left_open == 0
    assert [first, *rest] == [(n,) for n in range(1, count + 1)]


def test_sqlite_stages_bulk_inserts_in_memory(sqlite_engine: Engine) -> None:
    # The staging table of a large insert (``_insert_through_stage``) is kept in memory, not in
    # a temporary file: every connection says so.
    with sqlite_engine.connect() as connection:
        assert connection.exec_driver_sql("PRAGMA temp_store").scalar() == 2  # MEMORY
