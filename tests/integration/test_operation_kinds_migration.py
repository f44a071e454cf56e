"""Every operation kind the code knows fits the migrated database's CHECK constraint.

Alembic's drift check does not compare CHECK constraints, so a kind added to the enum without
a migration would only fail when the first such operation is written.
"""

from __future__ import annotations

from datetime import datetime

import pytest
from sqlalchemy import Engine, text
from sqlalchemy.exc import IntegrityError

from bastion.storage.db import make_engine, make_session_factory
from bastion.storage.models.enums import OperationKind
from bastion.storage.schema import downgrade, upgrade
from tests.factories import make_workspace

NOW = datetime(2026, 11, 28)  # naive UTC, as UTCDateTime stores it


def _workspace_and_app(engine: Engine) -> tuple[int, int]:
    with make_session_factory(engine).begin() as session:
        workspace_id = make_workspace(session, "kinds").id
    with engine.begin() as connection:
        connection.execute(
            text(
                "INSERT INTO apps (workspace_id, kind, label, settings, login_method, status, "
                "safeguard_threshold_percent, created_at, updated_at) VALUES "
                "(:w, 'meta_business', 'Kinds', '{}', 'sso', 'healthy', 20, :now, :now)"
            ),
            {"w": workspace_id, "now": NOW},
        )
        app_id = connection.execute(text("SELECT max(id) FROM apps")).scalar_one()
    return workspace_id, int(app_id)


def _insert_operation(engine: Engine, workspace_id: int, app_id: int, kind: str) -> None:
    with engine.begin() as connection:
        connection.execute(
            text(
                "INSERT INTO operations (workspace_id, app_id, kind, parameters, state, "
                "attempts, created_at, updated_at) VALUES "
                "(:w, :a, :kind, '{}', 'queued', 0, :now, :now)"
            ),
            {"w": workspace_id, "a": app_id, "kind": kind, "now": NOW},
        )


def _kinds(engine: Engine) -> list[str]:
    with engine.connect() as connection:
        return list(connection.execute(text("SELECT kind FROM operations ORDER BY id")).scalars())


def test_every_operation_kind_is_accepted_and_others_are_refused(engine: Engine) -> None:
    workspace_id, app_id = _workspace_and_app(engine)
    for kind in OperationKind:
        _insert_operation(engine, workspace_id, app_id, kind.value)
    assert _kinds(engine) == [kind.value for kind in OperationKind]
    with pytest.raises(IntegrityError):
        _insert_operation(engine, workspace_id, app_id, "launch_rocket")


def test_partner_removal_kind_comes_and_goes_with_its_migration(database_url: str) -> None:
    engine = make_engine(database_url)
    try:
        upgrade(engine, "0006")
        workspace_id, app_id = _workspace_and_app(engine)
        _insert_operation(engine, workspace_id, app_id, "remove")
        _insert_operation(engine, workspace_id, app_id, "remove_partner")

        downgrade(engine, "0005")
        assert _kinds(engine) == ["remove"]  # the newer kind's rows cannot stay
        with pytest.raises(IntegrityError):
            _insert_operation(engine, workspace_id, app_id, "remove_partner")

        upgrade(engine, "0006")
        _insert_operation(engine, workspace_id, app_id, "remove_partner")
        assert _kinds(engine) == ["remove", "remove_partner"]
    finally:
        engine.dispose()
