import itertools
from concurrent.futures import ThreadPoolExecutor

import pytest
from sqlalchemy import Engine, delete, select, update
from sqlalchemy.orm import Session, sessionmaker

from bastion.audit import AuditAction, record, verify_chain
from bastion.errors import InvalidInput
from bastion.storage.models import AuditEvent
from tests.factories import make_workspace


def _write_events(sessions: sessionmaker[Session], count: int) -> int:
    with sessions.begin() as session:
        workspace = make_workspace(session)
        for number in range(count):
            record(
                session,
                workspace_id=workspace.id,
                actor="user:1",
                action=AuditAction.USER_UPDATED,
                target=f"user:{number}",
                details={"fields": ["display_name"], "source": "scim"},
            )
        return workspace.id


def test_an_untouched_chain_verifies(sessions: sessionmaker[Session]) -> None:
    workspace_id = _write_events(sessions, 5)
    with sessions() as session:
        assert verify_chain(session, workspace_id) is None
        events = session.scalars(select(AuditEvent).order_by(AuditEvent.seq)).all()
        # workspace.created plus the five updates, in order, each linked to the one before.
        assert [e.seq for e in events] == [1, 2, 3, 4, 5, 6]
        assert all(e.occurred_at.tzinfo is not None for e in events)
        assert all(b.prev_hash == a.hash for a, b in itertools.pairwise(events))


def test_a_row_edited_in_the_database_is_named(
    sessions: sessionmaker[Session], engine: Engine
) -> None:
    workspace_id = _write_events(sessions, 5)
    with engine.begin() as connection:
        connection.execute(
            update(AuditEvent).where(AuditEvent.seq == 4).values(target="user:someone-else")
        )
    with sessions() as session:
        problem = verify_chain(session, workspace_id)
    assert problem is not None
    assert problem.seq == 4
    assert "changed" in str(problem)


def test_a_deleted_row_is_named(sessions: sessionmaker[Session], engine: Engine) -> None:
    workspace_id = _write_events(sessions, 5)
    with engine.begin() as connection:
        connection.execute(delete(AuditEvent).where(AuditEvent.seq == 3))
    with sessions() as session:
        problem = verify_chain(session, workspace_id)
    assert problem is not None
    assert (problem.seq, problem.problem) == (3, "missing (deleted from the database)")


def test_deleting_the_newest_rows_is_noticed(
    sessions: sessionmaker[Session], engine: Engine
) -> None:
    workspace_id = _write_events(sessions, 5)
    with engine.begin() as connection:
        connection.execute(delete(AuditEvent).where(AuditEvent.seq >= 5))
    with sessions() as session:
        problem = verify_chain(session, workspace_id)
    assert problem is not None
    assert problem.seq == 5


def test_details_outside_the_allowlist_are_refused(session: Session) -> None:
    workspace = make_workspace(session)
    with pytest.raises(InvalidInput, match="does not log access_token"):
        record(
            session,
            workspace_id=workspace.id,
            actor="cli",
            action=AuditAction.USER_CREATED,
            details={"email": "a@example.com", "access_token": "EAAsecret"},
        )


def test_each_workspace_has_its_own_chain(sessions: sessionmaker[Session]) -> None:
    with sessions.begin() as session:
        first = make_workspace(session, "first")
        second = make_workspace(session, "second")
        for workspace in (first, second, first):
            record(
                session,
                workspace_id=workspace.id,
                actor="cli",
                action=AuditAction.USER_PASSWORD_RESET,
            )
    with sessions() as session:
        assert verify_chain(session, first.id) is None
        assert verify_chain(session, second.id) is None
        seqs = session.scalars(
            select(AuditEvent.seq).where(AuditEvent.workspace_id == second.id)
        ).all()
        assert seqs == [1, 2]


def test_concurrent_writers_keep_one_unbroken_chain(sessions: sessionmaker[Session]) -> None:
    """Each event takes the next number under the workspace row's lock: no gap, no fork."""
    with sessions.begin() as session:
        workspace_id = make_workspace(session).id

    def write(worker: int) -> None:
        for number in range(15):
            with sessions.begin() as session:
                record(
                    session,
                    workspace_id=workspace_id,
                    actor=f"worker:{worker}",
                    action=AuditAction.USER_UPDATED,
                    target=f"user:{number}",
                    details={"fields": ["display_name"], "source": "scim"},
                )

    with ThreadPoolExecutor(max_workers=3) as pool:
        list(pool.map(write, range(3)))
    with sessions() as session:
        assert verify_chain(session, workspace_id) is None
        seqs = session.scalars(
            select(AuditEvent.seq).where(AuditEvent.workspace_id == workspace_id)
        ).all()
    assert sorted(seqs) == list(range(1, 47))
