"""An operation running when revision 0008 is applied gets the lease it was claimed under."""

from __future__ import annotations

from datetime import UTC, timedelta

from sqlalchemy import text

from bastion.storage.db import make_engine
from bastion.storage.models.base import UTCDateTime
from bastion.storage.schema import upgrade
from tests.integration.test_operation_kinds_migration import NOW, _workspace_and_app


def test_a_running_operation_keeps_its_five_minutes_across_the_upgrade(database_url: str) -> None:
    engine = make_engine(database_url)
    try:
        upgrade(engine, "0007")
        workspace_id, app_id = _workspace_and_app(engine)
        with engine.begin() as connection:
            for state, started in (("running", NOW), ("queued", None)):
                connection.execute(
                    text(
                        "INSERT INTO operations (workspace_id, app_id, kind, parameters, state, "
                        "attempts, started_at, created_at, updated_at) VALUES "
                        "(:w, :a, 'remove', '{}', :state, 1, :started, :now, :now)"
                    ),
                    {
                        "w": workspace_id,
                        "a": app_id,
                        "state": state,
                        "started": started,
                        "now": NOW,
                    },
                )
        upgrade(engine, "0008")
        with engine.connect() as connection:
            leases = connection.execute(
                text("SELECT state, lease_expires_at FROM operations ORDER BY id").columns(
                    lease_expires_at=UTCDateTime()
                )
            ).all()
        expected = NOW.replace(tzinfo=UTC) + timedelta(minutes=5)
        assert [tuple(row) for row in leases] == [("running", expected), ("queued", None)]
    finally:
        engine.dispose()
